package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

const (
	adminSecret = "admin-secret-0123456789"
	readSecret  = "read-secret-0123456789ab"
)

type fixture struct {
	t       *testing.T
	cluster *kfake.Cluster
	cl      *kgo.Client
	set     *banset.Set
	local   *Local
	srv     *httptest.Server
	reg     *prometheus.Registry
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "mail.bans", "mail.allowlist"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	set := banset.New(nil)
	local := &Local{Set: set, Producer: KafkaProducer{Client: cl}, Topics: Topics{Bans: "mail.bans", Allowlist: "mail.allowlist"}, Timeout: 5 * time.Second}
	auth, err := NewAuthenticator([]Token{{Name: "desk", Role: RoleAdmin, Token: adminSecret}, {Name: "viewer", Role: RoleRead, Token: readSecret}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h := NewHandler(local, auth, slog.New(slog.DiscardHandler), reg)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &fixture{t: t, cluster: c, cl: cl, set: set, local: local, srv: srv, reg: reg}
}

func (f *fixture) do(method, path, token string, body any) (int, []byte) {
	f.t.Helper()
	var rd io.Reader
	if body != nil {
		if s, ok := body.(string); ok {
			rd = strings.NewReader(s)
		} else {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.t.Fatalf("%s %s: content type %q", method, path, ct)
	}
	if !json.Valid(b) {
		f.t.Fatalf("%s %s: answer is not JSON: %q", method, path, b)
	}
	return resp.StatusCode, b
}

// records returns every record produced to topic so far.
func (f *fixture) records(topic string) []*kgo.Record {
	f.t.Helper()
	ends, err := kadm.NewClient(f.cl).ListEndOffsets(context.Background(), topic)
	if err != nil {
		f.t.Fatal(err)
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	if want == 0 {
		return nil
	}
	c, err := kgo.NewClient(kgo.SeedBrokers(f.cluster.ListenAddrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		f.t.Fatal(err)
	}
	defer c.Close()
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for int64(len(out)) < want {
		fs := c.PollFetches(ctx)
		if ctx.Err() != nil {
			f.t.Fatalf("read %s: %d of %d records", topic, len(out), want)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func header(r *kgo.Record, k string) string {
	for _, h := range r.Headers {
		if h.Key == k {
			return string(h.Value)
		}
	}
	return ""
}

func TestAuth(t *testing.T) {
	f := newFixture(t)
	ban := BanRequest{Kind: event.KindSender, Subject: "spam@x.example", Reason: "test"}
	allow := AllowRequest{Kind: event.KindSender, Subject: "ok@x.example", Reason: "test"}
	type call struct {
		method, path string
		body         any
		changes      bool
	}
	calls := []call{
		{"GET", "/api/v1/bans", nil, false},
		{"GET", "/api/v1/bans/sender/spam@x.example", nil, false},
		{"GET", "/api/v1/lookup?subject=x.example", nil, false},
		{"GET", "/api/v1/allowlist", nil, false},
		{"GET", "/api/v1/whoami", nil, false},
		{"GET", "/api/v1/nonexistent", nil, false},
		{"POST", "/api/v1/bans", ban, true},
		{"POST", "/api/v1/bans/extend", ExtendRequest{Kind: event.KindSender, Subject: "spam@x.example", Reason: "x", TTL: "48h"}, true},
		{"DELETE", "/api/v1/bans/sender/spam@x.example?reason=x", nil, true},
		{"POST", "/api/v1/allowlist", allow, true},
		{"DELETE", "/api/v1/allowlist/sender/ok@x.example?reason=x", nil, true},
	}
	// Something to unban and disallow, put in directly (not produced).
	f.set.Put(&event.Ban{Verdict: event.Verdict{Rule: "r", SubjectKind: event.KindSender, Subject: "spam@x.example", Action: event.ActionBan,
		Expires: event.OptTime{Time: time.Now().Add(time.Hour)}}})
	f.set.PutAllow(&event.AllowEntry{Kind: event.KindSender, Subject: "ok@x.example", Reason: "r"})
	for _, c := range calls {
		for _, tok := range []string{"", "wrong-token-0123456789", adminSecret + "x", strings.ToUpper(adminSecret)} {
			code, body := f.do(c.method, c.path, tok, c.body)
			if code != http.StatusUnauthorized {
				t.Errorf("%s %s with token %q: %d %s, want 401", c.method, c.path, tok, code, body)
			}
		}
		code, body := f.do(c.method, c.path, readSecret, c.body)
		if c.changes && code != http.StatusForbidden {
			t.Errorf("%s %s with the read token: %d %s, want 403", c.method, c.path, code, body)
		}
		if !c.changes && code == http.StatusForbidden {
			t.Errorf("%s %s with the read token: 403", c.method, c.path)
		}
	}
	// Scheme other than Bearer.
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/bans", nil)
	req.Header.Set("Authorization", "Basic "+adminSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("basic auth: %v", resp)
	}
	for _, topic := range []string{"mail.bans", "mail.allowlist"} {
		if n := len(f.records(topic)); n != 0 {
			t.Errorf("%d records produced to %s by refused requests", n, topic)
		}
	}
	if _, ok := f.set.Get("sender:spam@x.example"); !ok {
		t.Error("a refused unban changed the set")
	}
	if got := testutil.ToFloat64(f.handlerRequests(RouteBan, "403")); got != 1 {
		t.Errorf("api_requests_total{route=ban,code=403} = %v", got)
	}
	if got := testutil.ToFloat64(f.handlerRequests(RouteExtend, "401")); got != 4 {
		t.Errorf("api_requests_total{route=extend,code=401} = %v", got)
	}
}

// TestExtend: extend produces the rule's ban again with a later expiry,
// its evidence, window, event ids, level, action and message kept, the
// actor and reason recorded; bad requests are refused and produce nothing.
func TestExtend(t *testing.T) {
	f := newFixture(t)
	now := time.Now().UTC().Truncate(time.Second)
	rule := &event.Ban{Verdict: event.Verdict{ID: "v-invalid-1", TS: now.Add(-time.Minute), Rule: "invalid_recipients",
		SubjectKind: event.KindSender, Subject: "list@shop.example", Action: event.ActionDefer, Message: "4.7.1 slow down: 31 of 40 invalid",
		Evidence: map[string]float64{"attempts": 40, "user_unknown": 31, "ratio": 0.775}, Expires: event.OptTime{Time: now.Add(time.Hour)},
		WindowStart: now.Add(-time.Hour), WindowEnd: now.Add(-time.Minute), FirstEventID: "mx1:1:100", LastEventID: "mx1:1:9000"},
		Source: "rule", Level: 3}
	f.set.Put(rule)
	key := "sender:list@shop.example"
	refused := []struct {
		req  ExtendRequest
		code int
		want string
	}{
		{ExtendRequest{Kind: event.KindSender, Subject: "list@shop.example", TTL: "720h"}, 400, "reason is required"},
		{ExtendRequest{Kind: event.KindSender, Subject: "list@shop.example", Reason: "r"}, 400, "ttl or expires"},
		{ExtendRequest{Kind: event.KindSender, Subject: "list@shop.example", Reason: "r", TTL: "forever"}, 400, "ttl"},
		{ExtendRequest{Kind: event.KindSender, Subject: "list@shop.example", Reason: "r", TTL: "10m"}, 400, "not later than the current"},
		{ExtendRequest{Kind: event.KindSender, Subject: "list@shop.example", Reason: "r", TTL: "720h",
			Expires: event.OptTime{Time: now.Add(1000 * time.Hour)}}, 400, "not both"},
		{ExtendRequest{Kind: event.KindSender, Subject: "other@shop.example", Reason: "r", TTL: "720h"}, 404, "not found"},
		{ExtendRequest{Kind: "planet", Subject: "list@shop.example", Reason: "r", TTL: "720h"}, 400, "subject_kind"},
	}
	for _, c := range refused {
		if code, body := f.do("POST", "/api/v1/bans/extend", adminSecret, c.req); code != c.code || !strings.Contains(string(body), c.want) {
			t.Errorf("extend %+v: %d %s, want %d %q", c.req, code, body, c.code, c.want)
		}
	}
	if code, body := f.do("POST", "/api/v1/bans/extend", adminSecret, `{"subject_kind":"sender","subject":"list@shop.example","reason":"r","ttl":"720h","level":9}`); code != 400 {
		t.Errorf("extend with an unknown field: %d %s", code, body)
	}
	if n := len(f.records("mail.bans")); n != 0 {
		t.Fatalf("refused extends produced %d records", n)
	}

	code, body := f.do("POST", "/api/v1/bans/extend", adminSecret, ExtendRequest{Kind: event.KindSender, Subject: "List@Shop.Example",
		Reason: "still bouncing", TTL: "720h", OnBehalfOf: "alice"})
	if code != http.StatusOK {
		t.Fatalf("extend: %d %s", code, body)
	}
	var v BanView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	check := func(what string, b event.Ban) {
		t.Helper()
		if b.Expires.Before(now.Add(719*time.Hour)) || b.Actor != "desk/alice" || b.Reason != "still bouncing" ||
			b.ID != rule.ID || !b.TS.Equal(rule.TS) || b.Rule != rule.Rule || b.Source != "rule" || b.Level != 3 ||
			b.Action != event.ActionDefer || b.Message != rule.Message || !b.WindowStart.Equal(rule.WindowStart) ||
			!b.WindowEnd.Equal(rule.WindowEnd) || b.FirstEventID != rule.FirstEventID || b.LastEventID != rule.LastEventID ||
			len(b.Evidence) != 3 || b.Evidence["user_unknown"] != 31 || b.Evidence["ratio"] != 0.775 {
			t.Fatalf("%s: %+v", what, b)
		}
	}
	check("answer", v.Ban)
	stored, _ := f.set.Get(key)
	check("set", stored)
	recs := f.records("mail.bans")
	if len(recs) != 1 || string(recs[0].Key) != key || header(recs[0], event.HeaderActor) != "desk/alice" ||
		header(recs[0], event.HeaderChange) != "extend" || header(recs[0], event.HeaderChangeReason) != "still bouncing" {
		t.Fatalf("produced: %+v", recs)
	}
	produced, err := event.UnmarshalBan(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	check("record", *produced)

	// Through the Client; a ban that never expires has nothing to extend.
	c := &Client{BaseURL: f.srv.URL, Token: adminSecret}
	if v, err := c.Extend(context.Background(), "", ExtendRequest{Kind: event.KindSender, Subject: "list@shop.example", Reason: "again",
		Expires: event.OptTime{Time: now.Add(2000 * time.Hour)}}); err != nil || !v.Expires.Equal(now.Add(2000*time.Hour)) || v.Level != 3 {
		t.Fatalf("client extend: %+v %v", v, err)
	}
	f.set.Put(&event.Ban{Verdict: event.Verdict{Rule: "r", SubjectKind: event.KindSender, Subject: "forever@shop.example", Action: event.ActionBan}})
	if _, err := c.Extend(context.Background(), "", ExtendRequest{Kind: event.KindSender, Subject: "forever@shop.example", Reason: "r", TTL: "1h"}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("extend a ban without expiry: %v", err)
	}
}

func (f *fixture) handlerRequests(route, code string) prometheus.Counter {
	mfs, _ := f.reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() != "mxwarden_enforcer_api_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var r, c string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "route":
					r = l.GetValue()
				case "code":
					c = l.GetValue()
				}
			}
			if r == route && c == code {
				cnt := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "copy"})
				cnt.Add(m.GetCounter().GetValue())
				return cnt
			}
		}
	}
	return prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "copy"})
}

func TestBanUnbanAllowThroughKafka(t *testing.T) {
	f := newFixture(t)
	code, body := f.do("POST", "/api/v1/bans", adminSecret, BanRequest{
		Kind: event.KindSenderDomain, Subject: "Spam.Example", Message: "5.7.1 Domain blocked: open a ticket", Reason: "phishing campaign", TTL: "24h",
		OnBehalfOf: "alice",
	})
	if code != http.StatusCreated {
		t.Fatalf("ban: %d %s", code, body)
	}
	var v BanView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Key != "sender_domain:spam.example" || v.Source != "api" || v.Rule != ManualRule || v.Actor != "desk/alice" || !v.Enforced || v.Expires.IsZero() {
		t.Fatalf("ban answer: %+v", v)
	}
	recs := f.records("mail.bans")
	if len(recs) != 1 || string(recs[0].Key) != "sender_domain:spam.example" || header(recs[0], event.HeaderActor) != "desk/alice" ||
		header(recs[0], event.HeaderChange) != "ban" || header(recs[0], event.HeaderChangeReason) != "phishing campaign" {
		t.Fatalf("produced: %+v", recs)
	}
	if b, err := event.UnmarshalBan(recs[0].Value); err != nil || b.Actor != "desk/alice" || b.Reason != "phishing campaign" {
		t.Fatalf("produced ban: %+v %v", b, err)
	}
	// Applied locally at once: a policy lookup refuses the domain.
	if b, ok := f.set.Match(banset.Query{Sender: "anyone@spam.example"}); !ok || b.Message != "5.7.1 Domain blocked: open a ticket" {
		t.Fatalf("match after ban: %+v %v", b, ok)
	}
	// Show, list, lookup (with the read token).
	if code, body := f.do("GET", "/api/v1/bans/sender_domain/spam.example", readSecret, nil); code != 200 || !strings.Contains(string(body), `"actor":"desk/alice"`) {
		t.Fatalf("show: %d %s", code, body)
	}
	if code, _ := f.do("GET", "/api/v1/bans/sender/nobody@x.example", readSecret, nil); code != 404 {
		t.Fatalf("show absent: %d", code)
	}
	if code, body := f.do("GET", "/api/v1/lookup?subject=someone@spam.example", readSecret, nil); code != 200 || !strings.Contains(string(body), `"key":"sender_domain:spam.example"`) {
		t.Fatalf("lookup: %d %s", code, body)
	}
	// Allowlist one address of the domain: the allowlist wins.
	code, body = f.do("POST", "/api/v1/allowlist", adminSecret, AllowRequest{Kind: event.KindSender, Subject: "ceo@spam.example", Reason: "vip"})
	if code != http.StatusCreated {
		t.Fatalf("allow: %d %s", code, body)
	}
	if _, ok := f.set.Match(banset.Query{Sender: "ceo@spam.example", Recipient: "x@y.example"}); ok {
		t.Fatal("allowlisted sender still matched")
	}
	if arecs := f.records("mail.allowlist"); len(arecs) != 1 || header(arecs[0], event.HeaderActor) != "desk" {
		t.Fatalf("allowlist records: %+v", arecs)
	}
	if code, body := f.do("GET", "/api/v1/allowlist?subject=ceo", readSecret, nil); code != 200 || !strings.Contains(string(body), `"subject":"ceo@spam.example"`) {
		t.Fatalf("allowlist list: %d %s", code, body)
	}
	// Unban with a JSON body; disallow with query parameters.
	if code, body := f.do("DELETE", "/api/v1/bans/sender_domain/spam.example", adminSecret, map[string]string{"reason": "false positive"}); code != 200 {
		t.Fatalf("unban: %d %s", code, body)
	}
	recs = f.records("mail.bans")
	if len(recs) != 2 || recs[1].Value != nil || header(recs[1], event.HeaderChange) != "unban" || header(recs[1], event.HeaderChangeReason) != "false positive" {
		t.Fatalf("unban record: %+v", recs)
	}
	if _, ok := f.set.Match(banset.Query{Sender: "anyone@spam.example"}); ok {
		t.Fatal("unbanned domain still matched")
	}
	if code, _ := f.do("DELETE", "/api/v1/bans/sender_domain/spam.example?reason=again", adminSecret, nil); code != 404 {
		t.Fatalf("second unban: %d", code)
	}
	if code, body := f.do("DELETE", "/api/v1/allowlist/sender/CEO@spam.example?reason=left", adminSecret, nil); code != 200 {
		t.Fatalf("disallow: %d %s", code, body)
	}
	if n := len(f.records("mail.allowlist")); n != 2 {
		t.Fatalf("allowlist records after disallow: %d", n)
	}
}

func TestListFiltersAndPages(t *testing.T) {
	f := newFixture(t)
	t0 := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	for i := range 25 {
		rule := "invalid_recipients"
		if i%5 == 0 {
			rule = "cron_flood"
		}
		f.set.Put(&event.Ban{Verdict: event.Verdict{
			Rule: rule, SubjectKind: event.KindSender, Subject: "user" + string(rune('a'+i)) + "@x.example",
			Action: event.ActionBan, TS: t0.Add(time.Duration(i) * time.Minute), Evidence: map[string]float64{"attempts": float64(i)},
		}, Source: "rule"})
	}
	f.set.Put(&event.Ban{Verdict: event.Verdict{Rule: "r", SubjectKind: event.KindRecipient, Subject: "v@gmail.example", Action: event.ActionBan, TS: t0}})
	f.set.Put(&event.Ban{Verdict: event.Verdict{Rule: "r", SubjectKind: event.KindRecipient, Subject: "shadow@gmail.example", Action: event.ActionBan, TS: t0, Shadow: true}})
	get := func(q string) Page {
		code, body := f.do("GET", "/api/v1/bans?"+q, readSecret, nil)
		if code != 200 {
			t.Fatalf("list %s: %d %s", q, code, body)
		}
		var p Page
		if err := json.Unmarshal(body, &p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := get(""); p.Total != 26 || len(p.Bans) != 26 || p.NextOffset != nil {
		t.Fatalf("all: total %d, %d bans", p.Total, len(p.Bans))
	}
	if p := get("all=true"); p.Total != 27 {
		t.Fatalf("all=true: total %d", p.Total)
	}
	p := get("rule=cron_flood")
	if p.Total != 5 || p.Bans[0].Subject != "useru@x.example" || p.Bans[0].Evidence["attempts"] != 20 {
		t.Fatalf("rule filter (newest first): %+v", p)
	}
	if p := get("subject_kind=recipient"); p.Total != 1 {
		t.Fatalf("kind filter: %d", p.Total)
	}
	if p := get("subject=USERC"); p.Total != 1 || p.Bans[0].Subject != "userc@x.example" {
		t.Fatalf("subject filter: %+v", p)
	}
	if p := get("since=" + url.QueryEscape(t0.Add(20*time.Minute).Format(time.RFC3339))); p.Total != 5 {
		t.Fatalf("since filter: %d", p.Total)
	}
	p = get("limit=10&offset=20")
	if p.Total != 26 || len(p.Bans) != 6 || p.NextOffset != nil {
		t.Fatalf("last page: %+v", p)
	}
	p = get("limit=10")
	if len(p.Bans) != 10 || p.NextOffset == nil || *p.NextOffset != 10 {
		t.Fatalf("first page: next %v", p.NextOffset)
	}
	for _, q := range []string{"limit=0x", "limit=5000", "offset=-1", "since=yesterday", "subject_kind=nope", "all=maybe"} {
		if code, _ := f.do("GET", "/api/v1/bans?"+q, readSecret, nil); code != 400 {
			t.Errorf("list %s: %d, want 400", q, code)
		}
	}
}

// hostileSubjects are refused by every change route, and nothing is produced.
var hostileSubjects = []string{
	"a@b.example\nroot@localhost", "a\x00@b.example", "#comment@x.example", "a@b.example REJECT", "\u202Eevil@x.example",
	strings.Repeat("a", 5000) + "@x.example", "", "no-at-sign", "a@", "@b.example", "a@b.example:x\"y'",
}

func TestHostileRequests(t *testing.T) {
	f := newFixture(t)
	accepted := 0
	for _, s := range hostileSubjects {
		for _, kind := range []event.SubjectKind{event.KindSender, event.KindRecipient} {
			code, body := f.do("POST", "/api/v1/bans", adminSecret, BanRequest{Kind: kind, Subject: s, Reason: "x"})
			if code == http.StatusCreated {
				accepted++
				// Only shapes that are valid addresses may pass (quotes and ':' are legal in a local part).
				if event.CheckToken(s) != nil || !strings.Contains(s, "@") {
					t.Errorf("ban %q accepted: %s", s, body)
				}
				continue
			}
			if code != http.StatusBadRequest {
				t.Errorf("ban %q: %d %s, want 400", s, code, body)
			}
		}
	}
	bad := []string{
		`{"subject_kind":"sender","subject":"a@b.example","reason":"x","message":"two\nlines"}`,
		`{"subject_kind":"sender","subject":"a@b.example","reason":"x\u0000"}`,
		`{"subject_kind":"sender","subject":"a@b.example"}`,
		`{"subject_kind":"sender","subject":"a@b.example","reason":"x","extra":1}`,
		`{"subject_kind":"sender","subject":"a@b.example","reason":"x"} {"again":1}`,
		`{"subject_kind":"sender","subject":"a@b.example","reason":"x","ttl":"-1h"}`,
		`{"subject_kind":"sender","subject":"a@b.example","reason":"x","expires":"2001-01-01T00:00:00Z"}`,
		`{"subject_kind":"sender","subject":"a@b.example","reason":"x","action":"flag"}`,
		`{"subject_kind":"client_ip","subject":"999.1.1.1","reason":"x"}`,
		`{"subject_kind":"sender_recipient","subject":"a@b.example","reason":"x"}`,
		`[1,2,3]`, `not json`, ``,
		`{"subject_kind":"sender","subject":"a@b.example","reason":"` + strings.Repeat("r", 70000) + `"}`,
	}
	for _, b := range bad {
		code, body := f.do("POST", "/api/v1/bans", adminSecret, b)
		if code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge {
			t.Errorf("ban body %.80q: %d %s, want 400/413", b, code, body)
		}
	}
	// Markup in a message comes back escaped, never raw.
	code, body := f.do("POST", "/api/v1/bans", adminSecret, BanRequest{Kind: event.KindSender, Subject: "m@x.example", Reason: "<b>x</b>", Message: `<script>alert(1)</script> "q" \u202E`})
	if code != 201 || bytes.Contains(body, []byte("<script>")) {
		t.Fatalf("markup: %d %s", code, body)
	}
	recs := f.records("mail.bans")
	if len(recs) != accepted+1 {
		t.Errorf("%d records produced, %d bans accepted", len(recs), accepted+1)
	}
}

func TestKafkaDownRefusesAndAppliesNothing(t *testing.T) {
	f := newFixture(t)
	f.cluster.Close()
	f.local.Timeout = 500 * time.Millisecond
	code, body := f.do("POST", "/api/v1/bans", adminSecret, BanRequest{Kind: event.KindSender, Subject: "a@x.example", Reason: "x"})
	if code != http.StatusServiceUnavailable {
		t.Fatalf("ban with kafka down: %d %s", code, body)
	}
	if f.set.Len() != 0 {
		t.Fatal("a refused ban was applied")
	}
}

func TestClient(t *testing.T) {
	f := newFixture(t)
	c := &Client{BaseURL: f.srv.URL, Token: adminSecret}
	ctx := context.Background()
	if w, err := c.Whoami(ctx); err != nil || w.Name != "desk" || w.Role != RoleAdmin {
		t.Fatalf("whoami: %+v %v", w, err)
	}
	// A subject with '/', '%', '?' and '#' survives the path.
	subj := "we/ird%2F?#x@x.example"
	if _, err := c.Ban(ctx, "", BanRequest{Kind: event.KindSender, Subject: subj, Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	v, err := c.Get(ctx, event.KindSender, subj)
	if err != nil || !strings.EqualFold(v.Subject, subj) {
		t.Fatalf("get: %+v %v", v, err)
	}
	if err := c.Unban(ctx, "", ChangeRequest{Kind: event.KindSender, Subject: subj, Reason: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Get(ctx, event.KindSender, subj); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after unban: %v", err)
	}
	ro := &Client{BaseURL: f.srv.URL, Token: readSecret}
	if _, err := ro.Ban(ctx, "", BanRequest{Kind: event.KindSender, Subject: "a@x.example", Reason: "r"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("read-only ban: %v", err)
	}
	if _, err := (&Client{BaseURL: f.srv.URL, Token: "nope"}).List(ctx, ListQuery{}); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("bad token: %v", err)
	}
	// Both implementations satisfy the interface the desk uses.
	var _ Backend = c
	var _ Backend = f.local
}

func TestTokenFile(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/tokens"
	if err := writeFile(path, "# name role secret\ndesk admin "+adminSecret+"\n\nviewer read "+readSecret+"\n"); err != nil {
		t.Fatal(err)
	}
	toks, err := LoadTokenFile(path)
	if err != nil || len(toks) != 2 || toks[1].Role != RoleRead {
		t.Fatalf("tokens: %+v %v", toks, err)
	}
	for _, bad := range []string{"desk admin short\n", "desk superuser " + adminSecret + "\n", "desk admin\n"} {
		if err := writeFile(path, bad); err != nil {
			t.Fatal(err)
		}
		_, err := LoadTokenFile(path)
		if err == nil || strings.Contains(err.Error(), adminSecret) {
			t.Errorf("token file %q: %v", bad, err)
		}
	}
	if _, err := NewAuthenticator([]Token{{Name: "a", Role: RoleAdmin, Token: adminSecret}, {Name: "b", Role: RoleRead, Token: adminSecret}}); err == nil {
		t.Error("duplicate secret accepted")
	}
	b, _ := json.Marshal(Token{Name: "a", Role: RoleAdmin, Token: adminSecret})
	if strings.Contains(string(b), adminSecret) {
		t.Errorf("token marshals its secret: %s", b)
	}
}

func FuzzDecodeBanRequest(f *testing.F) {
	f.Add([]byte(`{"subject_kind":"sender","subject":"a@b.example","reason":"x","ttl":"1h"}`))
	f.Add([]byte(`{"subject_kind":"sender_recipient","subject":"a@b.example=>c@d.example","reason":"x","expires":"2030-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"subject":"a\nb"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var r BanRequest
		if err := DecodeJSON(bytes.NewReader(in), &r); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("decode error does not wrap ErrInvalid: %v", err)
			}
			return
		}
		key, err := checkSubject(r.Kind, r.Subject)
		if err != nil {
			return
		}
		if event.CheckToken(key) != nil || strings.ContainsAny(key, "\n\r\x00 ") {
			t.Fatalf("accepted hostile key %q", key)
		}
	})
}

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o600) }
