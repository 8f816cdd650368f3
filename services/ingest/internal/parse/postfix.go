package parse

import (
	"mime"
	"strings"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/ingest/internal/classify"
)

const mtaPostfix = "postfix"

// postfix handles the message part of a Postfix line. The line's shape, not
// the daemon's name, decides: the same shapes come from several daemons
// (rejects from smtpd, postscreen and cleanup; deliveries from smtp, lmtp,
// local, virtual, pipe, error, discard), and master.cf service names vary.
func (p *Parser) postfix(h *header, id string, emit func(*event.DeliveryEvent)) *LineError {
	hs, lerr := p.host(h.host)
	if lerr != nil {
		return lerr
	}
	em := emitter{id: id, emit: emit, reuse: p.opts.ReuseEvents}
	s := h.msg
	qid, rest, ok := splitQueueID(s)
	if !ok {
		switch {
		case strings.HasPrefix(s, "NOQUEUE: "):
			r := s[len("NOQUEUE: "):]
			action, after, _ := strings.Cut(r, ": ")
			switch action {
			case "reject", "milter-reject":
				return p.postfixReject(h, hs, nil, "", after, false, &em)
			}
		case strings.HasPrefix(s, "proxy-reject: "):
			return p.postfixReject(h, hs, nil, "", s[len("proxy-reject: "):], true, &em)
		case strings.HasPrefix(s, "warning: ") && strings.Contains(s, " authentication failed"):
			if handled, err := p.postfixAuthFailed(h, hs, s[len("warning: "):], &em); handled {
				return err
			}
		}
		return p.postfixNoise("", s)
	}
	if checkToken(qid) != nil { // cannot happen: splitQueueID accepts alphanumerics only
		return errHostileToken
	}
	switch {
	case strings.HasPrefix(rest, "to="):
		return p.postfixDelivery(h, hs, qid, rest, &em)
	case strings.HasPrefix(rest, "client="):
		return p.postfixClient(h, hs, qid, rest[len("client="):], &em)
	case strings.HasPrefix(rest, "message-id="):
		m := p.touch(hs, mtaPostfix, qid, h.ts, id, emit)
		m.messageID = cleanText(trimAngle(rest[len("message-id="):]), 998)
		p.count(kPostfixMessageID)
		return nil
	case strings.HasPrefix(rest, "from="):
		return p.postfixQmgr(h, hs, qid, rest, &em)
	case rest == "removed":
		if m := p.lookup(hs, qid); m != nil {
			p.forget(m)
		}
		p.count(kPostfixRemoved)
		return nil
	case strings.HasPrefix(rest, "uid="):
		p.count(kPostfixPickup)
		return nil
	case strings.HasPrefix(rest, "sender non-delivery notification: "),
		strings.HasPrefix(rest, "sender delivery status notification: "),
		strings.HasPrefix(rest, "sender delay notification: "),
		strings.HasPrefix(rest, "postmaster non-delivery notification: "),
		strings.HasPrefix(rest, "postmaster delay notification: "),
		strings.HasPrefix(rest, "postmaster delivery status notification: "):
		p.count(kPostfixBounce)
		return nil
	}
	// "<action>: ..." — header/body checks, milter actions, SMTP rejects.
	action, after, found := strings.Cut(rest, ": ")
	if !found || strings.IndexByte(action, ' ') >= 0 {
		return p.postfixNoise(qid, rest)
	}
	content := strings.HasPrefix(after, "header ") || strings.HasPrefix(after, "body ")
	switch {
	case content && (action == "reject" || action == "milter-reject"):
		return p.postfixContentReject(h, hs, qid, after, &em)
	case content:
		return p.postfixHeader(h, hs, qid, after, &em)
	case action == "reject" || action == "milter-reject":
		return p.postfixReject(h, hs, p.lookup(hs, qid), qid, after, false, &em)
	}
	return p.postfixNoise(qid, rest)
}

