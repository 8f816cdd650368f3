package parse

import (
	"strings"

	"github.com/mxwarden/mxwarden/pkg/event"
)

const mtaDovecot = "dovecot"

// dovecotAuthFailed handles Dovecot's login processes' report of a client
// that gave up or was cut off after failed logins, the only Dovecot line
// that becomes events (submission, IMAP and POP3 logins share the
// password database with SMTP AUTH, so a brute force shows there too):
//
//	dovecot: imap-login: Disconnected (auth failed, 3 attempts in 15 secs): user=<admin>, method=PLAIN, rip=192.0.2.7, lip=192.0.2.1, TLS, session=<...>
//	dovecot: submission-login: Login aborted: Connection closed (auth failed, 1 attempts in 2 secs) (auth_failed): user=<a@b>, method=LOGIN, rip=192.0.2.7, ...
//	imap-login: Disconnected: Connection closed (auth failed, 2 attempts in 4 secs): user=<x>, rip=192.0.2.7, ...   (syslog ident imap-login)
//
// Each attempt is one auth_failed event (ids id, id/1, ...; at most 10)
// with the client IP (rip=) and the login (user=). Other Dovecot lines
// are other programs' lines.
func (p *Parser) dovecotAuthFailed(h *header, id string, emit func(*event.DeliveryEvent)) (bool, *LineError) {
	s := h.msg
	i := strings.Index(s, "(auth failed, ")
	if i < 0 {
		return false, nil
	}
	if !strings.HasSuffix(h.prog, "-login") {
		prog, _, ok := strings.Cut(s, ": ")
		if !ok || !strings.HasSuffix(prog, "-login") {
			return false, nil
		}
	}
	attempts := atoi(s[i+len("(auth failed, "):])
	attempts = min(max(attempts, 1), 10)
	o := outcome{status: event.StatusAuthFailed, text: "auth failed"}
	rest := s[i:]
	if k := strings.Index(rest, "user=<"); k >= 0 {
		v := rest[k+len("user=<"):]
		if j := strings.IndexByte(v, '>'); j > 0 {
			u, ok := p.token(v[:j])
			if !ok {
				return true, errHostileToken
			}
			o.saslUser = u
		}
	}
	if k := strings.Index(rest, "rip="); k >= 0 {
		v := rest[k+len("rip="):]
		if j := strings.IndexByte(v, ','); j >= 0 {
			v = v[:j]
		}
		ip, ok := p.token(v)
		if !ok {
			return true, errHostileToken
		}
		o.clientIP = ip
	}
	if o.clientIP == "" {
		return false, nil
	}
	hs, lerr := p.host(h.host)
	if lerr != nil {
		return true, lerr
	}
	p.count(kDovecotAuth)
	em := emitter{id: id, emit: emit, reuse: p.opts.ReuseEvents}
	for range attempts {
		em.emit(p.event(mtaDovecot, hs, "", nil, h.ts, em.next(), &o))
	}
	return true, nil
}
