package parse

import (
	"strings"
	"unicode/utf8"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/ingest/internal/classify"
)

const mtaExim = "exim"

// isEximID reports whether s is an Exim message id: the 23-character
// format of Exim 4.97+ ("10HmaX-000000005vi-0000", 6-11-4 base-62) or the
// older 16-character one ("1abcDE-00012A-Bc", 6-6-2).
func isEximID(s string) bool {
	switch len(s) {
	case 16:
		if s[6] != '-' || s[13] != '-' {
			return false
		}
	case 23:
		if s[6] != '-' || s[18] != '-' {
			return false
		}
	default:
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] != '-' && !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// exim handles the message part of an Exim mainlog line.
func (p *Parser) exim(h *header, id string, emit func(*event.DeliveryEvent)) *LineError {
	hs, lerr := p.host(h.host)
	if lerr != nil {
		return lerr
	}
	em := emitter{id: id, emit: emit, reuse: p.opts.ReuseEvents}
	s := h.msg
	if len(s) > 16 && (s[16] == ' ' || (len(s) > 23 && s[23] == ' ')) {
		n := 16
		if s[16] != ' ' {
			n = 23
		}
		if mid := s[:n]; isEximID(mid) {
			rest := s[n+1:]
			flag, after := cutToken(rest)
			switch flag {
			case "<=":
				return p.eximArrival(h, hs, mid, after, &em)
			case "=>", "->", "*>", ">>":
				return p.eximDelivery(h, hs, mid, event.StatusSent, after, &em)
			case "**":
				return p.eximDelivery(h, hs, mid, event.StatusBounced, after, &em)
			case "==":
				return p.eximDelivery(h, hs, mid, event.StatusDeferred, after, &em)
			case "Completed":
				if m := p.lookup(hs, mid); m != nil {
					p.forget(m)
				}
				p.count(kEximCompleted)
				return nil
			case "removed":
				if strings.HasPrefix(after, "by ") {
					if m := p.lookup(hs, mid); m != nil {
						p.forget(m)
					}
					p.count(kEximCompleted)
					return nil
				}
			}
			return p.eximRejectOrOther(h, hs, mid, rest, &em)
		}
	}
	return p.eximRejectOrOther(h, hs, "", s, &em)
}

// eximFields is what the "X=value" fields of an Exim line carry.
type eximFields struct {
	host, ip, helo string // H=host (helo) [ip]:port
	auth           string // A=authenticator:id
	size           int64  // S=
	msgID          string // id=
	subject        string // T="..." on arrivals
	transport      string // T= on deliveries
	router         string // R=
	sender         string // F=<...>
	hasSender      bool
	confirm        string // C="..."
}

// parseEximFields reads space-separated "K=v" fields until the end of s
// or a token that is not a field (returned as rest). Quoted values
// (T="...", C="...", DN="...") may hold spaces and backslash escapes.
// arrival says whether T= is a subject (on "<=") or a transport.
func parseEximFields(s string, arrival bool, f *eximFields) (rest string) {
	for {
		s = trimLeftSpace(s)
		if s == "" {
			return ""
		}
		eq := strings.IndexByte(s, '=')
		sp := strings.IndexByte(s, ' ')
		if eq <= 0 || (sp >= 0 && sp < eq) {
			// A flag ("K", "L", "PRDR", "*") or the end of the fields.
			tok, after := cutToken(s)
			if len(tok) <= 4 && isUpperWord(tok) {
				s = after
				continue
			}
			return s
		}
		key := s[:eq]
		if !isFieldKey(key) {
			return s
		}
		v := s[eq+1:]
		var val string
		endOfFields := false
		if strings.HasPrefix(v, `"`) {
			end := quotedEnd(v)
			val, s = v[1:end], v[min(end+1, len(v)):]
			if strings.HasPrefix(s, ":") { // C="..."': text
				endOfFields, s = true, s[1:]
			}
		} else {
			val, s = cutToken(v)
			// "... CV=yes: SMTP error from ...": the last field ends with ':'.
			if strings.HasSuffix(val, ":") && key != "H" {
				val, endOfFields = val[:len(val)-1], true
			}
		}
		switch key {
		case "H":
			f.host = val
			// Optional "(helo)" and "[ip]:port" tokens follow.
			for k := 0; k < 3; k++ {
				t := trimLeftSpace(s)
				tok, after := cutToken(t)
				switch {
				case strings.HasPrefix(tok, "("):
					// The HELO name may hold spaces: up to the closing ')'.
					if j := strings.IndexByte(t, ')'); j > 0 {
						f.helo, s = t[1:j], t[j+1:]
					} else {
						f.helo, s = tok[1:], after
					}
				case strings.HasPrefix(tok, "["):
					f.ip = bracketIP(tok)
					s = after
					k = 3
					if strings.HasSuffix(tok, ":") { // "[ip]:port: text"
						endOfFields = true
					}
				default:
					k = 3
				}
			}
			if strings.HasPrefix(val, "[") { // H=[ip]
				f.ip, f.host = bracketIP(val), ""
				if strings.HasSuffix(val, ":") {
					endOfFields = true
				}
			} else if strings.HasPrefix(val, "(") {
				f.helo, f.host = strings.Trim(val, "()"), ""
			}
		case "A":
			f.auth = val
		case "S":
			f.size = int64(atoi(val))
		case "id":
			f.msgID = val
		case "T":
			if arrival {
				f.subject = val
			} else {
				f.transport = val
			}
		case "R":
			f.router = val
		case "F":
			f.sender, f.hasSender = trimAngle(val), true
		case "C":
			f.confirm = val
		}
		if endOfFields {
			return ": " + s
		}
	}
}

func isUpperWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if (s[i] < 'A' || s[i] > 'Z') && s[i] != '*' {
			return false
		}
	}
	return true
}

