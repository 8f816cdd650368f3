package parse

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// The header lines the MTA logs for the detector's bulk and automation
// rules (README, Logging headers), by their canonical names. Postfix
// header_checks INFO lines carry any of them ("QID: info: header Name:
// value from ..."); Exim's acl_smtp_data / acl_not_smtp logwrite carries
// them as short keys on one "MXWARDEN-HEADERS" line. Other header names a
// header_checks line may log are not kept (Subject is, in its own field).
const (
	hdrListUnsubscribe     = "List-Unsubscribe"
	hdrListUnsubscribePost = "List-Unsubscribe-Post"
	hdrPrecedence          = "Precedence"
	hdrListID              = "List-Id"
	hdrXMailer             = "X-Mailer"
	hdrAutoSubmitted       = "Auto-Submitted"
	hdrXCronEnv            = "X-Cron-Env"
)

var loggedHeaders = [...]string{
	hdrListUnsubscribe, hdrListUnsubscribePost, hdrPrecedence, hdrListID, hdrXMailer, hdrAutoSubmitted, hdrXCronEnv,
}

// canonicalHeader returns the canonical spelling of a kept header name
// (header names are case-insensitive, and so are Postfix's regexp tables).
func canonicalHeader(name string) (string, bool) {
	for _, h := range loggedHeaders {
		if strings.EqualFold(name, h) {
			return h, true
		}
	}
	return "", false
}

// eximHeaderMark starts the line the Exim logwrite of the README writes.
const eximHeaderMark = "MXWARDEN-HEADERS"

// eximHeaderKeys maps the logwrite's keys to the header names. cron is a
// flag (1: an X-Cron-Env header was present), the others are values
// (empty: the header is absent). lid is not in the README's statement but
// is read if an operator adds it.
var eximHeaderKeys = map[string]string{
	"lu": hdrListUnsubscribe, "lup": hdrListUnsubscribePost, "prec": hdrPrecedence, "lid": hdrListID,
	"xm": hdrXMailer, "as": hdrAutoSubmitted, "cron": hdrXCronEnv,
}

// cronPresent is the value of X-Cron-Env for Exim's cron=1 (the logwrite
// says only that the header was there).
const cronPresent = "present"

