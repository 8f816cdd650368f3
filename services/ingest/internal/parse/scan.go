package parse

import (
	"strings"
	"unicode/utf8"
	"unsafe"
)

// view returns b as a string without copying. The parser works on views of
// the caller's line buffer, which the caller may reuse after Feed returns:
// every string that outlives Feed must go through Parser.own (or be built
// fresh), never be a view.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

func isDigit(b byte) bool { return b >= '0' && b <= '9' }

func isAlnum(b byte) bool {
	return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'z') || (b >= 'A' && b <= 'Z')
}

// two reads two decimal digits at s[i:].
func two(s string, i int) (int, bool) {
	if i+2 > len(s) || !isDigit(s[i]) || !isDigit(s[i+1]) {
		return 0, false
	}
	return int(s[i]-'0')*10 + int(s[i+1]-'0'), true
}

// atoi parses a run of decimal digits, saturating well below overflow;
// non-digits end the number.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s) && isDigit(s[i]); i++ {
		if n < 1e15 {
			n = n*10 + int(s[i]-'0')
		}
	}
	return n
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

func trimLeftSpace(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

// cutToken returns the text up to the next space and the rest after it.
func cutToken(s string) (tok, rest string) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// replyCode reads a 3-digit SMTP reply code at the start of s followed by
// a space, a '-' or the end. It returns the code and the rest after the
// separator.
func replyCode(s string) (int, string, bool) {
	if len(s) < 3 || s[0] < '2' || s[0] > '5' || !isDigit(s[1]) || !isDigit(s[2]) {
		return 0, s, false
	}
	if len(s) > 3 && s[3] != ' ' && s[3] != '-' {
		return 0, s, false
	}
	code := int(s[0]-'0')*100 + int(s[1]-'0')*10 + int(s[2]-'0')
	if len(s) > 3 {
		return code, s[4:], true
	}
	return code, "", true
}

// dsnToken reads an enhanced status code "c.s.d" at the start of s (c in
// 2, 4, 5; s and d up to 3 digits) followed by a space or the end.
func dsnToken(s string) (string, string, bool) {
	if len(s) < 5 || (s[0] != '2' && s[0] != '4' && s[0] != '5') || s[1] != '.' {
		return "", s, false
	}
	i, dots := 2, 0
	for i < len(s) && i < 12 && (isDigit(s[i]) || s[i] == '.') {
		if s[i] == '.' {
			if !isDigit(s[i-1]) {
				return "", s, false
			}
			dots++
		}
		i++
	}
	if dots != 1 || !isDigit(s[i-1]) || (i < len(s) && s[i] != ' ') {
		return "", s, false
	}
	if i < len(s) {
		return s[:i], s[i+1:], true
	}
	return s[:i], "", true
}

// maxText bounds the reply texts and subjects kept in events.
const maxText = 1024

// cleanText makes a log text safe to keep: control characters become
// spaces, invalid UTF-8 is replaced, and it is cut to max bytes on a rune
// boundary. It returns a fresh string (never a view).
func cleanText(s string, max int) string {
	v, fresh := cleanTextView(s, max)
	if !fresh {
		return strings.Clone(v)
	}
	return v
}

// cleanTextView is cleanText without the copy of a text that needs no
// change: it then returns (a prefix of) s itself and fresh=false.
func cleanTextView(s string, max int) (v string, fresh bool) {
	if len(s) > max {
		s = s[:max]
		for len(s) > 0 && !utf8.RuneStart(s[len(s)-1]) {
			s = s[:len(s)-1]
		}
		if len(s) > 0 {
			if r, _ := utf8.DecodeLastRuneInString(s); r == utf8.RuneError {
				s = s[:len(s)-1]
			}
		}
	}
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s, false
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			b.WriteRune(utf8.RuneError)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String(), true
}
