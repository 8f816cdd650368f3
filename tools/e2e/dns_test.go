package e2e

import (
	"net"
	"os/exec"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// loopbackDNS serves a small authoritative zone on 127.0.0.1 (UDP): MX
// and addresses for the e2e runs' recipient domains, NXDOMAIN for every
// other name. It returns the server's address.
func loopbackDNS(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mx := map[string]string{"example.org.": "mx.example.org.", "gmail.com.": "gmail-smtp-in.l.google.com."}
	a := map[string]string{"mx.example.org.": "192.0.2.25", "gmail-smtp-in.l.google.com.": "192.0.2.26"}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		for _, q := range r.Question {
			name := strings.ToLower(q.Name)
			switch {
			case q.Qtype == dns.TypeMX && mx[name] != "":
				m.Answer = append(m.Answer, &dns.MX{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 300}, Preference: 10, Mx: mx[name]})
			case q.Qtype == dns.TypeA && a[name] != "":
				m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300}, A: net.ParseIP(a[name])})
			case mx[name] != "" || a[name] != "":
				// the name exists: NODATA
			default:
				m.Rcode = dns.RcodeNameError
			}
		}
		_ = w.WriteMsg(m)
	})}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	go func() { _ = srv.ActivateAndServe() }()
	<-started
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

// dnsArgs points the detector's recipient stage at a loopback DNS server
// when the binary has the dns.* keys, so its lookups never leave this
// machine and its DNS series are scraped; older binaries get nothing.
func dnsArgs(t testing.TB, detector string) []string {
	t.Helper()
	if out, err := exec.Command(detector, "check", "--set", "dns.servers=127.0.0.1:53").CombinedOutput(); err != nil {
		t.Logf("detector has no dns.* keys: %s", lastLine(string(out)))
		return nil
	}
	return []string{"--set", "dns.servers=" + loopbackDNS(t)}
}
