package resolve

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxwarden/mxwarden/services/detector/internal/resolve/dnstest"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

func startZone(t testing.TB) *dnstest.Server {
	t.Helper()
	s, err := dnstest.StartZone()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func testClient(t testing.TB, addr string, reg prometheus.Registerer) *Client {
	t.Helper()
	cfg := DefaultConfig()
	cfg.Servers = []string{addr}
	cfg.Timeout = 200 * time.Millisecond
	cfg.Attempts = 1
	cfg.LookupTimeout = 2 * time.Second
	c, err := New(cfg, NewMetrics(reg))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestMX(t *testing.T) {
	srv := startZone(t)
	c := testClient(t, srv.Addr, prometheus.NewRegistry())
	for _, tc := range []struct {
		domain string
		result string
		can    float64 // -1: no facts (a failure)
		fact   string  // a fact that must be 1 (or the count given)
	}{
		{"ok-mail.com", ResultOK, 1, "mx_hosts_routable"},
		{"OK-Mail.COM.", ResultOK, 1, "mx_hosts_routable"},
		{"a-only.com", ResultNoData, 1, "implicit_mx"},
		{"cname-mx.com", ResultOK, 1, "mx_hosts_routable"},
		{"mixed-mx.com", ResultOK, 1, "mx_hosts_routable"},
		{"mx-down.com", ResultOK, 1, "mx_hosts_routable"},
		{"big-mx.com", ResultOK, 1, "mx_hosts_routable"}, // truncated over UDP, answered over TCP
		{"nxdomain-here.com", ResultNXDomain, 0, "dns_nxdomain"},
		{"null-mx.com", ResultOK, 0, "null_mx"},
		{"txt-only.com", ResultNoData, 0, ""},
		{"private-mx.com", ResultOK, 0, "mx_hosts_unroutable"},
		{"loop-mx.com", ResultOK, 0, "mx_hosts_unroutable"},
		{"reserved-mx.com", ResultOK, 0, "mx_hosts_unroutable"},
		{"dangling-mx.com", ResultOK, 0, "mx_hosts_noaddr"},
		{"servfail.com", ResultServFail, -1, ""},
		{"refused.com", ResultRefused, -1, ""},
		{"timeout.com", ResultTimeout, -1, ""},
		{"servfail-mx.com", ResultServFail, -1, ""}, // the only MX host fails: no evidence
	} {
		t.Run(tc.domain, func(t *testing.T) {
			a := c.Lookup(context.Background(), rules.Lookup{Kind: KindMX, Name: tc.domain})
			if a.Result != tc.result {
				t.Fatalf("result %q, want %q (facts %v)", a.Result, tc.result, a.Facts)
			}
			if tc.can < 0 {
				if !Failed(a.Result) || a.Facts != nil {
					t.Fatalf("a failure must carry no facts: %v", a.Facts)
				}
				return
			}
			if a.Facts["can_receive"] != tc.can {
				t.Fatalf("can_receive %v, want %v (facts %v)", a.Facts["can_receive"], tc.can, a.Facts)
			}
			if tc.fact != "" && a.Facts[tc.fact] < 1 {
				t.Fatalf("fact %s missing: %v", tc.fact, a.Facts)
			}
		})
	}
}

func TestCache(t *testing.T) {
	srv := startZone(t)
	reg := prometheus.NewRegistry()
	c := testClient(t, srv.Addr, reg)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	look := func(d string) rules.Answer { return c.Lookup(ctx, rules.Lookup{Kind: KindMX, Name: d}) }

	look("ok-mail.com")
	n := srv.Queries()
	if a := look("ok-mail.com"); a.Facts["can_receive"] != 1 || srv.Queries() != n {
		t.Fatalf("warm lookup asked the server again (%d -> %d)", n, srv.Queries())
	}
	// Negative: NXDOMAIN cached for the SOA minimum (300 s), then asked again.
	look("nx-cached.com")
	n = srv.Queries()
	now = now.Add(299 * time.Second)
	look("nx-cached.com")
	if srv.Queries() != n {
		t.Fatal("NXDOMAIN not cached for the SOA minimum")
	}
	now = now.Add(2 * time.Second)
	look("nx-cached.com")
	if srv.Queries() != n+1 {
		t.Fatalf("NXDOMAIN still cached past the SOA minimum (%d queries, want %d)", srv.Queries(), n+1)
	}
	// Positive: cached for the record TTL (300 s), capped by max_ttl.
	n = srv.Queries()
	now = now.Add(301 * time.Second)
	look("ok-mail.com")
	if srv.Queries() == n {
		t.Fatal("positive answer cached past its TTL")
	}
	// Failures are remembered only failure_ttl (30 s).
	look("servfail.com")
	n = srv.Queries()
	look("servfail.com")
	if srv.Queries() != n {
		t.Fatal("failure not remembered for failure_ttl")
	}
	now = now.Add(31 * time.Second)
	look("servfail.com")
	if srv.Queries() == n {
		t.Fatal("failure remembered past failure_ttl")
	}
	if v := testutil.ToFloat64(c.m.lookups.WithLabelValues(ResultServFail)); v != 2 {
		t.Fatalf("servfail lookups %v, want 2", v)
	}
	if v := testutil.ToFloat64(c.m.entries); v < 3 {
		t.Fatalf("cache entries gauge %v", v)
	}
}

func TestCacheBound(t *testing.T) {
	srv := startZone(t)
	cfg := DefaultConfig()
	cfg.Servers = []string{srv.Addr}
	cfg.CacheSize = 3
	c, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"ok-mail.com", "a-only.com", "null-mx.com", "txt-only.com", "private-mx.com", "loop-mx.com"} {
		c.MX(context.Background(), d)
		c.mu.Lock()
		n := len(c.cache)
		c.mu.Unlock()
		if n > 3 {
			t.Fatalf("%d entries cached, bound 3", n)
		}
	}
}

// TestHostileNames: nothing but a valid host name reaches a query, and
// every refusal is counted.
func TestHostileNames(t *testing.T) {
	srv := startZone(t)
	reg := prometheus.NewRegistry()
	c := testClient(t, srv.Addr, reg)
	long := strings.Repeat("a", 63) + "."
	for _, tc := range []struct{ name, reason string }{
		{"", RejectEmpty},
		{strings.Repeat("a", 64) + ".com", RejectLabelLength},
		{strings.Repeat(long, 4) + "com", RejectTooLong},
		{"a..com", RejectLabelLength},
		{"under_score.com", RejectNotLDH},
		{"-lead.com", RejectNotLDH},
		{"semi;colon.com", RejectNotLDH},
		{"with space.com", RejectNotLDH},
		{"nul\x00.com", RejectNotLDH},
		{"new\nline.com", RejectNotLDH},
		{"<b>.com", RejectNotLDH},
		{"xn--.com", RejectNotLDH},
		{"a\u202e.com", RejectIDN},
		{strings.Repeat("é", 600), RejectTooLong},
	} {
		before := srv.Queries()
		a := c.MX(context.Background(), tc.name)
		if a.Result != ResultInvalidName {
			t.Errorf("%q: result %q", tc.name, a.Result)
		}
		if srv.Queries() != before {
			t.Errorf("%q reached the server", tc.name)
		}
		if _, err := CheckName(tc.name); RejectReason(err) != tc.reason {
			t.Errorf("%q: reason %q, want %q", tc.name, RejectReason(err), tc.reason)
		}
	}
	total := 0.0
	for _, r := range RejectReasons() {
		total += testutil.ToFloat64(c.m.rejected.WithLabelValues(r))
	}
	if total != 14 {
		t.Fatalf("%v names counted as rejected, want 14", total)
	}
	// An IDN is converted to its A-label form and asked.
	if n, err := CheckName("Bücher.de"); err != nil || n != "xn--bcher-kva.de" {
		t.Fatalf("IDN: %q %v", n, err)
	}
}

func TestDNSBL(t *testing.T) {
	srv := startZone(t)
	c := testClient(t, srv.Addr, prometheus.NewRegistry())
	ctx := context.Background()
	bl := func(ip, zone string) rules.Answer {
		return c.Lookup(ctx, rules.Lookup{Kind: KindDNSBL, Name: DNSBLName(netip.MustParseAddr(ip), zone)})
	}
	if a := bl("1.2.3.4", "bl.dnsbl-test.net"); a.Facts["listed"] != 1 || a.Facts["return_octet"] != 4 || a.Facts["selftest_ok"] != 1 {
		t.Fatalf("listed IP: %+v", a)
	}
	if a := bl("1.2.3.6", "bl.dnsbl-test.net"); a.Result != ResultNXDomain || a.Facts["listed"] != 0 || a.Facts["unknown"] != 0 {
		t.Fatalf("clean IP: %+v", a)
	}
	// 127.255.255.254: "query via a public resolver": unknown, never listed.
	if a := bl("1.2.3.5", "bl.dnsbl-test.net"); a.Facts["listed"] != 0 || a.Facts["unknown"] != 1 || a.Facts["return_octet"] != 254 {
		t.Fatalf("error code: %+v", a)
	}
	// A list that answers 127.0.0.1 as listed fails the self-test.
	if r := c.query(ctx, "1.0.0.127.broken.dnsbl-test.net", dns.TypeA); r.result != ResultOK {
		t.Fatalf("the broken list should list 127.0.0.1: %+v", r)
	}
	if a := bl("1.2.3.6", "broken.dnsbl-test.net"); a.Facts["selftest_ok"] != 0 || a.Facts["unknown"] != 1 {
		t.Fatalf("broken list: %+v", a)
	}
	srv.Set("2.0.0.127.down.dnsbl-test.net", dnstest.ServFail)
	if a := bl("1.2.3.6", "down.dnsbl-test.net"); !Failed(a.Result) {
		t.Fatalf("failing list: %+v", a)
	}
}

func TestRoutable(t *testing.T) {
	for s, want := range map[string]bool{
		"93.184.216.34": true, "2606:2800:220:1::248": true, "10.0.0.1": false, "172.16.0.1": false,
		"192.168.1.1": false, "127.0.0.1": false, "::1": false, "0.0.0.0": false, "169.254.1.1": false,
		"100.64.0.1": false, "192.0.2.1": false, "198.51.100.1": false, "203.0.113.1": false, "240.0.0.1": false,
		"224.0.0.1": false, "fe80::1": false, "fc00::1": false, "2001:db8::1": false, "::ffff:10.0.0.1": false,
	} {
		if got := Routable(netip.MustParseAddr(s)); got != want {
			t.Errorf("Routable(%s) = %v", s, got)
		}
	}
}

func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"ok.com", "a..b", "bücher.de", strings.Repeat("a", 300), "x\x00y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := CheckName(s)
		if err != nil {
			if RejectReason(err) == "" {
				t.Fatalf("error without a reason: %v", err)
			}
			return
		}
		if len(n) > 253 || n == "" {
			t.Fatalf("accepted %q", n)
		}
		for i := 0; i < len(n); i++ {
			c := n[i]
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
				t.Fatalf("accepted %q with byte %q", n, c)
			}
		}
	})
}
