package resolve

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Result classes of one query, the values of
// mxwarden_detector_dns_lookups_total's label.
const (
	ResultOK       = "ok"
	ResultNXDomain = "nxdomain"
	ResultNoData   = "nodata"
	ResultServFail = "servfail"
	ResultTimeout  = "timeout"
	ResultRefused  = "refused"
	ResultError    = "error"
	// ResultInvalidName is an Answer's result (never a query's) for a
	// name CheckName refused: nothing was asked.
	ResultInvalidName = "invalid_name"
)

// Failed reports whether a result says nothing about the name: such an
// answer is never evidence.
func Failed(result string) bool {
	switch result {
	case ResultOK, ResultNXDomain, ResultNoData:
		return false
	}
	return true
}

// Metrics are the resolver's metrics (names agreed in METRICS.md).
type Metrics struct {
	lookups  *prometheus.CounterVec
	duration prometheus.Histogram
	entries  prometheus.Gauge
	rejected *prometheus.CounterVec
}

// NewMetrics registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		lookups: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_detector_dns_lookups_total",
			Help: "DNS queries sent (cache misses), by result (ok, nxdomain, nodata, servfail, timeout, refused, error).",
		}, []string{"result"}),
		duration: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "mxwarden_detector_dns_lookup_duration_seconds",
			Help:    "Time of one DNS query, all attempts and servers included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 9),
		}),
		entries: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_detector_dns_cache_entries",
			Help: "Answers in the DNS cache.",
		}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_detector_dns_names_rejected_total",
			Help: "Domain names refused before any query (empty, too_long, label_length, not_ldh, idn).",
		}, []string{"reason"}),
	}
	for _, r := range []string{ResultOK, ResultNXDomain, ResultNoData, ResultServFail, ResultTimeout, ResultRefused, ResultError} {
		m.lookups.WithLabelValues(r)
	}
	for _, r := range RejectReasons() {
		m.rejected.WithLabelValues(r)
	}
	return m
}

// Client sends the queries and caches their answers. It is safe for
// concurrent use.
type Client struct {
	cfg      Config
	servers  []string
	udp, tcp *dns.Client
	m        *Metrics
	now      func() time.Time

	mu    sync.Mutex
	cache map[qkey]*entry
	// inflight merges concurrent queries of one name and type.
	inflight map[qkey]*call
}

type qkey struct {
	name  string
	qtype uint16
}

// reply is one query's classified answer.
type reply struct {
	result string
	rrs    []dns.RR // the answer section's records of the asked type (CNAMEs followed)
	cname  string   // the last CNAME target when the answer ended on one
	ttl    time.Duration
}

type entry struct {
	r       reply
	expires time.Time
}

type call struct {
	done chan struct{}
	r    reply
}

// New builds a client; with no servers configured it reads cfg.ResolvConf.
// m may be nil (no metrics).
func New(cfg Config, m *Metrics) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	servers := slices.Clone(cfg.Servers)
	if len(servers) == 0 {
		cc, err := dns.ClientConfigFromFile(cfg.ResolvConf)
		if err != nil {
			return nil, fmt.Errorf("dns: read %s (or set dns.servers): %w", cfg.ResolvConf, err)
		}
		for _, s := range cc.Servers {
			servers = append(servers, net.JoinHostPort(s, cc.Port))
		}
		if len(servers) == 0 {
			return nil, fmt.Errorf("dns: %s names no nameserver (set dns.servers)", cfg.ResolvConf)
		}
	}
	if m == nil {
		m = NewMetrics(prometheus.NewRegistry())
	}
	return &Client{
		cfg: cfg, servers: servers, m: m, now: time.Now,
		udp:      &dns.Client{Net: "udp", Timeout: cfg.Timeout, UDPSize: 1232},
		tcp:      &dns.Client{Net: "tcp", Timeout: cfg.Timeout},
		cache:    map[qkey]*entry{},
		inflight: map[qkey]*call{},
	}, nil
}

// Servers returns the resolvers in use.
func (c *Client) Servers() []string { return slices.Clone(c.servers) }

// Reject counts a name refused by CheckName.
func (c *Client) Reject(err error) {
	if r := RejectReason(err); r != "" {
		c.m.rejected.WithLabelValues(r).Inc()
	}
}

