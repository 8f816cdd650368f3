package desk_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/desk"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/enforcer"
)

// allowedTags are the only elements the desk's templates write. A page
// holding any other start tag (script, img, svg, iframe...) carries markup
// that came from the data.
var allowedTags = map[string]bool{
	"html": true, "head": true, "meta": true, "title": true, "link": true, "body": true, "a": true, "header": true,
	"p": true, "nav": true, "span": true, "strong": true, "form": true, "button": true, "main": true, "footer": true,
	"h1": true, "h2": true, "h3": true, "h4": true, "label": true, "div": true, "input": true, "section": true,
	"article": true, "ol": true, "ul": true, "li": true, "table": true, "caption": true, "thead": true, "tbody": true,
	"tr": true, "th": true, "td": true, "q": true, "textarea": true, "select": true, "option": true, "br": true,
	"code": true, "fieldset": true, "legend": true, "blockquote": true,
}

// assertInert fails when body holds an element or attribute the templates
// do not write, an event-handler attribute, a javascript: URL, or a raw
// bidi / invisible control character.
func assertInert(t *testing.T, what, body string) {
	t.Helper()
	z := html.NewTokenizer(strings.NewReader(body))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			continue
		}
		tok := z.Token()
		if !allowedTags[tok.Data] {
			t.Errorf("%s: unexpected element <%s> in the page", what, tok.Data)
		}
		for _, a := range tok.Attr {
			if strings.HasPrefix(a.Key, "on") || strings.Contains(strings.ToLower(a.Val), "javascript:") {
				t.Errorf("%s: <%s %s=%q>", what, tok.Data, a.Key, a.Val)
			}
			if a.Key == "style" || a.Key == "src" || a.Key == "srcdoc" {
				t.Errorf("%s: attribute %s on <%s>", what, a.Key, tok.Data)
			}
		}
	}
	for _, r := range body {
		if r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 || r == 0x200e || r == 0x200f || r == 0 {
			t.Errorf("%s: raw %U in the page", what, r)
			break
		}
	}
}

// The hostile subjects a ban can carry (event.CheckToken allows markup
// and quotes, not spaces or format characters).
var hostileSubjects = []string{
	`"><script>alert(1)</script>@evil.example`,
	`x'"onmouseover=alert(1)//@evil.example`,
	`<img/src=x/onerror=alert(1)>@evil.example`,
	`</textarea><svg/onload=alert(1)>@evil.example`,
}

func TestHostileSubjectsInert(t *testing.T) {
	e := startEnv(t, nil)
	for _, s := range hostileSubjects {
		b := invalidRecipientsBan(s)
		b.Message = "5.7.1 blocked <b>" + s + "</b>"
		e.produceBan(b)
	}
	// A hostile value that only a lookup or a form can carry: bidi
	// controls, quotes and 5 kB.
	bidi := "admin\u202e@evil.example\u2066<script>x</script>\"'" + strings.Repeat("A", 5000)
	c := e.client()
	pages := map[string]string{}
	for i, s := range hostileSubjects {
		code, body := e.get(c, "/lookup?a="+url.QueryEscape(s))
		if code != http.StatusOK && code != http.StatusBadRequest {
			t.Fatalf("lookup %q: %d", s, code)
		}
		pages["lookup "+s] = body
		_ = i
	}
	code, body := e.get(c, "/lookup?a="+url.QueryEscape(bidi))
	if code != http.StatusBadRequest || !strings.Contains(body, "invisible characters") && !strings.Contains(body, "characters long") {
		t.Fatalf("bidi lookup: %d", code)
	}
	if !strings.Contains(body, "more bytes)") {
		t.Error("5 kB lookup not cut in the echo")
	}
	pages["lookup bidi"] = body

	// Dispute on a hostile subject with a hostile message (markup, quotes).
	first := hostileSubjects[0]
	code, body = e.post(c, "/dispute", url.Values{"a": {first}, "contact": {"me@ok.example"},
		"message": {"</textarea><script>alert(2)</script>\"' please unblock"}})
	if code != http.StatusOK || !strings.Contains(body, "Your dispute was recorded") {
		t.Fatalf("hostile dispute: %d\n%s", code, body)
	}
	pages["dispute"] = body

	e.login(c, adminToken)
	_, pages["staff"] = e.get(c, "/staff")
	_, pages["staff search"] = e.get(c, "/staff?subject="+url.QueryEscape("<script>"))
	for _, s := range hostileSubjects {
		code, body := e.get(c, banPath(event.KindSender, s))
		if code != http.StatusOK {
			t.Fatalf("ban page %q: %d", s, code)
		}
		pages["ban "+s] = body
	}
	for what, body := range pages {
		assertInert(t, what, body)
	}
	// The escaped forms are there: the data is shown, not dropped.
	if !strings.Contains(pages["staff"], "&lt;/textarea&gt;&lt;script&gt;alert(2)&lt;/script&gt;") {
		t.Error("the staff view does not show the dispute's message escaped")
	}
	if !strings.Contains(pages["ban "+first], "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@evil.example") {
		t.Error("the ban page does not show the subject escaped")
	}
	if !strings.Contains(pages["lookup bidi"], "[U&#43;202E]") { // "+" is escaped in an attribute
		t.Errorf("the bidi override is not shown as [U+202E]:\n%s", pages["lookup bidi"])
	}
}

