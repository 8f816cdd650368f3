package desk

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Display makes a string from hostile traffic safe to read: every control
// or format character (bidi overrides, zero-width joiners, NUL, line
// breaks) and invalid byte is replaced by a visible [U+XXXX], and the text
// is cut at max bytes with a note of how much was left out. The template
// engine then escapes the markup characters.
func Display(s string, max int) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		if max > 0 && b.Len() >= max {
			fmt.Fprintf(&b, "… (%d more bytes)", len(s)-i)
			break
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, "[0x%02X]", s[i])
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || !unicode.IsPrint(r) && r != ' ':
			fmt.Fprintf(&b, "[U+%04X]", r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// DisplayText is Display for multi-line text (dispute messages): line
// breaks and tabs are kept.
func DisplayText(s string, max int) []string {
	lines := strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n")
	out := make([]string, 0, len(lines))
	used := 0
	for _, l := range lines {
		if max > 0 && used >= max {
			out = append(out, "…")
			break
		}
		d := Display(strings.ReplaceAll(l, "\t", "    "), max-used)
		used += len(l) + 1
		out = append(out, d)
	}
	return out
}
