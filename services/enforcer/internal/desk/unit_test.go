package desk

import (
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// The rule codes the detector has or is getting (issue 13).
var ruleCodes = []string{
	"invalid_recipients", "banned_software", "cron_flood", "invalid_sender", "webform_spam", "limit_evasion",
	"rate_limit", "automated_mail", "bulk_marketing", "spf_rejections", "spoofing", "auth_failures",
	"sms_gateway", "nonexistent_recipient", "mailbox_full", "unwanted", "junk_to_third_party", "no_mx",
	"false_blocklist_claim", "queue_flood", "manual",
}

func TestReasonsCoverEveryRule(t *testing.T) {
	for _, code := range ruleCodes {
		r, ok := Reasons[code]
		if !ok {
			t.Errorf("%s: no explanation", code)
			continue
		}
		if r.Title == "" || r.Saw == "" || r.Matters == "" || len(r.Fix) == 0 {
			t.Errorf("%s: incomplete explanation %+v", code, r)
		}
		for _, m := range placeholder.FindAllStringSubmatch(r.Summary, -1) {
			if _, ok := evidenceLabels[m[1]]; !ok {
				t.Errorf("%s: summary names unlabelled number %q", code, m[1])
			}
		}
		for _, k := range r.Public {
			if _, ok := evidenceLabels[k]; !ok {
				t.Errorf("%s: public number %q has no label", code, k)
			}
		}
	}
	if len(Reasons) != len(ruleCodes) {
		t.Errorf("%d explanations for %d codes", len(Reasons), len(ruleCodes))
	}
	g := ReasonFor("brand_new_rule")
	if g.Code != "brand_new_rule" || g.Title != Generic.Title {
		t.Fatalf("unknown code: %+v", g)
	}
}

func TestSummarizeAndNumbers(t *testing.T) {
	ev := map[string]float64{"attempts": 40, "user_unknown": 31, "ratio": 0.775, "threshold_ratio": 0.5, "window_seconds": 3600, "internal_hash": 12345}
	r := Reasons["invalid_recipients"]
	if got := Summarize(r, ev); got != "31 of 40 recipients did not exist, in 1 hour." {
		t.Fatalf("summary %q", got)
	}
	delete(ev, "attempts")
	if got := Summarize(r, ev); got != "" {
		t.Fatalf("summary with a missing number: %q", got)
	}
	// A reason without a public list shows only labelled numbers.
	nums := PublicNumbers(Reasons["banned_software"], map[string]float64{"count": 3, "internal_hash": 9})
	if len(nums) != 1 || nums[0].Key != "count" || nums[0].Value != "3" {
		t.Fatalf("public numbers %+v", nums)
	}
	if all := AllNumbers(map[string]float64{"count": 3, "internal_hash": 9}); len(all) != 2 || all[1].Label != "internal_hash" {
		t.Fatalf("all numbers %+v", all)
	}
	for d, want := range map[time.Duration]string{time.Hour: "1 hour", 90 * time.Minute: "90 minutes", 48 * time.Hour: "2 days", 61 * time.Second: "61 seconds"} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestDisplay(t *testing.T) {
	for in, want := range map[string]string{
		"plain@example.com":     "plain@example.com",
		"a\u202eb":              "a[U+202E]b",
		"a\x00b\nc":             "a[U+0000]b[U+000A]c",
		"z\u200bw":              "z[U+200B]w",
		"bad\xffbyte":           "bad[0xFF]byte",
		strings.Repeat("x", 12): "xxxxxxxxxx… (2 more bytes)",
	} {
		max := 100
		if len(in) == 12 {
			max = 10
		}
		if got := Display(in, max); got != want {
			t.Errorf("Display(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSubject(t *testing.T) {
	good := map[string]string{
		" <User@Example.COM> ": "user@example.com",
		"example.com":          "example.com",
		"root@localhost":       "root@localhost",
		"::ffff:192.0.2.1":     "192.0.2.1",
		`"><b>@evil.example`:   `"><b>@evil.example`,
	}
	for in, want := range good {
		if got, problem := parseSubject(in); problem != "" || got != want {
			t.Errorf("parseSubject(%q) = %q, %q; want %q", in, got, problem, want)
		}
	}
	for _, in := range []string{"", "a b@x.example", "x@", "@x.example", "localhost", "a=>b@x.example", "a\u202e@x.example",
		"x@.example", "x@a..b", strings.Repeat("a", 250) + "@x.example"} {
		if got, problem := parseSubject(in); problem == "" {
			t.Errorf("parseSubject(%q) = %q, want a problem", in, got)
		}
	}
}

func TestLimiter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(1.0/60, 2, func() time.Time { return now })
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	if got := []bool{l.allow(a), l.allow(a), l.allow(a)}; !got[0] || !got[1] || got[2] {
		t.Fatalf("burst of 2 not enforced: %v", got)
	}
	if !l.allow(b) {
		t.Fatal("another client shares the bucket")
	}
	now = now.Add(time.Minute)
	if got := []bool{l.allow(a), l.allow(a)}; !got[0] || got[1] {
		t.Fatalf("one token a minute not refilled: %v", got)
	}
	v6a, v6b := netip.MustParseAddr("2001:db8::1"), netip.MustParseAddr("2001:db8::ffff:2")
	if got := []bool{l.allow(v6a), l.allow(v6b), l.allow(v6a)}; !got[0] || !got[1] || got[2] {
		t.Fatalf("one /64 is not one client: %v", got)
	}
}

func TestClientIP(t *testing.T) {
	trusted, err := parsePrefixes([]string{"10.0.0.0/8", "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ peer, xff, want string }{
		{"192.0.2.7:5000", "", "192.0.2.7"},
		{"192.0.2.7:5000", "203.0.113.9", "192.0.2.7"}, // untrusted peer: header ignored
		{"10.1.1.1:5000", "203.0.113.9", "203.0.113.9"},
		{"10.1.1.1:5000", "198.51.100.1, 203.0.113.9, 10.2.2.2", "203.0.113.9"}, // right-most untrusted
		{"127.0.0.1:5000", "garbage", "127.0.0.1"},
		{"[::ffff:192.0.2.8]:5000", "", "192.0.2.8"},
	} {
		r := httptest.NewRequest("GET", "/lookup", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientIP(r, trusted).String(); got != tc.want {
			t.Errorf("peer %s xff %q: %s, want %s", tc.peer, tc.xff, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("disabled default: %v", err)
	}
	c.Enabled = true
	if err := c.Validate(); err != nil {
		t.Fatalf("enabled default: %v", err)
	}
	for key, mod := range map[string]func(*Config){
		"desk.addr":               func(c *Config) { c.Addr = "nope" },
		"desk.ticket_url":         func(c *Config) { c.TicketURL = "javascript:alert(1)" },
		"desk.public_url":         func(c *Config) { c.PublicURL = "https://x.example/\"><" },
		"desk.lookups_per_minute": func(c *Config) { c.LookupsPerMinute = 0 },
		"desk.lookup_burst":       func(c *Config) { c.LookupBurst = 0 },
		"desk.disputes_per_hour":  func(c *Config) { c.DisputesPerHour = -1 },
		"desk.trusted_proxies":    func(c *Config) { c.TrustedProxies = []string{"10.0.0.0/33"} },
		"desk.session_ttl":        func(c *Config) { c.SessionTTL = time.Second },
		"desk.max_open_disputes":  func(c *Config) { c.MaxOpenDisputes = 0 },
		"desk.platform":           func(c *Config) { c.Platform = "" },
	} {
		c := DefaultConfig()
		c.Enabled = true
		mod(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("%s: %v", key, err)
		}
	}
}
