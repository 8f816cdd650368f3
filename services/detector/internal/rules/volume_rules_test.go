package rules

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestVolumeRulesRefuseBadConfig: every invalid setting is refused at
// build time with the key named, so a typo never runs silently.
func TestVolumeRulesRefuseBadConfig(t *testing.T) {
	cases := []struct {
		name string
		sec  Section
		want string
	}{
		{"rate hourly", RateLimitConfig{On: true, Hourly: 0, BanFactor: 3}, "hourly"},
		{"rate factor", RateLimitConfig{On: true, Hourly: 300, BanFactor: 0.5}, "ban_factor"},
		{"rate override", RateLimitConfig{On: true, Hourly: 300, Overrides: []string{"bob@x.example:10"}}, "overrides"},
		{"rate override zero", RateLimitConfig{On: true, Hourly: 300, Overrides: []string{"bob@x.example=0"}}, "overrides"},
		{"rate override hostile", RateLimitConfig{On: true, Hourly: 300, Overrides: []string{"a\u202eb=10"}}, "overrides"},
		{"evasion senders", LimitEvasionConfig{On: true, Window: time.Hour, Limit: 300, MinSenders: 1}, "min_senders"},
		{"spf ratio", SPFRejectionsConfig{On: true, Window: time.Hour, MinRejections: 5, Ratio: 1.5}, "ratio"},
		{"spoof files", SpoofingConfig{On: true, Window: 24 * time.Hour, MinAddresses: 2, OwnerFiles: []string{"/nonexistent/domainowners"}}, "owner_files"},
		{"auth logins", AuthFailuresConfig{On: true, Window: 10 * time.Minute, MaxFailures: 10, MinLogins: 1, MinLoginFailures: 5}, "min_logins"},
		{"ticket too long", RateLimitConfig{On: true, Hourly: 300, BanFactor: 3}, "ticket_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			env := testEnv(t)
			if c.name == "ticket too long" {
				env.TicketURL = "https://example.com/" + strings.Repeat("x", 300)
			}
			if _, err := c.sec.Build(env); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Build: %v, want an error naming %s", err, c.want)
			}
		})
	}
	for _, sec := range []Section{RateLimitConfig{}.Default(), AccountRateLimitConfig{}.Default(), LimitEvasionConfig{}.Default(),
		SPFRejectionsConfig{}.Default(), SpoofingConfig{}.Default(), AuthFailuresConfig{}.Default()} {
		if _, err := sec.Build(testEnv(t)); err != nil {
			t.Errorf("defaults of %T: %v", sec, err)
		}
	}
}

// TestOwnerFiles: DirectAdmin and cPanel lines, comments and the cPanel
// catch-all are read; a malformed line is refused with its number; a
// changed file is read again.
func TestOwnerFiles(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "userdomains")
	write := func(s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("# cPanel\nshop.example: bob\n*: nobody\nBlog.Example : bob\n")
	r, err := SpoofingConfig{On: true, Window: 24 * time.Hour, MinAddresses: 2, OwnerFiles: []string{p}}.Build(testEnv(t))
	if err != nil {
		t.Fatal(err)
	}
	s := r.(*spoofing)
	for _, c := range []struct {
		login, domain string
		owned, known  bool
	}{
		{"bob", "shop.example", true, true},
		{"bob", "mail.blog.example", true, true},         // a subdomain of an owned domain
		{"ann@shop.example", "blog.example", true, true}, // same owner as the login's domain
		{"ann@shop.example", "shop.example", true, true},
		{"bob", "bank.example", false, true},
		{"carol", "shop.example", false, true},
	} {
		if o, k := s.owned(c.login, c.domain); o != c.owned || k != c.known {
			t.Errorf("owned(%s, %s) = %v, %v; want %v, %v", c.login, c.domain, o, k, c.owned, c.known)
		}
	}
	write("shop.example: carol\n")
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, future, future); err != nil {
		t.Fatal(err)
	}
	if err := s.reload(); err != nil {
		t.Fatal(err)
	}
	if o, _ := s.owned("carol", "shop.example"); !o {
		t.Error("changed owner file not read again")
	}
	write("shop.example bob\n")
	if err := readOwners(p, map[string]string{}); err == nil || !strings.Contains(err.Error(), ":1:") {
		t.Errorf("malformed line: %v", err)
	}
}
