package classify

import "github.com/mxwarden/mxwarden/pkg/event"

// Reason is one class of the reply taxonomy, which is part of the data
// contract and lives in pkg/event. The empty Reason means a successful
// delivery.
type Reason = event.Reason

// The taxonomy, under the short names this package's rules use.
const (
	None           = event.ReasonNone
	UserUnknown    = event.ReasonUserUnknown
	MailboxFull    = event.ReasonMailboxFull
	HostNotFound   = event.ReasonHostNotFound
	Blocklisted    = event.ReasonBlocklisted
	RecipientBlock = event.ReasonRecipientBlock
	AuthFailure    = event.ReasonAuthFailure
	RateLimited    = event.ReasonRateLimited
	SpamContent    = event.ReasonSpamContent
	Policy         = event.ReasonPolicy
	RelayDenied    = event.ReasonRelayDenied
	MessageTooBig  = event.ReasonMessageTooBig
	Network        = event.ReasonNetwork
	Other          = event.ReasonOther
)

// Reasons lists every non-empty Reason, in documentation order.
func Reasons() []Reason { return event.Reasons() }

// maxText bounds how much of a reply is examined. Real replies rarely run
// past a few hundred bytes; the phrases that decide the class come early.
const maxText = 1024

// Classify maps one SMTP (or local delivery agent) reply onto the taxonomy.
//
// code is the basic SMTP reply code (0 when unknown, e.g. a local error or a
// connection failure), dsn the enhanced status code ("5.1.1", "" when
// unknown) and text the reply text; text may still carry the code and the
// enhanced code, and multi-line replies may keep their "550-5.1.1"
// continuation prefixes: both are ignored.
//
// Decision order: success (2xx code or 2.x.x DSN) → distinctive phrases in
// the text, most specific class first → a specific enhanced status code →
// generic refusal words ("rejected", "blocked", ...) → a generic enhanced
// status code → the basic reply code → Other. Classify does not allocate
// for texts up to 1 KiB and never uses regular expressions.
func Classify(code int, dsn, text string) Reason {
	if code >= 200 && code < 300 {
		return None
	}
	dc, ds, dd, dok := parseDSN(dsn)
	if code == 0 && dok && dc == 2 {
		return None
	}
	var buf [maxText]byte
	norm := normalize(buf[:0], text)
	if code == 0 || !dok {
		// The text may start with the reply: "550 5.1.1 <x>: ...".
		if c, tc, ts, td, tok := leadingReply(text); c != 0 {
			if code == 0 {
				code = c
				if code >= 200 && code < 300 {
					return None
				}
			}
			if !dok && tok {
				dc, ds, dd, dok = tc, ts, td, tok
			}
		}
	}
	// Microsoft's directory-based edge blocking answers a nonexistent
	// recipient with "550 5.4.1 Recipient address rejected: Access denied";
	// elsewhere that phrase is a plain policy refusal.
	if dok && dc == 5 && ds == 4 && dd == 1 && contains(norm, "access denied") {
		return UserUnknown
	}
	if r, ok := strongPhrases.match(norm); ok {
		return r
	}
	if dok {
		if r := specificDSN(dc, ds, dd); r != None {
			return r
		}
	}
	// A "mail system" (x.3.x) or "network" (x.4.x) status says the refusal
	// is the receiver's trouble, whatever generic word the text uses.
	if !dok || (ds != 3 && ds != 4) {
		if r, ok := weakPhrases.match(norm); ok {
			return r
		}
	}
	if dok {
		if r := genericDSN(dc, ds, dd); r != None {
			return r
		}
	}
	return byCode(code)
}

// parseDSN parses "c.s.d" (class, subject, detail).
func parseDSN(s string) (c, sub, det int, ok bool) {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return 0, 0, 0, false
	}
	c = int(s[0] - '0')
	i := 2
	sub, i = atoiAt(s, i)
	if sub < 0 || i >= len(s) || s[i] != '.' {
		return 0, 0, 0, false
	}
	det, i = atoiAt(s, i+1)
	if det < 0 || i != len(s) {
		return 0, 0, 0, false
	}
	return c, sub, det, true
}

