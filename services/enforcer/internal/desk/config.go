package desk

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"time"
)

// Config is the abuse desk (the enforcer's desk.* section).
type Config struct {
	// Enabled serves the desk (server mode only). Default false.
	Enabled bool `koanf:"enabled"`
	// Addr is the desk's own listen address, apart from http.addr so the
	// public lookup page can be exposed without the metrics and the API.
	// Default 127.0.0.1:9104.
	Addr string `koanf:"addr"`
	// PublicURL is the desk's address as the public reaches it (behind a
	// proxy), e.g. "https://abuse.example.net"; links in pages use it.
	// Default "" (the request's own host).
	PublicURL string `koanf:"public_url"`
	// TicketURL is where people can open a ticket instead of (or as well
	// as) the dispute form; "" shows none. Default "".
	TicketURL string `koanf:"ticket_url"`
	// Disputes shows the dispute form on the lookup page; disputes are
	// produced to kafka.topics.disputes. Default true.
	Disputes bool `koanf:"disputes"`
	// Platform names the platform in the pages. Default "our mail platform".
	Platform string `koanf:"platform"`
	// LookupsPerMinute is the sustained rate of lookups (and logins) one
	// client IP may make; more are refused with 429. Default 20.
	LookupsPerMinute float64 `koanf:"lookups_per_minute"`
	// LookupBurst is how many lookups a client IP may make at once. Default 10.
	LookupBurst int `koanf:"lookup_burst"`
	// DisputesPerHour is the rate of disputes one client IP may file. Default 5.
	DisputesPerHour float64 `koanf:"disputes_per_hour"`
	// TrustedProxies are the CIDRs of reverse proxies whose
	// X-Forwarded-For header names the client (the right-most address not
	// itself a trusted proxy); from any other peer the header is ignored.
	// Default [] (use the TCP peer).
	TrustedProxies []string `koanf:"trusted_proxies"`
	// SessionTTL is how long a staff login lasts. Default 8h.
	SessionTTL time.Duration `koanf:"session_ttl"`
	// MaxOpenDisputes bounds the open disputes kept in memory; past it the
	// oldest are dropped from the staff view (still in Kafka and history)
	// and counted. Default 10000.
	MaxOpenDisputes int `koanf:"max_open_disputes"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		Addr:             "127.0.0.1:9104",
		Disputes:         true,
		Platform:         "our mail platform",
		LookupsPerMinute: 20,
		LookupBurst:      10,
		DisputesPerHour:  5,
		TrustedProxies:   []string{},
		SessionTTL:       8 * time.Hour,
		MaxOpenDisputes:  10000,
	}
}

// Validate checks the section; errors name the key.
func (c *Config) Validate() error {
	if !c.Enabled {
		return nil
	}
	var errs []error
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		errs = append(errs, fmt.Errorf("desk.addr: %q is not host:port: %w", c.Addr, err))
	}
	for _, f := range []struct{ key, v string }{{"desk.public_url", c.PublicURL}, {"desk.ticket_url", c.TicketURL}} {
		if f.v == "" {
			continue
		}
		u, err := url.Parse(f.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.ContainsAny(f.v, " \r\n\x00<>\"'") {
			errs = append(errs, fmt.Errorf("%s: %q: want an http or https URL", f.key, f.v))
		}
	}
	if c.Platform == "" || len(c.Platform) > 100 {
		errs = append(errs, errors.New("desk.platform: want 1-100 bytes"))
	}
	if c.LookupsPerMinute <= 0 {
		errs = append(errs, fmt.Errorf("desk.lookups_per_minute: %v, want > 0", c.LookupsPerMinute))
	}
	if c.LookupBurst < 1 {
		errs = append(errs, fmt.Errorf("desk.lookup_burst: %d, want >= 1", c.LookupBurst))
	}
	if c.DisputesPerHour <= 0 {
		errs = append(errs, fmt.Errorf("desk.disputes_per_hour: %v, want > 0", c.DisputesPerHour))
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("desk.trusted_proxies: %w", err))
	}
	if c.SessionTTL < time.Minute {
		errs = append(errs, fmt.Errorf("desk.session_ttl: %s, want >= 1m", c.SessionTTL))
	}
	if c.MaxOpenDisputes < 1 {
		errs = append(errs, fmt.Errorf("desk.max_open_disputes: %d, want >= 1", c.MaxOpenDisputes))
	}
	return errors.Join(errs...)
}

func parsePrefixes(ss []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("%q: %w", s, err)
			}
			out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("%q: %w", s, err)
		}
		out = append(out, p.Masked())
	}
	return out, nil
}
