package desk_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/enforcer"
)

func actorOf(e *env, topic, key string) (string, bool) {
	var actor string
	found := false
	for _, r := range e.records(topic) {
		if string(r.Key) != key {
			continue
		}
		found = true
		for _, h := range r.Headers {
			if h.Key == event.HeaderActor {
				actor = string(h.Value)
			}
		}
	}
	return actor, found
}

func TestStaffAllowExtendClose(t *testing.T) {
	e := startEnv(t, nil)
	a, b := "one@shop.example", "two@shop.example"
	e.produceBan(invalidRecipientsBan(a))
	e.produceBan(invalidRecipientsBan(b))
	c := e.client()

	// A dispute to close later.
	if code, body := e.post(c, "/dispute", url.Values{"a": {a}, "contact": {"boss@shop.example"}, "message": {"fixed"}}); code != 200 {
		t.Fatalf("dispute: %d %s", code, body)
	}
	e.login(c, adminToken)
	_, page := e.get(c, banPath(event.KindSender, a))
	tok := csrf(t, page)

	// Without the CSRF token: refused, nothing produced.
	if code, _ := e.post(c, "/staff/allow", url.Values{"kind": {"sender"}, "subject": {a}, "reason": {"x"}}); code != http.StatusForbidden {
		t.Fatalf("allow without csrf: %d", code)
	}
	// Without a reason: the API refuses it.
	if code, body := e.post(c, "/staff/allow", url.Values{"csrf": {tok}, "kind": {"sender"}, "subject": {a}, "reason": {""}}); code != http.StatusBadRequest || !strings.Contains(body, "reason is required") {
		t.Fatalf("allow without reason: %d", code)
	}
	if _, found := actorOf(e, e.cfg.Kafka.Topics.Allowlist, "sender:"+a); found {
		t.Fatal("refused allow produced a record")
	}
	// Allowlist: produced with the actor, and the policy server lets it through.
	code, _ := e.post(c, "/staff/allow", url.Values{"csrf": {tok}, "kind": {"sender"}, "subject": {a}, "reason": {"known customer"}, "ttl": {"720h"}})
	if code != http.StatusSeeOther {
		t.Fatalf("allow: %d", code)
	}
	if actor, _ := actorOf(e, e.cfg.Kafka.Topics.Allowlist, "sender:"+a); actor != "desk-admin" {
		t.Fatalf("allowlist record actor %q", actor)
	}
	eventually(t, "DUNNO once allowlisted", func() bool { return e.policy(a, "x@example.org") == "action=DUNNO" })
	_, page = e.get(c, banPath(event.KindSender, a)+"&done=allow")
	if !strings.Contains(page, "added to the allowlist") || !strings.Contains(page, "known customer") {
		t.Fatal("ban page does not show the allowlist entry")
	}

	// Extend: the API's extend, the same ban (rule, evidence, window,
	// level, message) with a new expiry, produced with the actor.
	old, _ := e.svc.Set().Get("sender:" + b)
	code, _ = e.post(c, "/staff/extend", url.Values{"csrf": {tok}, "kind": {"sender"}, "subject": {b}, "reason": {"still bouncing"}, "ttl": {"720h"}})
	if code != http.StatusSeeOther {
		t.Fatalf("extend: %d", code)
	}
	now, _ := e.svc.Set().Get("sender:" + b)
	if !now.Expires.After(old.Expires.Time.Add(24*time.Hour)) || now.Message != old.Message || now.Actor != "desk-admin" ||
		now.Reason != "still bouncing" || now.Rule != "invalid_recipients" || now.Source != "rule" || now.Level != old.Level ||
		now.ID != old.ID || !now.WindowStart.Equal(old.WindowStart) || now.FirstEventID != old.FirstEventID ||
		now.LastEventID != old.LastEventID || fmt.Sprint(now.Evidence) != fmt.Sprint(old.Evidence) {
		t.Fatalf("extended ban %+v, was %+v", now, old)
	}
	if actor, _ := actorOf(e, e.cfg.Kafka.Topics.Bans, "sender:"+b); actor != "desk-admin" {
		t.Fatalf("extended ban record actor %q", actor)
	}
	_, page = e.get(c, banPath(event.KindSender, b)+"&done=extend")
	if !strings.Contains(page, "The ban was extended") || !strings.Contains(page, "31 of 40 recipients did not exist") {
		t.Fatal("the extended ban's page lost its rule's explanation")
	}
	if code, body := e.post(c, "/staff/extend", url.Values{"csrf": {tok}, "kind": {"sender"}, "subject": {b}, "reason": {"x"}, "ttl": {"forever"}}); code != http.StatusBadRequest || !strings.Contains(body, "ttl") {
		t.Fatalf("extend with a bad ttl: %d", code)
	}

	// Close the dispute.
	_, staff := e.get(c, "/staff")
	if !strings.Contains(staff, "Disputes waiting (1)") {
		t.Fatal("dispute not waiting")
	}
	var id string
	for _, r := range e.records(e.cfg.Kafka.Topics.Disputes) {
		id = string(r.Key)
	}
	code, _ = e.post(c, "/staff/close", url.Values{"csrf": {tok}, "id": {id}, "reason": {"allowlisted, told them"}})
	if code != http.StatusSeeOther {
		t.Fatalf("close: %d", code)
	}
	if _, staff = e.get(c, "/staff"); !strings.Contains(staff, "Disputes waiting (0)") {
		t.Fatal("closed dispute still waiting")
	}
	recs := e.records(e.cfg.Kafka.Topics.Disputes)
	last, err := event.UnmarshalDispute(recs[len(recs)-1].Value)
	if err != nil || last.Status != event.DisputeClosed || last.Actor != "desk-admin" || last.Note != "allowlisted, told them" {
		t.Fatalf("closing record %+v %v", last, err)
	}
	if e.metric("mxwarden_enforcer_desk_changes_total", "change", "allow", "result", "done") != 1 ||
		e.metric("mxwarden_enforcer_desk_disputes_open") != 0 {
		t.Fatal("change or open-dispute metrics wrong")
	}
}

