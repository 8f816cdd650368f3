// Package resolve answers the lookups the recipient stage's rules await:
// whether a mail domain can receive mail (MX, null MX, implicit MX, the
// MX hosts' addresses) and whether an IP address is listed on a DNSBL
// (with the RFC 5782 §5 self-test), with github.com/miekg/dns against the
// configured recursive resolvers, a bounded cache with positive and
// negative TTLs, a per-query timeout and a bound on each lookup.
//
// A lookup that fails (SERVFAIL, timeout, REFUSED, anything else) is
// reported as such and is never evidence: the rules ban only on a
// definitive answer. A name that is not a valid host name never reaches a
// query (CheckName), and is counted.
package resolve

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// Config is the detector's dns section.
type Config struct {
	// Servers are the recursive resolvers, host:port, tried in order.
	// Empty (the default) reads the nameservers of ResolvConf.
	Servers []string `koanf:"servers"`
	// ResolvConf is read when Servers is empty. Default /etc/resolv.conf.
	ResolvConf string `koanf:"resolv_conf"`
	// Timeout bounds one query to one server. Default 2s.
	Timeout time.Duration `koanf:"timeout"`
	// Attempts is how many rounds over the servers one query makes
	// before it counts as failed. Default 2.
	Attempts int `koanf:"attempts"`
	// LookupTimeout bounds one whole lookup (an MX lookup makes up to
	// 1 + 2 x max_mx_hosts queries); an event awaiting it waits at most
	// this long. Default 10s.
	LookupTimeout time.Duration `koanf:"lookup_timeout"`
	// Concurrency is how many lookups run at once; more wait in a queue
	// of 64 x concurrency, beyond which a lookup fails at once ("error",
	// never evidence). Default 16.
	Concurrency int `koanf:"concurrency"`
	// CacheSize bounds the cached answers (one per name and type).
	// Default 100000 (about 20 MB at most).
	CacheSize int `koanf:"cache_size"`
	// MaxTTL caps how long a positive answer is cached. Default 1h.
	MaxTTL time.Duration `koanf:"max_ttl"`
	// MaxNegativeTTL caps how long NXDOMAIN and NODATA are cached (their
	// TTL is the SOA minimum, RFC 2308 §5). Default 1h.
	MaxNegativeTTL time.Duration `koanf:"max_negative_ttl"`
	// FailureTTL is how long a failed query is remembered, so a broken
	// zone is not queried for every event. Default 30s.
	FailureTTL time.Duration `koanf:"failure_ttl"`
	// MaxMXHosts bounds the MX hosts whose addresses one lookup checks,
	// in preference order. Default 10.
	MaxMXHosts int `koanf:"max_mx_hosts"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		ResolvConf:     "/etc/resolv.conf",
		Timeout:        2 * time.Second,
		Attempts:       2,
		LookupTimeout:  10 * time.Second,
		Concurrency:    16,
		CacheSize:      100_000,
		MaxTTL:         time.Hour,
		MaxNegativeTTL: time.Hour,
		FailureTTL:     30 * time.Second,
		MaxMXHosts:     10,
	}
}

// Validate checks the section (not the resolv.conf file: New reads it).
func (c Config) Validate() error {
	var errs []error
	for _, s := range c.Servers {
		if _, _, err := net.SplitHostPort(s); err != nil {
			errs = append(errs, fmt.Errorf("servers: %q: want host:port: %w", s, err))
		}
	}
	if len(c.Servers) == 0 && c.ResolvConf == "" {
		errs = append(errs, errors.New("resolv_conf: must not be empty when servers is"))
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"timeout", c.Timeout}, {"lookup_timeout", c.LookupTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %s: must be positive", d.name, d.v))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"max_ttl", c.MaxTTL}, {"max_negative_ttl", c.MaxNegativeTTL}, {"failure_ttl", c.FailureTTL}} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %s: must not be negative", d.name, d.v))
		}
	}
	for _, n := range []struct {
		name string
		v    int
	}{{"attempts", c.Attempts}, {"concurrency", c.Concurrency}, {"cache_size", c.CacheSize}, {"max_mx_hosts", c.MaxMXHosts}} {
		if n.v < 1 {
			errs = append(errs, fmt.Errorf("%s %d: must be at least 1", n.name, n.v))
		}
	}
	return errors.Join(errs...)
}
