package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// MaxBodyBytes bounds a request body.
const MaxBodyBytes = 64 << 10

// Prefix is where the API is mounted.
const Prefix = "/api/v1/"

// Routes, as ServeMux patterns; also the values of the route label.
const (
	RouteWhoami    = "GET /api/v1/whoami"
	RouteList      = "GET /api/v1/bans"
	RouteGet       = "GET /api/v1/bans/{kind}/{subject...}"
	RouteBan       = "POST /api/v1/bans"
	RouteExtend    = "POST /api/v1/bans/extend"
	RouteUnban     = "DELETE /api/v1/bans/{kind}/{subject...}"
	RouteLookup    = "GET /api/v1/lookup"
	RouteAllowlist = "GET /api/v1/allowlist"
	RouteAllow     = "POST /api/v1/allowlist"
	RouteDisallow  = "DELETE /api/v1/allowlist/{kind}/{subject...}"
)

// Routes lists every route.
var Routes = []string{RouteWhoami, RouteList, RouteGet, RouteBan, RouteExtend, RouteUnban, RouteLookup, RouteAllowlist, RouteAllow, RouteDisallow}

// Handler serves a Backend over HTTP.
type Handler struct {
	b        Backend
	auth     *Authenticator
	logger   *slog.Logger
	requests *prometheus.CounterVec
	mux      *http.ServeMux
}

// Error is the body of every error answer.
type Error struct {
	Error string `json:"error"`
}

// NewHandler returns the API handler, mounted at Prefix.
func NewHandler(b Backend, auth *Authenticator, logger *slog.Logger, reg prometheus.Registerer) *Handler {
	h := &Handler{
		b: b, auth: auth, logger: logger.With("component", "api"), mux: http.NewServeMux(),
		requests: promauto.With(reg).NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_api_requests_total",
			Help: "Operator API requests, by route (the route pattern, \"other\" for none) and status code.",
		}, []string{"route", "code"}),
	}
	read := func(route string, f func(w http.ResponseWriter, r *http.Request, actor string) (any, int, error)) {
		h.mux.Handle(route, h.wrap(route, false, f))
	}
	change := func(route string, f func(w http.ResponseWriter, r *http.Request, actor string) (any, int, error)) {
		h.mux.Handle(route, h.wrap(route, true, f))
	}
	read(RouteWhoami, h.whoami)
	read(RouteList, h.list)
	read(RouteGet, h.get)
	read(RouteLookup, h.lookup)
	read(RouteAllowlist, h.allowlist)
	change(RouteBan, h.ban)
	change(RouteExtend, h.extend)
	change(RouteUnban, h.unban)
	change(RouteAllow, h.allow)
	change(RouteDisallow, h.disallow)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, pattern := h.mux.Handler(r)
	if pattern == "" {
		// No route: authenticate first, so the API's shape is not
		// disclosed to a client without a token.
		if _, _, err := h.auth.Check(r.Header.Get("Authorization")); err != nil {
			h.fail(w, "other", http.StatusUnauthorized, err)
			return
		}
		h.fail(w, "other", http.StatusNotFound, fmt.Errorf("%w: no route %s %s", ErrNotFound, r.Method, strconv.QuoteToASCII(r.URL.Path)))
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) wrap(route string, changes bool, f func(http.ResponseWriter, *http.Request, string) (any, int, error)) http.Handler {
	for _, code := range []int{200, 201, 400, 401, 403, 404, 503} {
		h.requests.WithLabelValues(route, strconv.Itoa(code))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name, role, err := h.auth.Check(r.Header.Get("Authorization"))
		if err != nil {
			h.fail(w, route, http.StatusUnauthorized, err)
			return
		}
		if changes && role != RoleAdmin {
			h.fail(w, route, http.StatusForbidden, fmt.Errorf("%w: token %q is read-only", ErrForbidden, name))
			return
		}
		v, code, err := f(w, r, name)
		if err != nil {
			h.fail(w, route, status(err), err)
			if changes {
				h.logger.Warn("api change refused", "route", route, "actor", name, "err", err)
			}
			return
		}
		if changes {
			h.logger.Info("api change", "route", route, "actor", name, "key", quoteKey(r))
		}
		h.write(w, route, code, v)
	})
}

