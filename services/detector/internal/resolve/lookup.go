package resolve

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"

	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

// The lookup kinds this package answers (rules.Lookup.Kind).
const (
	KindMX    = "mx"    // Name: a mail domain
	KindDNSBL = "dnsbl" // Name: DNSBLName(ip, zone)
)

// DNSBLName is the Lookup name of a DNSBL query of ip in zone.
func DNSBLName(ip netip.Addr, zone string) string { return ip.String() + "@" + zone }

// Lookup answers one lookup within cfg.LookupTimeout. Facts are numbers
// for the verdict's evidence; see MX and DNSBL.
func (c *Client) Lookup(ctx context.Context, l rules.Lookup) rules.Answer {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.LookupTimeout)
	defer cancel()
	switch l.Kind {
	case KindMX:
		return c.MX(ctx, l.Name)
	case KindDNSBL:
		ip, zone, _ := strings.Cut(l.Name, "@")
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return rules.Answer{Result: ResultInvalidName}
		}
		return c.DNSBL(ctx, a, zone)
	}
	return rules.Answer{Result: ResultError}
}

// MX decides whether domain can receive mail (RFC 5321 §5.1, RFC 7505):
//
//   - NXDOMAIN: it cannot (result nxdomain, dns_nxdomain 1);
//   - a null MX (one MX record, preference 0, target "."): it cannot
//     (null_mx 1);
//   - MX records: it can if one of the first max_mx_hosts hosts has a
//     routable address (Routable); it cannot if every one answered with
//     none, or with loopback / private / reserved addresses only; a host
//     whose address lookup failed makes the answer a failure unless
//     another host is usable;
//   - no MX (NODATA): the domain's own A/AAAA is the implicit MX: it can
//     if that is routable (implicit_mx 1).
//
// The answer's result is the MX query's (ok, nxdomain, nodata) when the
// decision is definitive, else the failure (servfail, timeout, refused,
// error, invalid_name), which is never evidence. Facts: can_receive,
// dns_nxdomain, null_mx, mx_records, mx_hosts_checked, mx_hosts_routable,
// mx_hosts_unroutable (addresses, none routable), mx_hosts_noaddr,
// implicit_mx, addrs_routable, addrs_unroutable.
func (c *Client) MX(ctx context.Context, domain string) rules.Answer {
	name, err := CheckName(domain)
	if err != nil {
		c.Reject(err)
		return rules.Answer{Result: ResultInvalidName}
	}
	f := map[string]float64{}
	r := c.resolve(ctx, name, dns.TypeMX)
	switch {
	case r.result == ResultNXDomain:
		f["dns_nxdomain"], f["can_receive"] = 1, 0
		return rules.Answer{Result: ResultNXDomain, Facts: f}
	case Failed(r.result):
		return rules.Answer{Result: r.result}
	case r.result == ResultNoData:
		addrs, res := c.addrs(ctx, name)
		if Failed(res) {
			return rules.Answer{Result: res}
		}
		f["mx_records"] = 0
		routable := countRoutable(addrs, f)
		f["implicit_mx"] = b2f(routable > 0)
		f["can_receive"] = b2f(routable > 0)
		return rules.Answer{Result: ResultNoData, Facts: f}
	}
	mxs := make([]*dns.MX, 0, len(r.rrs))
	for _, rr := range r.rrs {
		if mx, ok := rr.(*dns.MX); ok {
			mxs = append(mxs, mx)
		}
	}
	f["mx_records"] = float64(len(mxs))
	if len(mxs) == 1 && mxs[0].Mx == "." {
		f["null_mx"], f["can_receive"] = 1, 0
		return rules.Answer{Result: ResultOK, Facts: f}
	}
	slices.SortStableFunc(mxs, func(a, b *dns.MX) int { return int(a.Preference) - int(b.Preference) })
	var checked, usable, unroutable, noaddr int
	failure := ""
	for _, mx := range mxs {
		if checked >= c.cfg.MaxMXHosts {
			break
		}
		if mx.Mx == "." {
			continue // a null MX among others is ignored (RFC 7505 §3)
		}
		checked++
		host, err := CheckName(mx.Mx)
		if err != nil {
			c.Reject(err)
			noaddr++
			continue
		}
		addrs, res := c.addrs(ctx, host)
		if Failed(res) {
			if failure == "" {
				failure = res
			}
			continue
		}
		switch n := countRoutable(addrs, nil); {
		case n > 0:
			usable++
		case len(addrs) > 0:
			unroutable++
		default:
			noaddr++
		}
		if usable > 0 {
			break // one usable host is enough
		}
	}
	f["mx_hosts_checked"] = float64(checked)
	f["mx_hosts_routable"] = float64(usable)
	f["mx_hosts_unroutable"] = float64(unroutable)
	f["mx_hosts_noaddr"] = float64(noaddr)
	if usable == 0 && failure != "" {
		return rules.Answer{Result: failure}
	}
	f["can_receive"] = b2f(usable > 0)
	return rules.Answer{Result: ResultOK, Facts: f}
}

