// Package dnstest serves a DNS zone from memory on 127.0.0.1 (UDP and TCP
// on one port) with github.com/miekg/dns, as an authoritative server
// answers: records, CNAMEs followed within the zone, NODATA and NXDOMAIN
// with the SOA (whose minimum is the negative TTL), and on request
// SERVFAIL, REFUSED, silence (a timeout) or a truncated UDP answer for a
// name. Tests, `make bench` and analysts' replays point the resolver at it.
package dnstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Behaviours for a name (Server.Set).
const (
	ServFail    = "servfail"
	Refused     = "refused"
	Drop        = "drop"     // never answer: the client times out
	TruncateUDP = "truncate" // over UDP: TC set, no records (the client retries over TCP)
)

// SOA is the SOA every negative answer carries: minimum 300 s.
const SOA = "zone.invalid. 3600 IN SOA ns.zone.invalid. hostmaster.zone.invalid. 1 3600 600 86400 300"

// Server is an in-memory authoritative server.
type Server struct {
	// Addr is host:port of both listeners.
	Addr string

	udp, tcp *dns.Server
	soa      dns.RR

	mu      sync.Mutex
	rrs     map[string][]dns.RR // by lower-case FQDN
	special map[string]string

	queries atomic.Int64
}

// Start serves zone (RRs in zone-file form, one a line; blank lines and
// ';' comments skipped) until Close.
func Start(zone string) (*Server, error) {
	s := &Server{rrs: map[string][]dns.RR{}, special: map[string]string{}}
	var err error
	if s.soa, err = dns.NewRR(SOA); err != nil {
		return nil, err
	}
	if err := s.Add(zone); err != nil {
		return nil, err
	}
	var lc net.ListenConfig
	ctx := context.Background()
	for range 20 {
		pc, err := lc.ListenPacket(ctx, "udp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		l, err := lc.Listen(ctx, "tcp", pc.LocalAddr().String())
		if err != nil {
			pc.Close()
			continue // the TCP port is taken: another pair
		}
		s.Addr = pc.LocalAddr().String()
		h := dns.HandlerFunc(s.serve)
		s.udp = &dns.Server{PacketConn: pc, Handler: h}
		s.tcp = &dns.Server{Listener: l, Handler: h}
		var wg sync.WaitGroup
		wg.Add(2)
		s.udp.NotifyStartedFunc = wg.Done
		s.tcp.NotifyStartedFunc = wg.Done
		go func() { _ = s.udp.ActivateAndServe() }()
		go func() { _ = s.tcp.ActivateAndServe() }()
		wg.Wait()
		return s, nil
	}
	return nil, errors.New("dnstest: no free UDP+TCP port pair on 127.0.0.1")
}

// Add adds records.
func (s *Server) Add(zone string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for line := range strings.SplitSeq(zone, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, ";") {
			continue
		}
		rr, err := dns.NewRR(line)
		if err != nil {
			return fmt.Errorf("dnstest: %q: %w", line, err)
		}
		name := strings.ToLower(rr.Header().Name)
		s.rrs[name] = append(s.rrs[name], rr)
	}
	return nil
}

// Set gives name a behaviour ("" restores normal answers).
func (s *Server) Set(name, behaviour string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.special[dns.Fqdn(strings.ToLower(name))] = behaviour
}

// Queries is the number of queries received.
func (s *Server) Queries() int64 { return s.queries.Load() }

// Close stops the listeners.
func (s *Server) Close() {
	_ = s.udp.Shutdown()
	_ = s.tcp.Shutdown()
}

func (s *Server) serve(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	s.mu.Lock()
	defer s.mu.Unlock()
	_, udp := w.RemoteAddr().(*net.UDPAddr)
	switch s.special[name] {
	case Drop:
		return
	case ServFail:
		m.Rcode = dns.RcodeServerFailure
		_ = w.WriteMsg(m)
		return
	case Refused:
		m.Rcode = dns.RcodeRefused
		_ = w.WriteMsg(m)
		return
	case TruncateUDP:
		if udp {
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
	}
	owner := name
	for range 8 {
		var cname *dns.CNAME
		found := false
		for _, rr := range s.lookup(owner) {
			if rr.Header().Rrtype == q.Qtype {
				c := dns.Copy(rr)
				c.Header().Name = owner // a wildcard answers for the name asked
				m.Answer = append(m.Answer, c)
				found = true
			} else if c, ok := rr.(*dns.CNAME); ok {
				cname = c
			}
		}
		if found || cname == nil {
			break
		}
		m.Answer = append(m.Answer, dns.Copy(cname))
		owner = strings.ToLower(cname.Target)
	}
	if len(m.Answer) == 0 {
		if len(s.lookup(name)) == 0 && !s.hasBelow(name) {
			m.Rcode = dns.RcodeNameError
		}
		m.Ns = append(m.Ns, dns.Copy(s.soa))
	}
	_ = w.WriteMsg(m)
}

// hasBelow reports whether a name under name exists (an empty
// non-terminal answers NODATA, not NXDOMAIN).
func (s *Server) hasBelow(name string) bool {
	for n := range s.rrs {
		if strings.HasSuffix(n, "."+name) {
			return true
		}
	}
	return false
}

// lookup returns name's records, or those of the closest wildcard
// ("*.parent") when name has none (RFC 4592, simplified).
func (s *Server) lookup(name string) []dns.RR {
	if rrs := s.rrs[name]; len(rrs) > 0 {
		return rrs
	}
	for n := name; ; {
		i := strings.IndexByte(n, '.')
		if i < 0 || i == len(n)-1 {
			return nil
		}
		n = n[i+1:]
		if rrs := s.rrs["*."+n]; len(rrs) > 0 {
			return rrs
		}
	}
}