// isFieldKey accepts Exim's log field names: "H", "CV", "DN", "QT", "id",
// "PRX", "SNI", "TFO"...
func isFieldKey(k string) bool {
	if len(k) > 5 {
		return false
	}
	for i := 0; i < len(k); i++ {
		c := k[i]
		if !(c >= 'A' && c <= 'Z') && !(c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// quotedEnd returns the index of the closing quote of v (which starts
// with one), honouring backslash escapes, or len(v) if unterminated.
func quotedEnd(v string) int {
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return len(v)
}

// unescape undoes Exim's escaping of a logged text (string_printing in
// Exim's src/string.c, and the quoting of T="..." and C="..."): "\NNN"
// (octal: every byte that is not printable ASCII, so UTF-8 arrives as
// "\351\202\256"), "\n", "\r", "\t", "\b", "\v", "\f", "\"" and "\\". A
// header folded over lines ("Subject: a\n b") is unfolded: the newline
// goes, the white space that continues the line stays (RFC 5322 2.2.3).
// Bytes that do not form valid UTF-8 become U+FFFD, and the text is
// counted under texts_invalid_utf8. It returns s itself when it holds no
// backslash and is valid UTF-8.
func (p *Parser) unescape(s string) string {
	if strings.IndexByte(s, '\\') < 0 {
		if !utf8.ValidString(s) {
			p.stats[kTextInvalidUTF8]++
			return strings.ToValidUTF8(s, "\uFFFD")
		}
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '\\' || i+1 == len(s) {
			b = append(b, c)
			continue
		}
		i++
		switch d := s[i]; d {
		case 'n':
			if i+1 < len(s) && (s[i+1] == ' ' || s[i+1] == '\t') {
				continue // a folded header line: unfold
			}
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'b':
			b = append(b, '\b')
		case 'v':
			b = append(b, '\v')
		case 'f':
			b = append(b, '\f')
		case '0', '1', '2', '3':
			if i+2 < len(s) && s[i+1] >= '0' && s[i+1] <= '7' && s[i+2] >= '0' && s[i+2] <= '7' {
				b = append(b, (d-'0')<<6|(s[i+1]-'0')<<3|(s[i+2]-'0'))
				i += 2
				continue
			}
			b = append(b, '\\', d)
		case '"', '\\':
			b = append(b, d)
		default: // no escape Exim writes: kept as it is
			b = append(b, '\\', d)
		}
	}
	if !utf8.Valid(b) {
		p.stats[kTextInvalidUTF8]++
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(b)
}

// eximAddr reads the address at the start of s: a token, or a quoted
// local part with spaces ("a b"@example.com). It returns it and the rest.
func eximAddr(s string) (string, string) {
	s = trimLeftSpace(s)
	if strings.HasPrefix(s, `"`) || strings.HasPrefix(s, `<"`) {
		start := strings.IndexByte(s, '"')
		end := quotedEnd(s[start:]) + start
		if end < len(s) {
			tok, rest := cutToken(s[end:])
			return s[:end] + tok, rest
		}
	}
	if strings.HasPrefix(s, "<") {
		if i := strings.IndexByte(s, '>'); i >= 0 {
			return s[:i+1], trimLeftSpace(s[i+1:])
		}
	}
	return cutToken(s)
}

// eximArrival: "<= sender H=host (helo) [ip]:port P=esmtpa
// A=dovecot_plain:user S=1234 id=msgid T="subject" for rcpt...".
func (p *Parser) eximArrival(h *header, hs *hostState, mid, s string, em *emitter) *LineError {
	p.count(kEximArrival)
	raw, rest := eximAddr(s)
	if raw == "" {
		p.count(kEximUnknown)
		return errEximFields
	}
	var f eximFields
	parseEximFields(rest, true, &f)
	m := p.touch(hs, mtaExim, mid, h.ts, em.id, em.emit)
	m.queued = true
	sender, ok := p.address(raw)
	if !ok {
		m.hostile = true
		return errHostileAddr
	}
	m.sender = sender
	if f.ip != "" {
		ip, ok := p.token(f.ip)
		if !ok {
			m.hostile = true
			return errHostileToken
		}
		m.clientIP = ip
	}
	if f.auth != "" {
		if _, user, ok := strings.Cut(f.auth, ":"); ok && user != "" {
			u, ok := p.token(user)
			if !ok {
				m.hostile = true
				return errHostileToken
			}
			m.saslUser = u
		}
	}
	m.size = f.size
	if f.msgID != "" {
		m.messageID = cleanText(trimAngle(f.msgID), 998)
	}
	if f.subject != "" {
		m.subject = decodeSubject(p.unescape(f.subject))
	}
	return nil
}

// eximDelivery handles "=>", "->", "*>", ">>" (sent), "**" (bounced) and
// "==" (deferred):
//
//	=> rcpt [<parent>] [F=<s>] R=router T=transport H=host [ip]:port C="250 ..."
//	** rcpt [<parent>] R=r T=t H=host [ip] : SMTP error from remote mail server after RCPT TO:<x>: 550 5.1.1 ...
//	** rcpt: retry timeout exceeded
//	== rcpt R=r T=t defer (-44) H=host [ip]: SMTP error from remote mail server after RCPT TO:<x>: 451 ...
func (p *Parser) eximDelivery(h *header, hs *hostState, mid string, status event.Status, s string, em *emitter) *LineError {
	kind := kEximDelivery
	switch status {
	case event.StatusBounced:
		kind = kEximFail
	case event.StatusDeferred:
		kind = kEximDefer
	}
	p.count(kind)
	raw, rest := eximAddr(s)
	if raw == "" {
		p.count(kEximUnknown)
		return errEximFields
	}
	text, hasText := "", false
	if strings.HasSuffix(raw, ":") { // "** rcpt: text"
		raw, text, hasText = raw[:len(raw)-1], rest, true
		rest = ""
	}
	// The parent (original) address, if any.
	parent := ""
	if t := trimLeftSpace(rest); strings.HasPrefix(t, "<") {
		parent, rest = eximAddr(t)
		parent = trimAngle(strings.TrimSuffix(parent, ":"))
	}
	var f eximFields
	if !hasText {
		switch status {
		case event.StatusDeferred:
			// "R=r T=t defer (errno)[ H=...]: text" or "routing defer (errno): text".
			i := strings.Index(rest, "defer (")
			if i < 0 {
				p.count(kEximUnknown)
				return errEximFields
			}
			parseEximFields(rest[:i], false, &f)
			after := rest[i:]
			if j := strings.IndexByte(after, ')'); j >= 0 {
				after = after[j+1:]
				if k := strings.Index(after, ": "); k >= 0 {
					parseEximFields(after[:k], false, &f)
					text, hasText = after[k+2:], true
				} else {
					parseEximFields(after, false, &f)
				}
			}
		default:
			r := parseEximFields(rest, false, &f)
			if strings.HasPrefix(r, ": ") || r == ":" {
				text, hasText = strings.TrimPrefix(strings.TrimPrefix(r, ":"), " "), true
			} else if i := strings.Index(r, " : "); i >= 0 {
				text, hasText = r[i+3:], true
			}
		}
	}
	_ = hasText
	// The recipient: the address delivered to, or its parent when the
	// delivery went to a pipe, file, :blackhole: or a bare local part.
	addr := raw
	if parent != "" && (strings.IndexByte(raw, '@') < 0 || strings.HasPrefix(raw, "|") || strings.HasPrefix(raw, "/")) {
		addr = parent
	}
	rcpt, ok := p.eventAddress(addr)
	if !ok {
		return errHostileAddr
	}
	o := outcome{status: status, rcpt: rcpt}
	if f.host != "" || f.ip != "" {
		o.relay = p.eximRelay(f.host, f.ip)
	} else {
		o.relay = f.transport
	}
	if checkToken(o.relay) != nil {
		o.relay = ""
	}
	switch status {
	case event.StatusSent:
		if f.confirm != "" {
			c := p.unescape(f.confirm)
			if code, r, ok := replyCode(c); ok {
				o.code, o.text = code, r
				if d, r2, ok := dsnToken(r); ok {
					o.dsn, o.text = d, r2
				}
			} else {
				o.text = c
			}
		}
	default:
		o.code, o.dsn, o.text = eximReply(text)
		o.text = p.unescape(o.text)
		if status == event.StatusBounced && strings.Contains(text, "retry time") {
			o.status = event.StatusExpired // the retry limit ended the message's life
		}
	}
	if f.hasSender {
		a, ok := p.address(f.sender)
		if !ok {
			return errHostileAddr
		}
		o.sender, o.hasSender = a, true
	}
	m := p.lookup(hs, mid)
	if m == nil && status == event.StatusDeferred {
		m = p.touch(hs, mtaExim, mid, h.ts, em.id, em.emit)
		m.queued = true
	} else if m != nil {
		p.seen(m, h.ts, em.id)
	}
	if m != nil && m.hostile {
		return errHostileMsg
	}
	e := p.event(mtaExim, hs, mid, m, h.ts, em.next(), &o)
	if m != nil && o.status == event.StatusExpired {
		// "retry timeout exceeded" says nothing of the cause: keep the last
		// deferral's classification.
		for _, r := range m.outstanding {
			if r.addr == rcpt {
				e.DSN, e.ReplyCode, e.Reason = r.dsn, r.code, r.reason
			}
		}
	}
	if m != nil {
		m.attempts++
		if status == event.StatusDeferred {
			m.deferred(p.own(rcpt), e.DSN, e.ReplyCode, classify.Reason(e.Reason))
		} else {
			m.settled(rcpt)
		}
	}
	em.emit(e)
	return nil
}

// eximRelay formats "host[ip]" like Postfix's relay=, in the scratch buffer.
func (p *Parser) eximRelay(host, ip string) string {
	b := p.scratch[:0]
	b = append(b, host...)
	if ip != "" {
		b = append(b, '[')
		b = append(b, ip...)
		b = append(b, ']')
	}
	p.scratch = b
	return view(b)
}

// eximReply finds the remote reply in an Exim error text: "SMTP error
// from remote mail server after RCPT TO:<x>: 550 5.1.1 text", "LMTP error
// after DATA: 550 text", or the older "...: host h [ip]: 451 text". A
// local error ("Unrouteable address", "retry timeout exceeded") has code 0.
func eximReply(t string) (int, string, string) {
	if i := strings.Index(t, " error "); i >= 0 && i < 40 {
		for k := i; k+2 < len(t); {
			j := strings.Index(t[k:], ": ")
			if j < 0 {
				break
			}
			k += j + 2
			if code, r, ok := replyCode(t[k:]); ok {
				dsn, r2, dok := dsnToken(r)
				if dok {
					r = r2
				}
				return code, dsn, joinContinuations(r)
			}
		}
	}
	if code, r, ok := replyCode(t); ok { // "590 5.4.3 text" from a router
		dsn, r2, dok := dsnToken(r)
		if dok {
			r = r2
		}
		return code, dsn, joinContinuations(r)
	}
	return 0, "", t
}

// joinContinuations turns the lines of a multi-line reply, which Exim logs
// joined by a literal backslash-n ("550-5.1.1 first\n550-5.1.1 second"),
// into one text: each later line loses its code and enhanced code, and the
// lines are joined by a space. Texts without "\n" come back unchanged,
// without allocating.
func joinContinuations(r string) string {
	if !strings.Contains(r, `\n`) {
		return r
	}
	parts := strings.Split(r, `\n`)
	var b strings.Builder
	b.Grow(len(r))
	for i, part := range parts {
		if i > 0 {
			if _, rest, ok := replyCode(part); ok {
				part = rest
				if _, rest2, ok := dsnToken(part); ok {
					part = rest2
				}
			}
		}
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(part)
	}
	return b.String()
}

// eximRejectOrOther handles the lines that are not deliveries: ACL
// rejections (with or without a message id) and the rest (connections,
// queue runs, TLS, frozen messages...), which are only counted.
//
//	H=(helo) [ip]:port I=[ip]:25 F=<sender> rejected RCPT <rcpt>: reason
//	H=... F=<sender> temporarily rejected RCPT <rcpt>: reason
//	[mid] H=... F=<sender> rejected after DATA: reason
//	mid F=<sender> rejected by non-SMTP ACL: reason
//	H=... F=<sender> rejected MAIL <sender>: reason
func (p *Parser) eximRejectOrOther(h *header, hs *hostState, mid, s string, em *emitter) *LineError {
	if mid == "" {
		if i := strings.Index(s, " authenticator failed for "); i > 0 {
			if handled, err := p.eximAuthFailed(h, hs, s[i+len(" authenticator failed for "):], em); handled {
				return err
			}
		}
	}
	i := strings.Index(s, "rejected ")
	if i < 0 || (i > 0 && s[i-1] != ' ') {
		if isEximNoise(mid != "", s) {
			p.count(kEximOther)
			return nil
		}
		p.count(kEximUnrecognised)
		return errEximShape
	}
	before, after := s[:i], s[i+len("rejected "):]
	temp := false
	if strings.HasSuffix(before, "temporarily ") {
		temp, before = true, strings.TrimSuffix(before, "temporarily ")
	}
	var f eximFields
	if r := parseEximFields(before, false, &f); strings.TrimSpace(r) != "" {
		// "rejected" is not the verb of this line (it is in some text).
		p.count(kEximOther)
		return nil
	}
	p.count(kEximReject)
	var rcpt, reason string
	switch {
	case strings.HasPrefix(after, "RCPT "):
		var raw string
		raw, reason = eximAddr(after[len("RCPT "):])
		if strings.HasSuffix(raw, ":") {
			raw = raw[:len(raw)-1]
		} else {
			reason = strings.TrimPrefix(reason, ": ")
		}
		if raw == "" {
			p.count(kEximUnknown)
			return errEximFields
		}
		a, ok := p.address(raw)
		if !ok {
			return errHostileAddr
		}
		rcpt = a
	case strings.HasPrefix(after, "MAIL "):
		var raw string
		raw, reason = eximAddr(after[len("MAIL "):])
		reason = strings.TrimPrefix(reason, ": ")
		raw = strings.TrimSuffix(raw, ":")
		if !strings.HasPrefix(raw, "<") { // "rejected MAIL command ..."
			p.count(kEximRejectSession)
			return nil
		}
	case strings.HasPrefix(after, "after DATA"), strings.HasPrefix(after, "during MIME ACL checks"),
		strings.HasPrefix(after, "by non-SMTP ACL"), strings.HasPrefix(after, "by local_scan()"),
		strings.HasPrefix(after, "after DKIM"), strings.HasPrefix(after, "by the DATA ACL"):
		if _, r, ok := strings.Cut(after, ": "); ok {
			reason = r
		}
	default:
		p.count(kEximRejectSession) // EHLO, HELO, connection, STARTTLS, VRFY...: no message
		return nil
	}
	o := outcome{status: event.StatusRejected, rcpt: rcpt}
	if f.hasSender {
		a, ok := p.address(f.sender)
		if !ok {
			return errHostileAddr
		}
		o.sender, o.hasSender = a, true
	}
	if f.ip != "" {
		ip, ok := p.token(f.ip)
		if !ok {
			return errHostileToken
		}
		o.clientIP = ip
	}
	if f.auth != "" {
		if _, user, ok := strings.Cut(f.auth, ":"); ok && user != "" {
			u, ok := p.token(user)
			if !ok {
				return errHostileToken
			}
			o.saslUser = u
		}
	}
	// Exim does not log the code of an ACL refusal: deny is 550 and defer
	// 450 unless the ACL set another (then the reason text starts with it).
	o.code, o.dsn, o.text = eximReply(reason)
	o.text = p.unescape(o.text)
	if o.code == 0 {
		o.code = 550
		if temp {
			o.code = 450
		}
	}
	var m *msg
	if mid != "" {
		m = p.lookup(hs, mid)
		if m != nil && m.hostile {
			return errHostileMsg
		}
	}
	em.emit(p.event(mtaExim, hs, mid, m, h.ts, em.next(), &o))
	if m != nil && rcpt == "" {
		p.forget(m)
	}
	return nil
}

// eximAuthFailed: "<authenticator> authenticator failed for [H=]host
// (helo) [ip]:port I=[ip]:port [U=ident]: 535 Incorrect authentication
// data (set_id=user)" (s is the text after "failed for "). A permanent
// refusal (5xx) is one auth_failed event with the client IP and the login
// (set_id); a temporary one ("435 Unable to authenticate at present") is
// the server's own trouble and only counted.
func (p *Parser) eximAuthFailed(h *header, hs *hostState, s string, em *emitter) (bool, *LineError) {
	var ip, text string
	for k := 0; k+2 < len(s); {
		j := strings.Index(s[k:], ": ")
		if j < 0 {
			break
		}
		if _, _, ok := replyCode(s[k+j+2:]); ok {
			ip, text = eximClientIP(s[:k+j]), s[k+j+2:]
			break
		}
		k += j + 2
	}
	if text == "" {
		return false, nil
	}
	code, dsn, rest := eximReply(text)
	if code < 500 {
		p.count(kEximOther)
		return true, nil
	}
	p.count(kEximAuth)
	o := outcome{status: event.StatusAuthFailed, code: code, dsn: dsn, text: rest}
	if i := strings.Index(text, "(set_id="); i >= 0 {
		v := text[i+len("(set_id="):]
		j := strings.IndexByte(v, ')')
		if j < 0 {
			j = len(v)
		}
		u, ok := p.token(v[:j])
		if !ok {
			return true, errHostileToken
		}
		o.saslUser = u
		if k := strings.Index(o.text, " (set_id="); k >= 0 {
			o.text = o.text[:k]
		}
	}
	if ip != "" {
		v, ok := p.token(ip)
		if !ok {
			return true, errHostileToken
		}
		o.clientIP = v
	}
	em.emit(p.event(mtaExim, hs, "", nil, h.ts, em.next(), &o))
	return true, nil
}

// eximClientIP returns the client IP of Exim's host_and_ident text
// ("H=host (helo) [ip]:port I=[ip]:port U=ident"): the first bracketed
// token that is not the interface (I=).
func eximClientIP(s string) string {
	for s != "" {
		var tok string
		tok, s = cutToken(trimLeftSpace(s))
		tok = strings.TrimPrefix(tok, "H=")
		if strings.HasPrefix(tok, "[") {
			return bracketIP(tok)
		}
	}
	return ""
}