// query answers one question, from the cache or the servers.
func (c *Client) query(ctx context.Context, name string, qtype uint16) reply {
	k := qkey{name, qtype}
	c.mu.Lock()
	if e, ok := c.cache[k]; ok {
		if c.now().Before(e.expires) {
			c.mu.Unlock()
			return e.r
		}
		delete(c.cache, k)
	}
	if cl, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		select {
		case <-cl.done:
			return cl.r
		case <-ctx.Done():
			return reply{result: ResultTimeout}
		}
	}
	cl := &call{done: make(chan struct{})}
	c.inflight[k] = cl
	c.mu.Unlock()

	start := time.Now()
	r := c.exchange(ctx, name, qtype)
	c.m.duration.Observe(time.Since(start).Seconds())
	c.m.lookups.WithLabelValues(r.result).Inc()

	ttl := r.ttl
	switch {
	case Failed(r.result):
		ttl = c.cfg.FailureTTL
	case r.result == ResultOK:
		ttl = min(ttl, c.cfg.MaxTTL)
	default:
		ttl = min(ttl, c.cfg.MaxNegativeTTL)
	}
	c.mu.Lock()
	delete(c.inflight, k)
	if ttl > 0 && ctx.Err() == nil {
		if len(c.cache) >= c.cfg.CacheSize {
			c.evict()
		}
		c.cache[k] = &entry{r: r, expires: c.now().Add(ttl)}
	}
	c.m.entries.Set(float64(len(c.cache)))
	c.mu.Unlock()
	cl.r = r
	close(cl.done)
	return r
}

// evict makes room for one entry: expired entries first, else an
// arbitrary one (Go's map order). Callers hold c.mu.
func (c *Client) evict() {
	now := c.now()
	n := 0
	for k, e := range c.cache {
		if !now.Before(e.expires) {
			delete(c.cache, k)
		}
		if n++; n >= 32 {
			break
		}
	}
	for k := range c.cache {
		if len(c.cache) < c.cfg.CacheSize {
			return
		}
		delete(c.cache, k)
	}
}

// exchange asks the servers in turn (Attempts rounds), over UDP and, for
// a truncated answer, again over TCP. SERVFAIL and REFUSED move on to the
// next server; the last failure is the result.
func (c *Client) exchange(ctx context.Context, name string, qtype uint16) reply {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.RecursionDesired = true
	q.SetEdns0(1232, false)
	last := reply{result: ResultError}
	for range c.cfg.Attempts {
		for _, srv := range c.servers {
			if ctx.Err() != nil {
				return reply{result: ResultTimeout}
			}
			resp, _, err := c.udp.ExchangeContext(ctx, q, srv)
			if err == nil && resp.Truncated {
				resp, _, err = c.tcp.ExchangeContext(ctx, q, srv)
			}
			if err != nil {
				last = reply{result: classifyErr(err)}
				continue
			}
			r := classify(resp, name, qtype)
			if r.result == ResultServFail || r.result == ResultRefused || r.result == ResultError {
				last = r
				continue
			}
			return r
		}
	}
	return last
}

func classifyErr(err error) string {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || (errors.As(err, &ne) && ne.Timeout()) {
		return ResultTimeout
	}
	return ResultError
}

// defaultNegativeTTL is used for a negative answer without an SOA.
const defaultNegativeTTL = 5 * time.Minute

