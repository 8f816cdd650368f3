package mta

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

// RspamdPrefix is where the rspamd maps are served.
const RspamdPrefix = "/rspamd/"

// RspamdMaps names the maps: the path under RspamdPrefix and the ban
// kinds each holds. "from" and "rcpt" hold addresses and bare domains
// (use them with filter "email:addr" and a second rule with
// "email:domain"); "ip" client IPs (a radix map); "user" SASL logins.
var RspamdMaps = map[string][]event.SubjectKind{
	"from": {event.KindSender, event.KindSenderDomain},
	"rcpt": {event.KindRecipient, event.KindRecipientDomain},
	"ip":   {event.KindClientIP},
	"user": {event.KindAccount},
}

// RspamdHandler serves the ban set as rspamd multimap HTTP maps: one key
// per line, '#' comment header, with ETag and Last-Modified so rspamd's
// periodic If-None-Match / If-Modified-Since polls get 304 while nothing
// changed. Only action "ban" is listed (multimap rejects). Keys that fail
// the map formats' checks (see the package doc) or that rspamd would read
// as a comment or a regular expression ('#', '/') are left out and
// counted; so is a domain ban with an allowlisted address inside (rspamd
// cannot express the exception; the allowlist wins).
type RspamdHandler struct {
	set     *banset.Set
	logger  *slog.Logger
	notify  <-chan struct{}
	skipped *prometheus.CounterVec
	served  *prometheus.CounterVec

	mu    sync.Mutex
	maps  map[string]rspamdMap
	built bool
}

type rspamdMap struct {
	body     []byte
	etag     string
	modified time.Time
}

// NewRspamdHandler returns the handler; it subscribes to the set for the
// lifetime of the process.
func NewRspamdHandler(set *banset.Set, logger *slog.Logger, reg prometheus.Registerer) *RspamdHandler {
	notify, _ := set.Subscribe()
	f := promauto.With(reg)
	h := &RspamdHandler{
		set: set, logger: logger.With("component", "rspamd_map"), notify: notify, maps: map[string]rspamdMap{},
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_rspamd_entries_skipped_total",
			Help: "Bans left out of an rspamd map at a rebuild, by reason (token, shape, syntax, allowlisted).",
		}, []string{"reason"}),
		served: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_rspamd_requests_total",
			Help: "rspamd map requests, by result (full, not_modified, not_found).",
		}, []string{"result"}),
	}
	for _, r := range []string{SkipToken, SkipShape, SkipSyntax, SkipAllowlisted} {
		h.skipped.WithLabelValues(r)
	}
	for _, r := range []string{"full", "not_modified", "not_found"} {
		h.served.WithLabelValues(r)
	}
	return h
}

// current returns the map called name, rebuilding every map after a change.
func (h *RspamdHandler) current(name string) (rspamdMap, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	changed := !h.built
	select {
	case <-h.notify:
		changed = true
	default:
	}
	if changed {
		h.rebuild()
	}
	m, ok := h.maps[name]
	return m, ok
}

func (h *RspamdHandler) rebuild() {
	snap := h.set.Snapshot()
	bodies := RenderRspamd(snap, func(reason string) { h.skipped.WithLabelValues(reason).Inc() })
	now := time.Now().UTC().Truncate(time.Second)
	for name, body := range bodies {
		sum := sha256.Sum256(body)
		etag := `"` + hex.EncodeToString(sum[:12]) + `"`
		if old, ok := h.maps[name]; ok && old.etag == etag {
			continue
		}
		h.maps[name] = rspamdMap{body: body, etag: etag, modified: now}
	}
	h.built = true
}

// RenderRspamd renders every rspamd map of snap; skip is called with the
// reason of every ban left out.
func RenderRspamd(snap banset.Snapshot, skip func(reason string)) map[string][]byte {
	except := map[string]bool{} // domains with an allowlisted address: kind:domain
	for _, a := range snap.Allow {
		if a.Kind == event.KindSender || a.Kind == event.KindRecipient {
			if d := event.Domain(strings.ToLower(a.Subject)); d != "" {
				dk := event.KindSenderDomain
				if a.Kind == event.KindRecipient {
					dk = event.KindRecipientDomain
				}
				except[string(dk)+":"+d] = true
			}
		}
	}
	out := make(map[string][]byte, len(RspamdMaps))
	for name, kinds := range RspamdMaps {
		var keys []string
		for _, b := range snap.Bans {
			if b.Action != event.ActionBan || !containsKind(kinds, b.SubjectKind) {
				continue
			}
			key, reason := rspamdKey(b.SubjectKind, b.Subject)
			if reason == "" && except[b.Key()] {
				reason = SkipAllowlisted
			}
			if reason != "" {
				if skip != nil {
					skip(reason)
				}
				continue
			}
			keys = append(keys, key)
		}
		sort.Strings(keys)
		var buf bytes.Buffer
		buf.WriteString("# mxwarden enforcer rspamd map " + name + ": do not edit\n")
		last := ""
		for _, k := range keys {
			if k == last {
				continue
			}
			last = k
			buf.WriteString(k)
			buf.WriteByte('\n')
		}
		out[name] = buf.Bytes()
	}
	return out
}

func containsKind(kinds []event.SubjectKind, k event.SubjectKind) bool {
	for _, x := range kinds {
		if x == k {
			return true
		}
	}
	return false
}

// rspamdKey returns the map key of a ban, or a skip reason.
func rspamdKey(kind event.SubjectKind, subject string) (string, string) {
	var key, reason string
	switch kind {
	case event.KindSender, event.KindRecipient:
		key, reason = addressKey(subject)
	case event.KindSenderDomain, event.KindRecipientDomain:
		key, reason = domainKey(subject)
	case event.KindClientIP:
		a, err := netip.ParseAddr(subject)
		if err != nil || a.Zone() != "" {
			return "", SkipShape
		}
		return a.Unmap().String(), ""
	default:
		key = strings.ToLower(subject)
		if !checkPrintable(key) {
			reason = SkipToken
		}
	}
	if reason != "" {
		return "", reason
	}
	if key[0] == '#' || key[0] == '/' || strings.ContainsAny(key, `"'`) {
		return "", SkipSyntax
	}
	return key, ""
}

// ServeHTTP implements http.Handler: GET/HEAD /rspamd/<map>.
func (h *RspamdHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := strings.TrimPrefix(r.URL.Path, RspamdPrefix)
	m, ok := h.current(name)
	if !ok {
		h.served.WithLabelValues("not_found").Inc()
		http.NotFound(w, r)
		return
	}
	w.Header().Set("ETag", m.etag)
	w.Header().Set("Last-Modified", m.modified.Format(http.TimeFormat))
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if etagMatch(inm, m.etag) {
			h.served.WithLabelValues("not_modified").Inc()
			w.WriteHeader(http.StatusNotModified)
			return
		}
	} else if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !m.modified.After(t) {
			h.served.WithLabelValues("not_modified").Inc()
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	h.served.WithLabelValues("full").Inc()
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(m.body)
}

func etagMatch(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