// postfixNoise counts a line that is no line of a message's life: a
// known non-delivery line (postfix_other), or one of no known shape
// (refused as unrecognised).
func (p *Parser) postfixNoise(qid, s string) *LineError {
	if isPostfixNoise(qid, s) {
		p.count(kPostfixOther)
		return nil
	}
	p.count(kPostfixUnrecognised)
	return errPostfixShape
}

// postfixAuthFailed: smtpd "warning: unknown[192.0.2.1]: SASL LOGIN
// authentication failed: UGFzc3dvcmQ6[, sasl_username=user]" (the client
// may carry ":port"). It emits one auth_failed event with the client IP
// and, when Postfix logged it (smtpd_sasl_authenticated_header or 3.x's
// sasl_username on failure), the login. A failure that is the server's
// own ("Connection lost to authentication server") is no attempt of the
// client and only counted.
func (p *Parser) postfixAuthFailed(h *header, hs *hostState, s string, em *emitter) (bool, *LineError) {
	client, rest, ok := strings.Cut(s, ": SASL ")
	if !ok || strings.IndexByte(client, ' ') >= 0 {
		return false, nil
	}
	mech, reason, ok := strings.Cut(rest, " authentication failed")
	if !ok || strings.IndexByte(mech, ' ') >= 0 {
		return false, nil
	}
	reason = strings.TrimPrefix(strings.TrimPrefix(reason, ":"), " ")
	if strings.HasPrefix(reason, "Connection lost to authentication server") {
		p.count(kPostfixOther)
		return true, nil
	}
	p.count(kPostfixAuth)
	o := outcome{status: event.StatusAuthFailed, code: 535, dsn: "5.7.8"}
	if i := strings.LastIndex(reason, ", sasl_username="); i >= 0 {
		u, ok := p.token(reason[i+len(", sasl_username="):])
		if !ok {
			return true, errHostileToken
		}
		o.saslUser = u
	}
	if ip := bracketIP(client); ip != "" && ip != "unknown" {
		v, ok := p.token(ip)
		if !ok {
			return true, errHostileToken
		}
		o.clientIP = v
	}
	o.text = s[len(client)+len(": "):] // "SASL LOGIN authentication failed: ..."
	if i := strings.LastIndex(o.text, ", sasl_username="); i >= 0 {
		o.text = o.text[:i]
	}
	em.emit(p.event(mtaPostfix, hs, "", nil, h.ts, em.next(), &o))
	return true, nil
}

// splitQueueID splits "QID: rest". A queue id is a short id (upper-case
// hex, at least 5) or a long id (base-52 with digits, 10 to 20), so words
// like "warning" or "statistics" are not taken for one.
func splitQueueID(s string) (qid, rest string, ok bool) {
	// One bounded pass: the id's characters up to the ':' (most lines
	// without an id stop at their first space).
	hexOnly, digit := true, false
	i := 0
	for ; i < len(s) && i <= 20; i++ {
		c := s[i]
		if c == ':' {
			break
		}
		switch {
		case isDigit(c):
			digit = true
		case c >= 'A' && c <= 'F':
		case isAlnum(c):
			hexOnly = false
		default:
			return "", "", false
		}
	}
	if i < 5 || i > 20 || i+1 >= len(s) || s[i] != ':' || s[i+1] != ' ' {
		return "", "", false
	}
	if !hexOnly && (!digit || i < 10) {
		return "", "", false
	}
	return s[:i], s[i+2:], true
}

// postfixClient: smtpd "client=host[ip], sasl_method=PLAIN,
// sasl_username=user, orig_client=host[ip]".
func (p *Parser) postfixClient(h *header, hs *hostState, qid, s string, em *emitter) *LineError {
	m := p.touch(hs, mtaPostfix, qid, h.ts, em.id, em.emit)
	p.count(kPostfixClient)
	client, rest, _ := strings.Cut(s, ", ")
	ip := bracketIP(client)
	for rest != "" {
		var kv string
		kv, rest, _ = strings.Cut(rest, ", ")
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "sasl_username":
			u, ok := p.token(v)
			if !ok {
				m.hostile = true
				return errHostileToken
			}
			m.saslUser = u
		case "orig_client":
			if oip := bracketIP(v); oip != "" && oip != "unknown" {
				ip = oip
			}
		}
	}
	if ip != "" && ip != "unknown" {
		v, ok := p.token(ip)
		if !ok {
			m.hostile = true
			return errHostileToken
		}
		m.clientIP = v
	}
	return nil
}

