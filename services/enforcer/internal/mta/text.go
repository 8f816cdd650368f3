package mta

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// MaxMessageLen bounds a sanitised message, in bytes (the limit
// event.Verdict.Validate applies).
const MaxMessageLen = 400

// DefaultMessage replaces a message that is empty after sanitising, so
// every entry has data (an empty lsearch value would read as "not banned"
// in most Exim ACLs). It is the text Postfix itself uses.
const DefaultMessage = "Access denied"

// asciiFor transliterates the typographic runes human-written messages
// tend to hold; any other non-ASCII rune becomes '?'.
var asciiFor = map[rune]string{
	'\u2018': "'", '\u2019': "'", '\u201c': `"`, '\u201d': `"`,
	'\u2013': "-", '\u2014': "-", '\u2026': "...", '\u00a0': " ",
}

// SanitizeMessage reduces s to one line of printable ASCII of at most
// MaxMessageLen bytes: runs of white space and control characters become
// one space, invalid UTF-8 and other non-ASCII runes become '?', and the
// ends are trimmed. It returns DefaultMessage for an empty result. The
// result is safe as the text of a Postfix access action, an Exim lsearch
// value, a policy answer and a terminal line.
func SanitizeMessage(s string) string {
	var b strings.Builder
	b.Grow(min(len(s), MaxMessageLen))
	space := false
	put := func(t string) {
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(t)
	}
	for i := 0; i < len(s) && b.Len() < MaxMessageLen; {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch {
		case r == utf8.RuneError:
			put("?")
		case r > ' ' && r < 0x7f:
			put(string(r))
		case r == ' ' || unicode.IsSpace(r) || unicode.IsControl(r):
			space = true
		default:
			if t, ok := asciiFor[r]; ok {
				if t == " " {
					space = true
				} else {
					put(t)
				}
			} else {
				put("?")
			}
		}
	}
	out := b.String()
	if len(out) > MaxMessageLen {
		out = out[:MaxMessageLen]
	}
	out = strings.TrimSpace(out)
	if out == "" {
		return DefaultMessage
	}
	return out
}

// Skip reasons: the only values of the reason label.
const (
	// SkipToken: the subject fails event.CheckToken (white space, control
	// characters, not UTF-8, too long) or holds a non-printable rune.
	SkipToken = "token"
	// SkipShape: the subject is not a local@domain address (or a domain,
	// for the domain kinds) this map can express.
	SkipShape = "shape"
	// SkipSyntax: the key holds a character the format cannot carry.
	SkipSyntax = "syntax"
	// SkipDuplicate: a second ban rendered to a key already written.
	SkipDuplicate = "duplicate"
	// SkipAllowlisted: a domain ban left out of a format that cannot
	// express the allowlisted addresses inside the domain (the allowlist
	// wins; the policy server still enforces the domain for the others).
	SkipAllowlisted = "allowlisted"
)

// checkPrintable runs event.CheckToken and refuses non-printable runes
// (format characters such as U+202E that CheckToken lets through).
func checkPrintable(s string) bool {
	if event.CheckToken(s) != nil {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == ' ' {
			return false
		}
	}
	return true
}

// addressKey returns the lookup key for an address subject, or a skip
// reason. The key is lower-cased local@domain with a non-empty local part
// (no '@' or '"' in it) and a domain accepted by domainOK.
func addressKey(subject string) (string, string) {
	k := strings.ToLower(subject)
	if !checkPrintable(k) {
		return "", SkipToken
	}
	at := strings.LastIndexByte(k, '@')
	if at <= 0 {
		return "", SkipShape
	}
	local, domain := k[:at], k[at+1:]
	if strings.ContainsAny(local, `@"`) || !domainOK(domain) {
		return "", SkipShape
	}
	return k, ""
}

// domainKey returns the lookup key for a domain subject, or a skip reason.
func domainKey(subject string) (string, string) {
	k := strings.ToLower(subject)
	if !checkPrintable(k) {
		return "", SkipToken
	}
	if !domainOK(k) {
		return "", SkipShape
	}
	return k, ""
}

// domainOK accepts host names (letters, digits, marks, '-', '_' and
// single inner dots; IDNs in UTF-8 or punycode) and address literals
// ("[192.0.2.1]", "[ipv6:2001:db8::1]").
func domainOK(d string) bool {
	if d == "" || len(d) > 255 {
		return false
	}
	if d[0] == '[' {
		if len(d) < 3 || d[len(d)-1] != ']' {
			return false
		}
		inner := strings.TrimPrefix(d[1:len(d)-1], "ipv6:")
		if inner == "" {
			return false
		}
		for _, r := range inner {
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r == '.' || r == ':') {
				return false
			}
		}
		return true
	}
	if d[0] == '.' || d[len(d)-1] == '.' || strings.Contains(d, "..") {
		return false
	}
	for _, r := range d {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.M, r) || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}