func quoteKey(r *http.Request) string {
	return strconv.QuoteToASCII(r.PathValue("kind") + ":" + r.PathValue("subject"))
}

func status(err error) int {
	switch {
	case errors.Is(err, ErrInvalid):
		return http.StatusBadRequest
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, ErrUnauthorized):
		return http.StatusUnauthorized
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

func (h *Handler) fail(w http.ResponseWriter, route string, code int, err error) {
	if code == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="mxwarden"`)
	}
	h.write(w, route, code, Error{Error: err.Error()})
}

func (h *Handler) write(w http.ResponseWriter, route string, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(true) // '<', '>' and '&' as \u003c...: never markup in a page that shows it raw
	if err := enc.Encode(v); err != nil {
		code = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, "{\"error\":%q}\n", "encode answer: "+err.Error())
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
	h.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
}

// DecodeJSON decodes one JSON object of at most MaxBodyBytes into v:
// unknown fields, trailing data and a body that is not an object are
// errors wrapping ErrInvalid (a too large body is *http.MaxBytesError).
func DecodeJSON(r io.Reader, v any) error {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return err
		}
		return fmt.Errorf("%w: body: %w", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: body: data after the JSON object", ErrInvalid)
	}
	return nil
}

func decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	return DecodeJSON(http.MaxBytesReader(w, r.Body, MaxBodyBytes), v)
}

// Whoami is the answer of RouteWhoami.
type Whoami struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

func (h *Handler) whoami(_ http.ResponseWriter, r *http.Request, actor string) (any, int, error) {
	_, role, _ := h.auth.Check(r.Header.Get("Authorization"))
	return Whoami{Name: actor, Role: role}, http.StatusOK, nil
}

// ParseListQuery reads a ListQuery from URL parameters: rule,
// subject_kind (or kind), subject, since (RFC 3339, or a duration such as
// 24h meaning that long ago), source, all (true/1), offset, limit.
func ParseListQuery(v map[string][]string, now time.Time) (ListQuery, error) {
	get := func(k string) string {
		if s := v[k]; len(s) > 0 {
			return s[0]
		}
		return ""
	}
	q := ListQuery{Rule: get("rule"), Kind: event.SubjectKind(get("subject_kind")), Subject: get("subject"), Source: get("source")}
	if q.Kind == "" {
		q.Kind = event.SubjectKind(get("kind"))
	}
	if s := get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			d, derr := time.ParseDuration(s)
			if derr != nil || d < 0 {
				return q, fmt.Errorf("%w: since %q: want RFC 3339 or a duration", ErrInvalid, s)
			}
			t = now.Add(-d)
		}
		q.Since = t
	}
	if s := get("all"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, fmt.Errorf("%w: all %q", ErrInvalid, s)
		}
		q.All = b
	}
	for _, f := range []struct {
		k string
		p *int
	}{{"offset", &q.Offset}, {"limit", &q.Limit}} {
		if s := get(f.k); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				return q, fmt.Errorf("%w: %s %q", ErrInvalid, f.k, s)
			}
			*f.p = n
		}
	}
	return q, nil
}

func (h *Handler) list(_ http.ResponseWriter, r *http.Request, _ string) (any, int, error) {
	q, err := ParseListQuery(r.URL.Query(), time.Now())
	if err != nil {
		return nil, 0, err
	}
	p, err := h.b.List(r.Context(), q)
	return p, http.StatusOK, err
}

func (h *Handler) get(_ http.ResponseWriter, r *http.Request, _ string) (any, int, error) {
	v, err := h.b.Get(r.Context(), event.SubjectKind(r.PathValue("kind")), r.PathValue("subject"))
	return v, http.StatusOK, err
}

func (h *Handler) lookup(_ http.ResponseWriter, r *http.Request, _ string) (any, int, error) {
	v, err := h.b.Applying(r.Context(), r.URL.Query().Get("subject"))
	return v, http.StatusOK, err
}

func (h *Handler) allowlist(_ http.ResponseWriter, r *http.Request, _ string) (any, int, error) {
	q := r.URL.Query()
	kind := q.Get("subject_kind")
	if kind == "" {
		kind = q.Get("kind")
	}
	v, err := h.b.Allowlist(r.Context(), event.SubjectKind(kind), q.Get("subject"))
	if err != nil {
		return nil, 0, err
	}
	return struct {
		Allowlist []event.AllowEntry `json:"allowlist"`
	}{v}, http.StatusOK, nil
}

func (h *Handler) ban(w http.ResponseWriter, r *http.Request, actor string) (any, int, error) {
	var req BanRequest
	if err := decodeBody(w, r, &req); err != nil {
		return nil, 0, err
	}
	v, err := h.b.Ban(r.Context(), actor, req)
	return v, http.StatusCreated, err
}

func (h *Handler) extend(w http.ResponseWriter, r *http.Request, actor string) (any, int, error) {
	var req ExtendRequest
	if err := decodeBody(w, r, &req); err != nil {
		return nil, 0, err
	}
	v, err := h.b.Extend(r.Context(), actor, req)
	return v, http.StatusOK, err
}

func (h *Handler) allow(w http.ResponseWriter, r *http.Request, actor string) (any, int, error) {
	var req AllowRequest
	if err := decodeBody(w, r, &req); err != nil {
		return nil, 0, err
	}
	v, err := h.b.Allow(r.Context(), actor, req)
	return v, http.StatusCreated, err
}

// Deleted is the answer of RouteUnban and RouteDisallow.
type Deleted struct {
	Deleted string `json:"deleted"` // the key
}

// changeRequest reads an unban/disallow: kind and subject from the path,
// reason and on_behalf_of from the JSON body if there is one, else from
// the query parameters.
func changeRequest(w http.ResponseWriter, r *http.Request) (ChangeRequest, error) {
	req := ChangeRequest{Reason: r.URL.Query().Get("reason"), OnBehalfOf: r.URL.Query().Get("on_behalf_of")}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		var body struct {
			Reason     string `json:"reason"`
			OnBehalfOf string `json:"on_behalf_of,omitempty"`
		}
		if err := decodeBody(w, r, &body); err != nil {
			return req, err
		}
		if body.Reason != "" {
			req.Reason = body.Reason
		}
		if body.OnBehalfOf != "" {
			req.OnBehalfOf = body.OnBehalfOf
		}
	}
	req.Kind, req.Subject = event.SubjectKind(r.PathValue("kind")), r.PathValue("subject")
	return req, nil
}

func (h *Handler) unban(w http.ResponseWriter, r *http.Request, actor string) (any, int, error) {
	req, err := changeRequest(w, r)
	if err != nil {
		return nil, 0, err
	}
	if err := h.b.Unban(r.Context(), actor, req); err != nil {
		return nil, 0, err
	}
	return Deleted{Deleted: event.BanKey(req.Kind, req.Subject)}, http.StatusOK, nil
}

func (h *Handler) disallow(w http.ResponseWriter, r *http.Request, actor string) (any, int, error) {
	req, err := changeRequest(w, r)
	if err != nil {
		return nil, 0, err
	}
	if err := h.b.Disallow(r.Context(), actor, req); err != nil {
		return nil, 0, err
	}
	return Deleted{Deleted: event.BanKey(req.Kind, req.Subject)}, http.StatusOK, nil
}

// EscapeSubject escapes a subject for the {subject...} path segment.
func EscapeSubject(s string) string {
	return strings.ReplaceAll(urlPathEscape(s), "%2F", "/")
}