// bracketIP returns the text between the first '[' and the next ']'.
func bracketIP(s string) string {
	i := strings.IndexByte(s, '[')
	if i < 0 {
		return ""
	}
	j := strings.IndexByte(s[i+1:], ']')
	if j < 0 {
		return ""
	}
	return s[i+1 : i+1+j]
}

// postfixQmgr: "from=<s>, size=N, nrcpt=M (queue active)" or
// "from=<s>, status=expired, returned to sender".
func (p *Parser) postfixQmgr(h *header, hs *hostState, qid, s string, em *emitter) *LineError {
	raw, rest, ok := angleValue(s[len("from="):])
	if !ok {
		p.count(kPostfixUnknown)
		return errPostfixFields
	}
	p.count(kPostfixQueued)
	m := p.touch(hs, mtaPostfix, qid, h.ts, em.id, em.emit)
	m.queued = true
	sender, ok := p.address(raw)
	if !ok {
		m.hostile = true
		return errHostileAddr
	}
	m.sender = sender
	if strings.HasPrefix(rest, "status=expired") {
		p.count(kPostfixExpired)
		if m.hostile {
			return errHostileMsg
		}
		o := outcome{status: event.StatusExpired, text: rest[len("status=expired"):]}
		o.text = strings.TrimPrefix(o.text, ", ")
		switch {
		case len(m.outstanding) > 0:
			for _, r := range m.outstanding {
				o.rcpt, o.dsn, o.code = r.addr, r.dsn, r.code
				e := p.event(mtaPostfix, hs, qid, m, h.ts, em.next(), &o)
				e.Reason = r.reason
				em.emit(e)
			}
			m.outstanding = nil
		case m.attempts == 0:
			em.emit(p.event(mtaPostfix, hs, qid, m, h.ts, em.next(), &o))
		}
		m.attempts++
		return nil
	}
	for rest != "" {
		var kv string
		kv, rest, _ = strings.Cut(rest, ", ")
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "size":
			m.size = int64(atoi(v))
		}
	}
	return nil
}

// angleValue reads "<value>" (up to a '>' followed by ',', ' ' or the end)
// or a bare value up to ", ". It returns the value and the text after the
// following ", ".
func angleValue(s string) (v, rest string, ok bool) {
	if strings.HasPrefix(s, "<") {
		for k := 1; k < len(s); k++ {
			if s[k] != '>' {
				continue
			}
			if k+1 == len(s) {
				return s[1:k], "", true
			}
			if s[k+1] == ',' || s[k+1] == ' ' {
				rest = s[k+1:]
				rest = strings.TrimPrefix(rest, ",")
				return s[1:k], trimLeftSpace(rest), true
			}
		}
		return "", "", false
	}
	v, rest, _ = strings.Cut(s, ", ")
	if i := strings.IndexByte(v, ' '); i >= 0 { // "to=x proto=..." in a reject tail
		rest, v = v[i+1:], v[:i]
	}
	return v, rest, true
}