// atoiAt reads 1-3 decimal digits at s[i:], returning -1 when there are none.
func atoiAt(s string, i int) (int, int) {
	n, j := 0, i
	for j < len(s) && j-i < 3 && s[j] >= '0' && s[j] <= '9' {
		n = n*10 + int(s[j]-'0')
		j++
	}
	if j == i {
		return -1, i
	}
	return n, j
}

// leadingReply extracts "NNN[ -]c.s.d" from the start of text (after an
// optional "smtp;" style diagnostic type and white space).
func leadingReply(text string) (code, c, sub, det int, ok bool) {
	i := 0
	for i < len(text) && (text[i] == ' ' || text[i] == '#') {
		i++
	}
	// Diagnostic type of a DSN ("smtp;", "X-Postfix;"). Only an "smtp"
	// diagnostic starts with a reply code; "X-Unix; 255" is an exit code.
	for j := i; j < len(text) && j-i < 24; j++ {
		if b := text[j] | 0x20; (b < 'a' || b > 'z') && text[j] != '-' {
			if text[j] == ';' && j > i {
				if j-i != 4 || text[i]|0x20 != 's' || text[i+1]|0x20 != 'm' || text[i+2]|0x20 != 't' || text[i+3]|0x20 != 'p' {
					return 0, 0, 0, 0, false
				}
				i = j + 1
				for i < len(text) && text[i] == ' ' {
					i++
				}
			}
			break
		}
	}
	if len(text)-i < 3 || !isDigit(text[i]) || !isDigit(text[i+1]) || !isDigit(text[i+2]) {
		return 0, 0, 0, 0, false
	}
	code = int(text[i]-'0')*100 + int(text[i+1]-'0')*10 + int(text[i+2]-'0')
	i += 3
	if i < len(text) && text[i] != ' ' && text[i] != '-' {
		return 0, 0, 0, 0, false
	}
	if i < len(text) {
		i++
	}
	for i < len(text) && (text[i] == ' ' || text[i] == '#') {
		i++
	}
	j := i
	for j < len(text) && (isDigit(text[j]) || text[j] == '.') {
		j++
	}
	c, sub, det, ok = parseDSN(text[i:j])
	return code, c, sub, det, ok
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

// specificDSN maps enhanced status codes (RFC 3463, IANA registry, and the
// provider extensions seen in the wild) whose meaning is narrow enough to
// decide the class even when the text says nothing useful.
func specificDSN(c, s, d int) Reason {
	switch s {
	case 1:
		switch d {
		case 0, 1, 6:
			return UserUnknown
		case 2, 8, 10:
			return HostNotFound
		}
	case 2:
		switch d {
		case 1:
			return UserUnknown
		case 2:
			return MailboxFull
		case 3:
			return MessageTooBig
		}
	case 3:
		if d == 4 {
			return MessageTooBig
		}
	case 4:
		switch d {
		case 4:
			return HostNotFound
		case 1, 2, 6, 7:
			return Network
		}
	case 5:
		if d == 3 {
			return RateLimited
		}
	case 7:
		switch {
		case d == 8 || d == 12 || (d >= 20 && d <= 24) || d == 26:
			return AuthFailure
		case d == 13 || d == 17:
			return UserUnknown
		case d == 25:
			return Policy
		case d == 27:
			return HostNotFound
		case d == 28:
			return RateLimited
		// Microsoft 365 / Outlook.com extended codes.
		case d == 509 || d == 515:
			return AuthFailure
		case d == 511 || d == 513:
			return Blocklisted
		case d >= 606 && d <= 649:
			return Blocklisted
		case d >= 650 && d <= 652:
			return RateLimited
		case d >= 700 && d <= 749:
			return Blocklisted
		}
	}
	return None
}

// genericDSN maps the remaining enhanced status codes by subject.
func genericDSN(c, s, d int) Reason {
	switch s {
	case 4:
		return Network
	case 7:
		return Policy
	}
	return None
}

// byCode is the last resort: the basic reply code alone.
func byCode(code int) Reason {
	switch code {
	case 551:
		return UserUnknown
	case 552:
		return MailboxFull // RFC 5321: "exceeded storage allocation"
	case 521, 556:
		return HostNotFound // RFC 7504 / RFC 7505: does not accept mail
	case 530, 534, 535, 538:
		return AuthFailure
	}
	return Other
}