// headerEntry builds the "Name: value" entry of a logged header, or ""
// when the value is empty. The value loses its surrounding white space;
// control characters (tab included), line and paragraph separators, C1
// controls and format characters (bidi overrides, zero-width) become
// spaces and invalid UTF-8 becomes U+FFFD, counted once per header under
// headers_sanitised (tabs alone are not counted: folded headers hold
// them); an entry longer than event.MaxHeaderLen is cut on a rune boundary
// and counted under headers_cut. The result is a fresh string.
func (p *Parser) headerEntry(name, value string) string {
	value = strings.Trim(value, " \t")
	if value == "" {
		return ""
	}
	var b strings.Builder
	b.Grow(len(name) + 2 + len(value))
	b.WriteString(name)
	b.WriteString(": ")
	hostile, cut := false, false
	for i := 0; i < len(value); {
		r, n := utf8.DecodeRuneInString(value[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			hostile, r = true, utf8.RuneError
		case r == '\t':
			r = ' '
		case hostileRune(r):
			hostile, r = true, ' '
		}
		if b.Len()+utf8.RuneLen(r) > event.MaxHeaderLen {
			cut = true
			break
		}
		b.WriteRune(r)
		i += n
	}
	if hostile {
		p.stats[kHeaderSanitised]++
	}
	if cut {
		p.stats[kHeaderCut]++
	}
	return strings.TrimRight(b.String(), " ")
}

// addHeader adds a logged header to the message's join state, in log
// order: a repeated identical entry is kept once, and beyond
// event.MaxHeaders entries the header is dropped and counted under
// headers_dropped.
func (p *Parser) addHeader(m *msg, name, value string) {
	h := p.headerEntry(name, value)
	if h == "" {
		return
	}
	for _, x := range m.headers {
		if x == h {
			return
		}
	}
	if len(m.headers) >= event.MaxHeaders {
		p.stats[kHeaderDropped]++
		return
	}
	m.headers = append(m.headers, h)
}

// hostileRune reports whether a header value may not hold r: C0 and C1
// controls, DEL, the line and paragraph separators, format characters.
func hostileRune(r rune) bool {
	return r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 || unicode.Is(unicode.Cf, r)
}

// validHeader reports whether a saved header entry is one headerEntry
// could have written (Restore's check of an edited checkpoint).
func validHeader(h string) bool {
	name, value, ok := strings.Cut(h, ": ")
	if !ok || len(h) > event.MaxHeaderLen || !utf8.ValidString(h) {
		return false
	}
	if c, ok := canonicalHeader(name); !ok || c != name || value == "" {
		return false
	}
	for _, r := range value {
		if hostileRune(r) {
			return false
		}
	}
	return true
}

// postfixHeaderText splits the text of a cleanup header_checks log line,
// "header Name: value from host[ip]; from=<s> to=<r> proto=ESMTP
// helo=<h>[: optional text]" ("from local;" for pickup), into the header's
// name and value (the value as Postfix logged it: at most 200 characters
// of the header line).
func postfixHeaderText(s string) (name, value string, ok bool) {
	rest, ok := strings.CutPrefix(s, "header ")
	if !ok {
		return "", "", false
	}
	name, value, ok = strings.Cut(rest, ":")
	if !ok || name == "" || strings.IndexByte(name, ' ') >= 0 {
		return "", "", false
	}
	// The client part is the last " from X;" before the envelope fields
	// (a value may hold " from " and even "; from=<" of its own).
	if i := strings.LastIndex(value, "; from=<"); i >= 0 {
		value = value[:i+1]
	} else if i := strings.LastIndex(value, "; to=<"); i >= 0 {
		value = value[:i+1]
	} else if i := strings.LastIndex(value, "; proto="); i >= 0 {
		value = value[:i+1]
	}
	value = strings.TrimSuffix(value, ";")
	if i := strings.LastIndex(value, " from "); i >= 0 {
		value = value[:i]
	}
	return name, strings.TrimPrefix(value, " "), true
}

// eximHeaders: the logwrite of the README's acl_smtp_data / acl_not_smtp
// statement, "MID MXWARDEN-HEADERS lu="<https://...>" lup="..."
// prec=bulk xm="PHPlist v3.6" as="" cron=0" (s is the text after the
// mark). Values are Exim's ${quote:} (quoted when they hold anything but
// letters, digits, '_', '.' and '-', with \" \\ \n \r) as the log writer
// escapes them (\NNN for non-printable bytes); an empty value means the
// header is absent. Keys the parser does not know are skipped. A line
// without a message id (logwrite outside a message ACL) cannot be
// joined and is only counted.
func (p *Parser) eximHeaders(h *header, hs *hostState, mid, s string, em *emitter) *LineError {
	p.count(kEximHeaders)
	if mid == "" {
		return nil
	}
	m := p.touch(hs, mtaExim, mid, h.ts, em.id, em.emit)
	for {
		s = trimLeftSpace(s)
		if s == "" {
			return nil
		}
		tok, after := cutToken(s)
		key, v, ok := strings.Cut(tok, "=")
		if !ok {
			s = after // a word of the operator's own: skipped
			continue
		}
		if strings.HasPrefix(v, `"`) {
			v = s[len(key)+1:]
			end := quotedEnd(v)
			v, after = v[1:end], v[min(end+1, len(v)):]
			v = p.unescape(v)
		}
		s = after
		name, known := eximHeaderKeys[key]
		switch {
		case !known:
		case name == hdrXCronEnv:
			if v == "1" {
				p.addHeader(m, name, cronPresent)
			}
		default:
			p.addHeader(m, name, v)
		}
	}
}