// postfixDelivery: "to=<r>, [orig_to=<o>,] relay=R, [conn_use=N,] delay=D,
// delays=a/b/c/d, [tls=...,] dsn=X.Y.Z, status=S (text)". Fields other
// than to/orig_to are found by name, so new ones (Postfix 3.11's tls=) and
// reorderings do not matter.
func (p *Parser) postfixDelivery(h *header, hs *hostState, qid, s string, em *emitter) *LineError {
	raw, rest, ok := angleValue(s[len("to="):])
	if !ok {
		p.count(kPostfixUnknown)
		return errPostfixFields
	}
	// One pass over the ", "-separated fields up to status=, taking
	// relay= and dsn= on the way (fields are found by name: new ones and
	// reorderings do not matter).
	var relay, dsn string
	i := 0
	for {
		f := rest[i:]
		if strings.HasPrefix(f, "status=") {
			break
		}
		if strings.HasPrefix(f, "relay=") {
			relay = fieldText(f[len("relay="):])
		} else if strings.HasPrefix(f, "dsn=") {
			dsn = fieldText(f[len("dsn="):])
		}
		k := strings.Index(f, ", ")
		if k < 0 {
			i = -1
			break
		}
		i += k + 2
	}
	if i < 0 {
		p.count(kPostfixUnknown)
		return errPostfixFields
	}
	statusWord, text := rest[i+len("status="):], ""
	if j := strings.IndexByte(statusWord, ' '); j >= 0 {
		statusWord, text = statusWord[:j], statusWord[j+1:]
	}
	statusWord = strings.TrimSuffix(statusWord, ",")
	var status event.Status
	switch statusWord {
	case "sent":
		status = event.StatusSent
	case "deferred":
		status = event.StatusDeferred
	case "bounced":
		status = event.StatusBounced
	case "expired":
		status = event.StatusExpired
	case "deliverable", "undeliverable", "undeliverable-but-not-cached":
		p.count(kPostfixVerify) // address verification probe, not a delivery
		return nil
	default:
		p.count(kPostfixUnknown)
		return errPostfixFields
	}
	p.count(kPostfixDelivery)
	rcpt, ok := p.eventAddress(raw)
	if !ok {
		return errHostileAddr
	}
	if strings.HasPrefix(text, "(") && strings.HasSuffix(text, ")") {
		text = text[1 : len(text)-1]
	}
	o := outcome{status: status, rcpt: rcpt}
	o.relay, o.dsn = relay, dsn
	if _, _, ok := dsnToken(o.dsn); !ok {
		o.dsn = ""
	}
	var tdsn string
	o.code, tdsn, o.text = postfixReply(text)
	if o.dsn == "" {
		o.dsn = tdsn
	}
	if checkToken(o.relay) != nil {
		o.relay = ""
	}
	m := p.lookup(hs, qid)
	if m == nil && status == event.StatusDeferred {
		m = p.touch(hs, mtaPostfix, qid, h.ts, em.id, em.emit)
		m.queued = true
	} else if m != nil {
		p.seen(m, h.ts, em.id)
	}
	if m != nil && m.hostile {
		return errHostileMsg
	}
	e := p.event(mtaPostfix, hs, qid, m, h.ts, em.next(), &o)
	if m != nil {
		m.attempts++
		switch status {
		case event.StatusDeferred:
			m.deferred(p.own(rcpt), e.DSN, e.ReplyCode, classify.Reason(e.Reason))
		default:
			m.settled(rcpt)
		}
	}
	em.emit(e)
	return nil
}

// fieldText returns a field's value: up to the next ','.
func fieldText(v string) string {
	if j := strings.IndexByte(v, ','); j >= 0 {
		return v[:j]
	}
	return v
}

// postfixReply splits a status text into reply code, enhanced code and
// text: "host mx[ip] said: 550-5.1.1 text (in reply to RCPT TO command)"
// gives 550, "5.1.1", "text". A local text ("delivered to maildir",
// "connect to ...: Connection timed out") has code 0.
func postfixReply(t string) (int, string, string) {
	if code, r, ok := replyCode(t); ok && !strings.HasSuffix(t, " command)") {
		// The common case, the remote's own text: "250 2.0.0 Ok: queued as X".
		if dsn, r2, ok := dsnToken(r); ok {
			return code, dsn, r2
		}
		return code, "", r
	}
	if i := strings.Index(t, " said: "); i >= 0 {
		t = t[i+len(" said: "):]
	} else if i := strings.Index(t, "refused to talk to me: "); i >= 0 {
		t = t[i+len("refused to talk to me: "):]
	}
	if strings.HasSuffix(t, " command)") {
		if i := strings.LastIndex(t, " (in reply to "); i >= 0 {
			t = t[:i]
		}
	}
	code, r, ok := replyCode(t)
	if !ok {
		return 0, "", t
	}
	dsn, r2, ok := dsnToken(r)
	if ok {
		r = r2
	}
	return code, dsn, r
}