func TestLookupRateLimited(t *testing.T) {
	e := startEnv(t, func(c *enforcer.Config) {
		c.Desk.LookupsPerMinute = 1
		c.Desk.LookupBurst = 3
	})
	c := e.client()
	for i := range 3 {
		if code, _ := e.get(c, "/lookup?a=someone"+string(rune('a'+i))+"@clean.example"); code != http.StatusOK {
			t.Fatalf("lookup %d: %d", i, code)
		}
	}
	resp, err := c.Get(e.base + "/lookup?a=next@clean.example")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "60" {
		t.Fatalf("4th lookup: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	// The form itself (no lookup) is not limited.
	if code, _ := e.get(c, "/lookup"); code != http.StatusOK {
		t.Fatalf("empty form: %d", code)
	}
	if n := e.metric("mxwarden_enforcer_desk_rate_limited_total", "what", "lookup"); n != 1 {
		t.Fatalf("rate_limited_total{what=lookup} = %v, want 1", n)
	}
	if n := e.metric("mxwarden_enforcer_desk_requests_total", "page", "lookup", "code", "429"); n != 1 {
		t.Fatalf("requests_total{page=lookup,code=429} = %v, want 1", n)
	}
}

func TestDisputeFormRefusesBadInput(t *testing.T) {
	e := startEnv(t, nil)
	banned := "newsletter@cheap-leads.example"
	e.produceBan(invalidRecipientsBan(banned))
	c := e.client()
	ok := url.Values{"a": {banned}, "contact": {"owner@cheap-leads.example"}, "message": {"We cleaned the list."}}
	with := func(k, v string) url.Values {
		f := url.Values{}
		for kk, vv := range ok {
			f[kk] = vv
		}
		f.Set(k, v)
		return f
	}
	cases := []struct {
		name string
		form url.Values
		want string
	}{
		{"too long", with("message", strings.Repeat("x", event.MaxDisputeMessage+1)), "please shorten it to at most 2000"},
		{"empty message", with("message", "   "), "Tell us in a few sentences"},
		{"bidi in message", with("message", "fine\u202etxt.exe"), "invisible or control characters"},
		{"NUL in message", with("message", "a\x00b"), "invisible or control characters"},
		{"no contact", with("contact", ""), "Enter the email address we should answer you at"},
		{"malformed contact", with("contact", "not-an-address"), "Enter the email address we should answer you at"},
		{"contact with newline", with("contact", "a@b.example\nBcc: x@y.example"), "Enter the email address we should answer you at"},
		{"nothing to dispute", with("a", "clean@clean.example"), "There is no block on this address"},
		{"malformed subject", with("a", "a b@@"), "spaces or invisible characters"},
		{"huge body", with("message", strings.Repeat("y", 20<<10)), "too large or malformed"},
	}
	for _, tc := range cases {
		code, body := e.post(c, "/dispute", tc.form)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d, want 400 with %q\n%s", tc.name, code, tc.want, body)
		}
		if strings.Contains(body, "Your dispute was recorded") {
			t.Errorf("%s: recorded", tc.name)
		}
	}
	if recs := e.records(e.cfg.Kafka.Topics.Disputes); len(recs) != 0 {
		t.Fatalf("refused disputes produced %d records", len(recs))
	}
	if n := e.metric("mxwarden_enforcer_desk_disputes_total", "result", "refused"); n != float64(len(cases)) {
		t.Errorf("disputes_total{result=refused} = %v, want %d", n, len(cases))
	}
	code, body := e.post(c, "/dispute", ok)
	if code != http.StatusOK || !strings.Contains(body, "Your dispute was recorded") {
		t.Fatalf("good dispute: %d\n%s", code, body)
	}
	recs := e.records(e.cfg.Kafka.Topics.Disputes)
	if len(recs) != 1 {
		t.Fatalf("%d dispute records, want 1", len(recs))
	}
	d, err := event.UnmarshalDispute(recs[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if d.Subject != banned || d.Contact != "owner@cheap-leads.example" || d.Status != event.DisputeOpen ||
		len(d.Bans) != 1 || d.Bans[0] != "sender:"+banned || d.Rules[0] != "invalid_recipients" || string(recs[0].Key) != d.ID {
		t.Fatalf("dispute record %+v", d)
	}
	// One open dispute per subject: a second is refused and not produced.
	if code, body := e.post(c, "/dispute", ok); code != http.StatusBadRequest || !strings.Contains(body, "already waiting") {
		t.Fatalf("second dispute: %d", code)
	}
	if recs := e.records(e.cfg.Kafka.Topics.Disputes); len(recs) != 1 {
		t.Fatalf("%d dispute records after a refused second, want 1", len(recs))
	}
}

func TestReadOnlyTokenCannotChange(t *testing.T) {
	e := startEnv(t, nil)
	banned := "cron@server.example"
	e.produceBan(invalidRecipientsBan(banned))
	c := e.client()
	e.login(c, viewerToken)
	code, body := e.get(c, banPath(event.KindSender, banned))
	if code != http.StatusOK {
		t.Fatalf("ban page: %d", code)
	}
	for _, action := range []string{"/staff/unban", "/staff/allow", "/staff/extend"} {
		if strings.Contains(body, `action="`+action+`"`) {
			t.Errorf("read-only view has the %s form", action)
		}
	}
	if !strings.Contains(body, "read-only") {
		t.Error("read-only view does not say so")
	}
	// Posting the change anyway, with the session's own CSRF token, is refused.
	_, staff := e.get(c, "/staff")
	tok := csrf(t, staff) // the sign-out form carries it
	code, body = e.post(c, "/staff/unban", url.Values{"csrf": {tok}, "kind": {"sender"}, "subject": {banned}, "reason": {"try"}})
	if code != http.StatusForbidden || !strings.Contains(body, "read-only") {
		t.Fatalf("read-only unban: %d\n%s", code, body)
	}
	// And the API itself refuses the read-only token.
	if code := e.apiDo(http.MethodDelete, "/api/v1/bans/sender/"+banned+"?reason=try", viewerToken, ""); code != http.StatusForbidden {
		t.Fatalf("API unban with the read-only token: %d, want 403", code)
	}
	if got := e.policy(banned, "x@ok.example"); !strings.HasPrefix(got, "action=REJECT") {
		t.Fatalf("ban lifted by a read-only token: %q", got)
	}
	if recs := e.records(e.cfg.Kafka.Topics.Bans); len(recs) != 1 {
		t.Fatalf("%d records on the bans topic, want only the ban", len(recs))
	}
}

// FuzzLookupInert renders the lookup page for any input, with a hostile
// ban in the set, and checks nothing in it became markup.
func FuzzLookupInert(f *testing.F) {
	set := banset.New(time.Now)
	for _, s := range hostileSubjects {
		set.Put(invalidRecipientsBan(s))
	}
	cfg := desk.DefaultConfig()
	cfg.Enabled, cfg.LookupsPerMinute, cfg.LookupBurst = true, 1e12, 1<<30
	srv, err := desk.New(cfg, desk.Deps{Backend: &api.Local{Set: set}, Kafka: kafka.DefaultConfig("test")})
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range hostileSubjects {
		f.Add(s)
	}
	f.Add("admin\u202e@evil.example\u2066<svg/onload=alert(1)>")
	f.Add("\x00\xff<script>")
	f.Fuzz(func(t *testing.T, a string) {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/lookup?a="+url.QueryEscape(a), nil))
		if rec.Code != http.StatusOK && rec.Code != http.StatusBadRequest {
			t.Fatalf("lookup %q: %d", a, rec.Code)
		}
		assertInert(t, "lookup", rec.Body.String())
	})
}

// The public page reveals nothing about other customers: no pair ban and
// its third party, no other address of a domain, no account, no ban that
// is not enforced, and a domain ban shows on its addresses.
func TestLookupRevealsNothingElse(t *testing.T) {
	e := startEnv(t, nil)
	pair := ruleBan("unwanted", event.KindSenderRecipient, event.PairSubject("alice@x.example", "bob@y.example"),
		map[string]float64{"complaints": 3}, "5.7.1 bob@y.example does not want your mail")
	e.produceBan(pair)
	e.produceBan(ruleBan("rate_limit", event.KindAccount, "acct123", map[string]float64{"count": 400}, "4.7.1 slow down"))
	e.produceBan(invalidRecipientsBan("other@x.example"))
	shadow := invalidRecipientsBan("shadow@x.example")
	shadow.Shadow = true
	e.produceBan(shadow)
	flag := invalidRecipientsBan("flag@x.example")
	flag.Action = event.ActionFlag
	e.produceBan(flag)
	dom := ruleBan("no_mx", event.KindRecipientDomain, "nomx.example", map[string]float64{"dns_failures": 12}, "5.1.2 no MX")
	e.produceBan(dom)
	c := e.client()
	for _, a := range []string{"alice@x.example", "bob@y.example", "x.example", "shadow@x.example", "flag@x.example"} {
		code, body := e.get(c, "/lookup?a="+url.QueryEscape(a))
		if code != http.StatusOK || !strings.Contains(body, "is not blocked") {
			t.Errorf("%s: %d, want a clean answer", a, code)
		}
		for _, leak := range []string{"bob@y.example", "alice@x.example", "other@x.example", "acct123"} {
			if leak != a && strings.Contains(body, leak) {
				t.Errorf("lookup %s shows %s", a, leak)
			}
		}
	}
	if code, body := e.get(c, "/lookup?a=acct123"); code != http.StatusBadRequest || strings.Contains(body, "slow down") {
		t.Errorf("account lookup: %d", code)
	}
	code, body := e.get(c, "/lookup?a=someone@nomx.example")
	if code != http.StatusOK || !strings.Contains(body, "Mail to this domain has been blocked: Domain cannot receive mail") ||
		!strings.Contains(body, "publish a valid MX record") {
		t.Fatalf("domain ban on an address: %d", code)
	}
}