// classify reads a response: the records of the asked type in the answer
// (following the CNAME chain within it from the asked name), or the
// negative answer's TTL from the SOA (RFC 2308 §5: the smaller of its TTL
// and its MINIMUM field).
func classify(resp *dns.Msg, name string, qtype uint16) reply {
	switch resp.Rcode {
	case dns.RcodeSuccess, dns.RcodeNameError:
	case dns.RcodeServerFailure:
		return reply{result: ResultServFail}
	case dns.RcodeRefused:
		return reply{result: ResultRefused}
	default:
		return reply{result: ResultError}
	}
	owner := dns.Fqdn(name)
	var r reply
	// Follow CNAMEs within the answer (at most 8, against loops).
	for range 8 {
		next := ""
		for _, rr := range resp.Answer {
			if h := rr.Header(); strings.EqualFold(h.Name, owner) {
				if cn, ok := rr.(*dns.CNAME); ok && qtype != dns.TypeCNAME {
					next = cn.Target
				}
			}
		}
		if next == "" {
			break
		}
		owner, r.cname = next, strings.TrimSuffix(strings.ToLower(next), ".")
	}
	var ttl uint32
	for _, rr := range resp.Answer {
		h := rr.Header()
		if h.Rrtype == qtype && strings.EqualFold(h.Name, owner) {
			if len(r.rrs) == 0 || h.Ttl < ttl {
				ttl = h.Ttl
			}
			r.rrs = append(r.rrs, rr)
		}
	}
	if len(r.rrs) > 0 {
		r.result, r.cname = ResultOK, ""
		r.ttl = time.Duration(ttl) * time.Second
		return r
	}
	if r.cname != "" && resp.Rcode == dns.RcodeSuccess {
		// The chain leaves the answer: the caller asks for the target.
		r.result = ResultOK
		return r
	}
	r.result = ResultNoData
	if resp.Rcode == dns.RcodeNameError {
		r.result = ResultNXDomain
	}
	r.ttl = defaultNegativeTTL
	for _, rr := range resp.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			r.ttl = time.Duration(min(soa.Hdr.Ttl, soa.Minttl)) * time.Second
			break
		}
	}
	return r
}

// resolve asks name/qtype, chasing a CNAME chain that leaves the answer
// (at most 8 hops). A chain into NXDOMAIN is NXDOMAIN.
func (c *Client) resolve(ctx context.Context, name string, qtype uint16) reply {
	for range 8 {
		r := c.query(ctx, name, qtype)
		if r.result != ResultOK || len(r.rrs) > 0 || r.cname == "" {
			return r
		}
		target, err := CheckName(r.cname)
		if err != nil {
			c.Reject(err)
			return reply{result: ResultError}
		}
		name = target
	}
	return reply{result: ResultError}
}

// addrs returns the A and AAAA addresses of host: the result is ok when
// either answered with addresses, a failure when neither did and one
// failed, else the negative answer.
func (c *Client) addrs(ctx context.Context, host string) ([]netip.Addr, string) {
	var out []netip.Addr
	results := make([]string, 0, 2)
	for _, t := range []uint16{dns.TypeA, dns.TypeAAAA} {
		r := c.resolve(ctx, host, t)
		results = append(results, r.result)
		for _, rr := range r.rrs {
			var ip net.IP
			switch v := rr.(type) {
			case *dns.A:
				ip = v.A
			case *dns.AAAA:
				ip = v.AAAA
			}
			if a, ok := netip.AddrFromSlice(ip); ok {
				out = append(out, a.Unmap())
			}
		}
	}
	if len(out) > 0 {
		return out, ResultOK
	}
	for _, r := range results {
		if Failed(r) {
			return nil, r
		}
	}
	if results[0] == ResultNXDomain || results[1] == ResultNXDomain {
		return nil, ResultNXDomain
	}
	return nil, ResultNoData
}

// reserved are the special-purpose ranges (RFC 6890 registries) no MX may
// usefully point to, beyond what netip's predicates cover.
var reserved = func() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{
		"0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "192.0.2.0/24", "198.18.0.0/15",
		"198.51.100.0/24", "203.0.113.0/24", "240.0.0.0/4", "255.255.255.255/32",
		"64:ff9b:1::/48", "100::/64", "2001:db8::/32", "2001::/23", "fc00::/7",
	} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}()

// Routable reports whether a is an address mail can be delivered to: not
// loopback, private, link-local, multicast, unspecified or reserved.
func Routable(a netip.Addr) bool {
	a = a.Unmap()
	if !a.IsValid() || a.IsLoopback() || a.IsPrivate() || a.IsUnspecified() || a.IsLinkLocalUnicast() ||
		a.IsLinkLocalMulticast() || a.IsMulticast() || a.IsInterfaceLocalMulticast() {
		return false
	}
	for _, p := range reserved {
		if p.Contains(a) {
			return false
		}
	}
	return true
}