// Disputes live in Kafka: a second enforcer (or this one restarted) shows
// the disputes filed before it started.
func TestDisputesReadBackFromKafka(t *testing.T) {
	e := startEnv(t, nil)
	s := "again@shop.example"
	e.produceBan(invalidRecipientsBan(s))
	c := e.client()
	if code, _ := e.post(c, "/dispute", url.Values{"a": {s}, "contact": {"me@shop.example"}, "message": {"please look"}}); code != 200 {
		t.Fatalf("dispute: %d", code)
	}
	e2 := startEnvOn(t, e)
	c2 := e2.client()
	e2.login(c2, viewerToken)
	eventually(t, "the dispute in the second desk", func() bool {
		_, body := e2.get(c2, "/staff")
		return strings.Contains(body, "Disputes waiting (1)") && strings.Contains(body, "please look")
	})
	// And the second desk refuses a duplicate dispute on the same subject.
	if code, body := e2.post(c2, "/dispute", url.Values{"a": {s}, "contact": {"me@shop.example"}, "message": {"again"}}); code != 400 || !strings.Contains(body, "already waiting") {
		t.Fatalf("duplicate on the second desk: %d", code)
	}
}

func TestDeskWithoutTokensServesOnlyLookups(t *testing.T) {
	e := startEnv(t, func(c *enforcer.Config) { c.API.Tokens = nil })
	c := e.client()
	if code, body := e.get(c, "/lookup?a=x@clean.example"); code != 200 || !strings.Contains(body, "is not blocked") {
		t.Fatalf("lookup: %d", code)
	}
	if code, body := e.get(c, "/staff"); code != 404 || !strings.Contains(body, "needs the operator API") {
		t.Fatalf("staff without tokens: %d", code)
	}
	if code, _ := e.post(c, "/staff/login", url.Values{"token": {adminToken}}); code != 404 {
		t.Fatalf("login without tokens: %d", code)
	}
}

func TestDeskConfigInEnforcer(t *testing.T) {
	cfg := enforcer.Default()
	cfg.Desk.Enabled, cfg.Mode = true, enforcer.ModeAgent
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "desk.enabled") {
		t.Fatalf("desk in agent mode: %v", err)
	}
	cfg = enforcer.Default()
	cfg.Desk.Enabled, cfg.Desk.Addr = true, "nowhere"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "desk.addr") {
		t.Fatalf("bad desk.addr: %v", err)
	}
}

// With Kafka gone, lookups still answer from the ban set in memory, and a
// dispute is refused with "try again" and not stored.
func TestDisputeWithKafkaDown(t *testing.T) {
	e, cluster := startEnvKfake(t, func(c *enforcer.Config) { c.API.ProduceTimeout = time.Second })
	s := "down@shop.example"
	e.produceBan(invalidRecipientsBan(s))
	cluster.Close()
	c := e.client()
	if code, body := e.get(c, "/lookup?a="+s); code != 200 || !strings.Contains(body, "is blocked") {
		t.Fatalf("lookup with Kafka down: %d", code)
	}
	code, body := e.post(c, "/dispute", url.Values{"a": {s}, "contact": {"me@shop.example"}, "message": {"hello"}})
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "try again") || strings.Contains(body, "recorded") {
		t.Fatalf("dispute with Kafka down: %d\n%s", code, body)
	}
	if e.metric("mxwarden_enforcer_desk_disputes_total", "result", "unavailable") != 1 || e.metric("mxwarden_enforcer_desk_disputes_open") != 0 {
		t.Fatal("unavailable dispute not counted, or stored")
	}
}

func TestStaffListPages(t *testing.T) {
	e := startEnv(t, nil)
	for i := range 55 {
		b := invalidRecipientsBan(fmt.Sprintf("bulk%02d@pages.example", i))
		b.TS = b.TS.Add(time.Duration(i) * time.Second)
		e.produceBan(b)
	}
	c := e.client()
	e.login(c, viewerToken)
	_, body := e.get(c, "/staff?subject=pages.example")
	if !strings.Contains(body, "55 bans, showing 1 to 50") || !strings.Contains(body, "bulk54@pages.example") || strings.Contains(body, "bulk04@pages.example") {
		t.Fatal("first page wrong")
	}
	m := regexp.MustCompile(`<a href="(/staff\?[^"]+)">Next page</a>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no next page link")
	}
	_, body = e.get(c, html.UnescapeString(m[1]))
	if !strings.Contains(body, "55 bans, showing 51 to 55") || !strings.Contains(body, "bulk00@pages.example") || !strings.Contains(body, "Previous page") {
		t.Fatal("second page wrong")
	}
}

// The desk's metrics pass client_golang's promlint and carry no
// per-subject or per-client label.
func TestDeskMetricsLint(t *testing.T) {
	e := startEnv(t, nil)
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var mine []*dto.MetricFamily
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "mxwarden_enforcer_desk_") {
			mine = append(mine, mf)
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() != "page" && l.GetName() != "code" && l.GetName() != "what" && l.GetName() != "result" && l.GetName() != "change" {
						t.Errorf("%s has label %s", mf.GetName(), l.GetName())
					}
				}
			}
		}
	}
	if len(mine) < 7 {
		t.Fatalf("%d desk metric families", len(mine))
	}
	problems, err := promlint.NewWithMetricFamilies(mine).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}
