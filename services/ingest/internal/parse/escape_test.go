package parse

import (
	"testing"
	"unicode/utf8"
)

// Lines written by Debian's Exim 4.96 on this project's test machine
// (log_selector = +subject, messages submitted with exim -odq -t; see
// tools/mta TestEximSubjects, which checks the same against a live Exim):
// non-ASCII bytes as octal escapes, a folded Subject with "\n", quotes and
// backslashes escaped, a tab as is.
func TestEximEscapes(t *testing.T) {
	for _, c := range []struct {
		name, line, subject string
		invalid             uint64
	}{
		{"utf8 folded quotes backslashes", `2026-12-01 21:18:10 1xYVEo-0001pK-0L <= root@mta.test.example U=root P=local S=366 id=x1@mta.test.example T="\351\202\256\347\256\261 BlueWhale \"quoted\" back\\\\slash\n  \345\234\250 Name\n \347\232\204 end"`,
			`邮箱 BlueWhale "quoted" back\\slash  在 Name 的 end`, 0},
		{"invalid bytes and a tab", "2026-12-01 21:18:10 1xYVEo-0001pU-0T <= root@mta.test.example U=root P=local S=349 T=\"bad \\377\\376 bytes and tab\there\"",
			"bad \uFFFD bytes and tab here", 1},
		{"encoded word decoded by exim", `2026-12-01 21:18:48 1xYVFQ-0002xE-0d <= root@mta.test.example U=root P=local S=361 T="\303\251t\303\251 \351\202\256 \"q\" \\\\x\n \345\234\250"`,
			`été 邮 "q" \\x 在`, 0},
		{"issue 9 example", `2026-11-26 17:30:58 1xYVEo-0001pK-0L <= a@b.example U=a P=local S=1 T="\345\234\250 Name\n \347\232\204 BlueWhale"`,
			"在 Name 的 BlueWhale", 0},
		{"bare backslash at the end", `2026-11-26 17:30:58 1xYVEo-0001pK-0L <= a@b.example U=a P=local S=1 T="x\\"`, `x\`, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, Options{Host: "mx"})
			evs, err := feedAll(t, p, c.line, "2026-12-01 21:18:49 "+c.line[20:36]+" ** r@example.net: Unrouteable address")
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d events, %v", len(evs), err)
			}
			if evs[0].Subject != c.subject {
				t.Errorf("subject %q, want %q", evs[0].Subject, c.subject)
			}
			if n := p.Stats()["texts_invalid_utf8"]; n != c.invalid {
				t.Errorf("texts_invalid_utf8 %d, want %d", n, c.invalid)
			}
		})
	}
}

func TestUnescape(t *testing.T) {
	p := newTestParser(t, Options{})
	for in, want := range map[string]string{
		``:                   ``,
		`plain`:              `plain`,
		`\"a\" \\ b`:         `"a" \ b`,
		`\303\251`:           `é`,
		`a\nb`:               "a\nb",
		`a\n b`:              "a b",
		`\t\r\b\v\f`:         "\t\r\b\v\f",
		`\4xx \38 \0`:        `\4xx \38 \0`,
		`250 OK id=\060\061`: `250 OK id=01`,
	} {
		if got := p.unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzUnescape(f *testing.F) {
	f.Add(`\351\202\256 \"q\" \\x\n \345`)
	f.Add("\\377\\376 \xff")
	f.Fuzz(func(t *testing.T, s string) {
		p := newTestParser(t, Options{})
		got := p.unescape(s)
		if !utf8Valid(got) {
			t.Fatalf("unescape(%q) = %q: not valid UTF-8", s, got)
		}
		if len(got) > 3*len(s) {
			t.Fatalf("unescape(%q) grew to %d bytes", s, len(got))
		}
	})
}

func utf8Valid(s string) bool { return utf8.ValidString(s) }
