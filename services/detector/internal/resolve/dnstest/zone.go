package dnstest

// Zone is the test zone of the detector's DNS tests, scenarios and
// benchmarks. Public-looking addresses stand for routable hosts (nothing
// ever connects to them). StartZone adds the failure behaviours.
const Zone = `
; can receive
ok-mail.com.            300 IN MX 10 mx1.ok-mail.com.
ok-mail.com.            300 IN MX 20 mx2.ok-mail.com.
mx1.ok-mail.com.        300 IN A 93.184.216.34
mx2.ok-mail.com.        300 IN AAAA 2606:2800:220:1::248
a-only.com.             300 IN A 93.184.216.35
cname-mx.com.           300 IN MX 10 mail.cname-mx.com.
mail.cname-mx.com.      300 IN CNAME in.mailhost-provider.net.
in.mailhost-provider.net. 300 IN A 93.184.216.36
mixed-mx.com.           300 IN MX 5 mx.private-mx.com.
mixed-mx.com.           300 IN MX 10 mx1.ok-mail.com.
mx-down.com.            300 IN MX 10 mx.mx-down.com.
mx.mx-down.com.         300 IN A 93.184.216.37
big-mx.com.             300 IN MX 10 mx1.ok-mail.com.
gmail-like.com.         300 IN MX 5 mx1.ok-mail.com.
; cannot receive
null-mx.com.            300 IN MX 0 .
txt-only.com.           300 IN TXT "v=spf1 -all"
private-mx.com.         300 IN MX 10 mx.private-mx.com.
mx.private-mx.com.      300 IN A 10.1.2.3
loop-mx.com.            300 IN MX 10 mx.loop-mx.com.
mx.loop-mx.com.         300 IN A 127.0.0.1
mx.loop-mx.com.         300 IN AAAA ::1
reserved-mx.com.        300 IN MX 10 mx.reserved-mx.com.
mx.reserved-mx.com.     300 IN A 192.0.2.10
dangling-mx.com.        300 IN MX 10 mx.nowhere-at-all.com.
; failures (StartZone): servfail.com, refused.com, timeout.com, the MX host
; of servfail-mx.com; big-mx.com is truncated over UDP
servfail-mx.com.        300 IN MX 10 mx.servfail-host.com.
; DNSBL: RFC 5782 §5 test entry, one listed IP, one error code
2.0.0.127.bl.dnsbl-test.net. 300 IN A 127.0.0.2
4.3.2.1.bl.dnsbl-test.net.   300 IN A 127.0.0.4
5.3.2.1.bl.dnsbl-test.net.   300 IN A 127.255.255.254
; a list that fails its self-test (it lists everything)
*.broken.dnsbl-test.net.     300 IN A 127.0.0.2
`

// StartZone serves Zone with its failure behaviours.
func StartZone() (*Server, error) {
	s, err := Start(Zone)
	if err != nil {
		return nil, err
	}
	s.Set("servfail.com", ServFail)
	s.Set("refused.com", Refused)
	s.Set("timeout.com", Drop)
	s.Set("mx.servfail-host.com", ServFail)
	s.Set("big-mx.com", TruncateUDP)
	return s, nil
}
