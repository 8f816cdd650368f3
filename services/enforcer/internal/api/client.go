package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Client is the Backend over HTTP: `enforcer ctl` and a desk running
// elsewhere use it. The actor argument of its methods is ignored: the
// server records the token's name (and OnBehalfOf).
type Client struct {
	// BaseURL is the enforcer's HTTP address, e.g. "http://127.0.0.1:9103".
	BaseURL string
	// Token is the bearer token.
	Token string
	// HTTP is the client used (default: one with a 30 s timeout).
	HTTP *http.Client
}

var _ Backend = (*Client)(nil)

// StatusError is an answer other than 2xx.
type StatusError struct {
	Code    int
	Message string
}

func (e *StatusError) Error() string { return fmt.Sprintf("HTTP %d: %s", e.Code, e.Message) }

// Unwrap maps the status onto the package's sentinels.
func (e *StatusError) Unwrap() error {
	switch e.Code {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge:
		return ErrInvalid
	case http.StatusNotFound:
		return ErrNotFound
	case http.StatusServiceUnavailable:
		return ErrUnavailable
	case http.StatusUnauthorized:
		return ErrUnauthorized
	case http.StatusForbidden:
		return ErrForbidden
	}
	return nil
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	u := strings.TrimSuffix(c.BaseURL, "/") + path
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		var e Error
		if json.Unmarshal(data, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(data))
		}
		return &StatusError{Code: resp.StatusCode, Message: e.Error}
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("decode answer: %w", err)
	}
	return nil
}

func keyPath(base string, kind event.SubjectKind, subject string) string {
	return base + url.PathEscape(string(kind)) + "/" + EscapeSubject(subject)
}

// Whoami returns the token's name and role.
func (c *Client) Whoami(ctx context.Context) (Whoami, error) {
	var w Whoami
	err := c.do(ctx, http.MethodGet, Prefix+"whoami", nil, nil, &w)
	return w, err
}

// Applying implements Backend.
func (c *Client) Applying(ctx context.Context, subject string) (Lookup, error) {
	var l Lookup
	err := c.do(ctx, http.MethodGet, Prefix+"lookup", url.Values{"subject": {subject}}, nil, &l)
	return l, err
}

// List implements Backend.
func (c *Client) List(ctx context.Context, q ListQuery) (Page, error) {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("rule", q.Rule)
	set("subject_kind", string(q.Kind))
	set("subject", q.Subject)
	set("source", q.Source)
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	if q.All {
		v.Set("all", "true")
	}
	if q.Offset != 0 {
		v.Set("offset", strconv.Itoa(q.Offset))
	}
	if q.Limit != 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var p Page
	err := c.do(ctx, http.MethodGet, Prefix+"bans", v, nil, &p)
	return p, err
}

// Get implements Backend.
func (c *Client) Get(ctx context.Context, kind event.SubjectKind, subject string) (BanView, error) {
	var b BanView
	err := c.do(ctx, http.MethodGet, keyPath(Prefix+"bans/", kind, subject), nil, nil, &b)
	return b, err
}

// Ban implements Backend.
func (c *Client) Ban(ctx context.Context, _ string, r BanRequest) (BanView, error) {
	var b BanView
	err := c.do(ctx, http.MethodPost, Prefix+"bans", nil, r, &b)
	return b, err
}

// Extend implements Backend (the actor is the token's name).
func (c *Client) Extend(ctx context.Context, _ string, r ExtendRequest) (BanView, error) {
	var b BanView
	err := c.do(ctx, http.MethodPost, Prefix+"bans/extend", nil, r, &b)
	return b, err
}

// Unban implements Backend.
func (c *Client) Unban(ctx context.Context, _ string, r ChangeRequest) error {
	return c.do(ctx, http.MethodDelete, keyPath(Prefix+"bans/", r.Kind, r.Subject), nil,
		map[string]string{"reason": r.Reason, "on_behalf_of": r.OnBehalfOf}, nil)
}

// Allowlist implements Backend.
func (c *Client) Allowlist(ctx context.Context, kind event.SubjectKind, sub string) ([]event.AllowEntry, error) {
	v := url.Values{}
	if kind != "" {
		v.Set("subject_kind", string(kind))
	}
	if sub != "" {
		v.Set("subject", sub)
	}
	var out struct {
		Allowlist []event.AllowEntry `json:"allowlist"`
	}
	err := c.do(ctx, http.MethodGet, Prefix+"allowlist", v, nil, &out)
	return out.Allowlist, err
}

// Allow implements Backend.
func (c *Client) Allow(ctx context.Context, _ string, r AllowRequest) (event.AllowEntry, error) {
	var a event.AllowEntry
	err := c.do(ctx, http.MethodPost, Prefix+"allowlist", nil, r, &a)
	return a, err
}

// Disallow implements Backend.
func (c *Client) Disallow(ctx context.Context, _ string, r ChangeRequest) error {
	return c.do(ctx, http.MethodDelete, keyPath(Prefix+"allowlist/", r.Kind, r.Subject), nil,
		map[string]string{"reason": r.Reason, "on_behalf_of": r.OnBehalfOf}, nil)
}

// IsNotFound reports whether err is a 404 / ErrNotFound.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

func urlPathEscape(s string) string { return url.PathEscape(s) }