// postfixReject: "RCPT from host[ip]: 550 5.1.1 <x>: Recipient address
// rejected: ...; from=<s> to=<r> proto=ESMTP helo=<h>" (smtpd, postscreen
// with ", " between the tail fields, milter-reject), or with proxy set
// "END-OF-MESSAGE: 554 5.7.0 ...; from=<s> to=<r> ..." (proxy-reject).
// Only the stages that concern a message (MAIL, RCPT, DATA, BDAT,
// END-OF-MESSAGE) produce an event; CONNECT, EHLO, VRFY... rejects are
// counted and dropped.
func (p *Parser) postfixReject(h *header, hs *hostState, m *msg, qid, s string, proxy bool, em *emitter) *LineError {
	p.count(kPostfixReject)
	var stage, client, reply string
	if proxy {
		stage, reply, _ = strings.Cut(s, ": ")
	} else {
		var from string
		stage, from, _ = strings.Cut(s, " ")
		if !strings.HasPrefix(from, "from ") {
			return errPostfixFields
		}
		var ok bool
		client, reply, ok = strings.Cut(from[len("from "):], ": ")
		if !ok {
			return errPostfixFields
		}
	}
	switch stage {
	case "RCPT", "MAIL", "DATA", "BDAT", "END-OF-MESSAGE":
	default:
		p.count(kPostfixRejectSession)
		return nil
	}
	tail := ""
	for _, marker := range [...]string{"; from=<", "; to=<", "; proto="} {
		if i := strings.LastIndex(reply, marker); i >= 0 {
			reply, tail = reply[:i], reply[i+2:]
			break
		}
	}
	o := outcome{status: event.StatusRejected}
	if ip := bracketIP(client); ip != "" && ip != "unknown" {
		v, ok := p.token(ip)
		if !ok {
			return errHostileToken
		}
		o.clientIP = v
	}
	if err := p.tailAddrs(tail, &o); err != nil {
		return err
	}
	o.code, o.dsn, o.text = rejectReply(reply)
	if m != nil {
		if m.hostile {
			return errHostileMsg
		}
		p.seen(m, h.ts, em.id)
	}
	em.emit(p.event(mtaPostfix, hs, qid, m, h.ts, em.next(), &o))
	if m != nil && (stage == "DATA" || stage == "BDAT" || stage == "END-OF-MESSAGE") {
		p.forget(m) // the whole message was refused: it never reaches the queue
	}
	return nil
}

// tailAddrs reads from=<s> and to=<r> of a reject tail into o.
func (p *Parser) tailAddrs(tail string, o *outcome) *LineError {
	if i := strings.Index(tail, "from=<"); i >= 0 {
		raw, _, ok := angleValue(tail[i+len("from="):])
		if !ok {
			return errPostfixFields
		}
		a, ok := p.address(raw)
		if !ok {
			return errHostileAddr
		}
		o.sender, o.hasSender = a, true
	}
	if i := strings.Index(tail, "to=<"); i >= 0 {
		raw, _, ok := angleValue(tail[i+len("to="):])
		if !ok {
			return errPostfixFields
		}
		a, ok := p.address(raw)
		if !ok {
			return errHostileAddr
		}
		o.rcpt = a
	}
	return nil
}