func countRoutable(addrs []netip.Addr, f map[string]float64) int {
	n := 0
	for _, a := range addrs {
		if Routable(a) {
			n++
		}
	}
	if f != nil {
		f["addrs_routable"] = float64(n)
		f["addrs_unroutable"] = float64(len(addrs) - n)
	}
	return n
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// DNSBL asks whether ip is listed in zone, after the zone's RFC 5782 §5
// self-test (127.0.0.2 must be listed, 127.0.0.1 must not). Facts:
// selftest_ok, listed (1 listed, 0 not listed), unknown (1 when the
// answer says nothing: failed self-test, an error code 127.255.255.x as
// Spamhaus answers to public resolvers and over-quota users, or an answer
// outside 127.0.0.0/8), return_octet (the last octet of the answer).
// Result is the query's (ok, nxdomain) or its failure.
func (c *Client) DNSBL(ctx context.Context, ip netip.Addr, zone string) rules.Answer {
	zone, err := CheckName(zone)
	if err != nil {
		c.Reject(err)
		return rules.Answer{Result: ResultInvalidName}
	}
	f := map[string]float64{}
	yes := c.blQuery(ctx, netip.MustParseAddr("127.0.0.2"), zone)
	no := c.blQuery(ctx, netip.MustParseAddr("127.0.0.1"), zone)
	if Failed(yes.result) {
		return rules.Answer{Result: yes.result}
	}
	if Failed(no.result) {
		return rules.Answer{Result: no.result}
	}
	selftest := yes.result == ResultOK && listedCode(yes) > 0 && no.result == ResultNXDomain
	f["selftest_ok"] = b2f(selftest)
	if !selftest {
		f["unknown"] = 1
		return rules.Answer{Result: ResultOK, Facts: f}
	}
	r := c.blQuery(ctx, ip, zone)
	switch {
	case Failed(r.result):
		return rules.Answer{Result: r.result}
	case r.result == ResultNXDomain || r.result == ResultNoData:
		f["listed"], f["unknown"] = 0, 0
		return rules.Answer{Result: r.result, Facts: f}
	}
	code := listedCode(r)
	switch {
	case code > 0:
		f["listed"], f["unknown"], f["return_octet"] = 1, 0, float64(code)
	default:
		f["unknown"] = 1
		if code < 0 {
			f["return_octet"] = float64(-code)
		}
	}
	return rules.Answer{Result: ResultOK, Facts: f}
}

// listedCode reads a DNSBL A answer: the last octet of the first
// 127.0.0.0/8 address (a listing), its negation for an error code in
// 127.255.255.0/24, 0 for nothing usable.
func listedCode(r reply) int {
	for _, rr := range r.rrs {
		a, ok := rr.(*dns.A)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.A)
		if !ok {
			continue
		}
		b := ip.Unmap().As4()
		switch {
		case b[0] == 127 && b[1] == 255 && b[2] == 255:
			return -int(b[3])
		case b[0] == 127:
			return int(b[3])
		}
	}
	return 0
}

func (c *Client) blQuery(ctx context.Context, ip netip.Addr, zone string) reply {
	rev, err := dns.ReverseAddr(ip.String())
	if err != nil {
		return reply{result: ResultError}
	}
	suffix := ".in-addr.arpa."
	if ip.Is6() && !ip.Is4In6() {
		suffix = ".ip6.arpa."
	}
	name := strings.TrimSuffix(rev, suffix) + "." + zone
	if len(name) > 253 {
		c.m.rejected.WithLabelValues(RejectTooLong).Inc()
		return reply{result: ResultError}
	}
	return c.query(ctx, name, dns.TypeA)
}