// rejectReply splits "550 5.1.1 <x>: text" (code optional: milters and
// cleanup log "5.7.1 text"; the code is then inferred from the class).
func rejectReply(r string) (int, string, string) {
	code, rest, ok := replyCode(r)
	if !ok {
		rest = r
	}
	dsn, rest2, dok := dsnToken(rest)
	if dok {
		rest = rest2
	}
	if code == 0 && dok {
		code = inferCode(dsn)
	}
	return code, dsn, rest
}

// inferCode gives 550 to a permanent and 450 to a temporary enhanced code.
func inferCode(dsn string) int {
	if strings.HasPrefix(dsn, "4.") {
		return 450
	}
	return 550
}

// postfixHeader: cleanup "header Subject: text from host[ip]; from=<s>
// to=<r> proto=ESMTP helo=<h>" (warning, info, hold, prepend, ... actions).
func (p *Parser) postfixHeader(h *header, hs *hostState, qid, s string, em *emitter) *LineError {
	p.count(kPostfixHeader)
	m := p.touch(hs, mtaPostfix, qid, h.ts, em.id, em.emit)
	if subj, ok := headerSubject(s); ok {
		m.subject = subj
	}
	return nil
}

// headerSubject extracts the Subject value of a header_checks log text.
func headerSubject(s string) (string, bool) {
	rest, ok := strings.CutPrefix(s, "header ")
	if !ok {
		return "", false
	}
	name, value, ok := strings.Cut(rest, ": ")
	if !ok || !strings.EqualFold(name, "Subject") {
		return "", false
	}
	if i := strings.LastIndex(value, "; from=<"); i >= 0 {
		value = value[:i]
	}
	if i := strings.LastIndex(value, " from "); i >= 0 {
		value = value[:i]
	}
	return decodeSubject(value), true
}

// decodeSubject decodes RFC 2047 encoded words and makes the subject safe
// (no control characters, valid UTF-8, at most MaxAddressLen bytes).
func decodeSubject(v string) string {
	if strings.Contains(v, "=?") {
		if d, err := new(mime.WordDecoder).DecodeHeader(v); err == nil {
			v = d
		}
	}
	return cleanText(v, event.MaxAddressLen)
}

// postfixContentReject: cleanup "header Subject: x from host[ip];
// from=<s> to=<r> proto=ESMTP helo=<h>: 5.7.1 message content rejected"
// (reject or milter-reject). The whole message is refused.
func (p *Parser) postfixContentReject(h *header, hs *hostState, qid, s string, em *emitter) *LineError {
	p.count(kPostfixReject)
	m := p.lookup(hs, qid)
	if m != nil && m.hostile {
		return errHostileMsg
	}
	o := outcome{status: event.StatusRejected}
	i := strings.LastIndex(s, "; from=<")
	if i < 0 {
		i = strings.LastIndex(s, "; to=<")
	}
	if i < 0 {
		return errPostfixFields
	}
	head, tail := s[:i], s[i+2:]
	if subj, ok := headerSubject(head); ok {
		o.subject = subj
	}
	if k := strings.LastIndex(head, " from "); k >= 0 {
		if ip := bracketIP(head[k:]); ip != "" && ip != "unknown" {
			v, ok := p.token(ip)
			if !ok {
				return errHostileToken
			}
			o.clientIP = v
		}
	}
	if err := p.tailAddrs(tail, &o); err != nil {
		return err
	}
	if k := strings.LastIndexByte(tail, '>'); k >= 0 && strings.HasPrefix(tail[k+1:], ": ") {
		o.code, o.dsn, o.text = rejectReply(tail[k+3:])
	}
	if o.code == 0 {
		o.code = 550
	}
	em.emit(p.event(mtaPostfix, hs, qid, m, h.ts, em.next(), &o))
	if m != nil {
		p.forget(m)
	}
	return nil
}

// trimAngle strips one pair of surrounding angle brackets.
func trimAngle(s string) string {
	if len(s) >= 2 && s[0] == '<' && s[len(s)-1] == '>' {
		return s[1 : len(s)-1]
	}
	return s
}
