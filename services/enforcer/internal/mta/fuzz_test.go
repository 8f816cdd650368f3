package mta

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

var fuzzKinds = []event.SubjectKind{event.KindSender, event.KindSenderDomain, event.KindRecipient, event.KindRecipientDomain}

func fuzzSeeds(f *testing.F) {
	for i, s := range append(append([]string{"root@localhost", "spam.example", `a:b"c\d@x.example`}, hostileSubjects...), hostileDomains...) {
		f.Add(uint8(i), s, "blocked\nby admins")
	}
}

// checkRendered asserts the invariants every format keeps for one ban:
// at most one entry, no line beyond the header and that entry, each line
// free of CR/NUL, valid UTF-8 and bounded; and when there is an entry, its
// key is the lower-cased subject and its value the sanitised message.
func checkRendered(t *testing.T, f Format, parse func([]byte) (map[string]string, error), value func(string) string, kind event.SubjectKind, subject, msg string) {
	b := mkBan(kind, subject, msg)
	for _, side := range []Side{SideSender, SideRecipient} {
		r := f.Render([]*event.Ban{&b}, nil, side)
		lines := bytes.Split(bytes.TrimSuffix(r.Body, []byte("\n")), []byte("\n"))
		if r.Entries > 1 || len(lines) != 1+r.Entries {
			t.Fatalf("%s: %d entries, %d lines:\n%q", side, r.Entries, len(lines), r.Body)
		}
		for _, l := range lines {
			if bytes.ContainsAny(l, "\r\x00") || !utf8.Valid(l) || len(l) > 2*event.MaxAddressLen+MaxMessageLen+16 {
				t.Fatalf("%s: bad line %q", side, l)
			}
		}
		m, err := parse(r.Body)
		if err != nil {
			t.Fatalf("%s: %v\n%q", side, err, r.Body)
		}
		if len(m) != r.Entries {
			t.Fatalf("%s: parsed %d entries, rendered %d", side, len(m), r.Entries)
		}
		for k, v := range m {
			if k != strings.ToLower(subject) {
				t.Fatalf("%s: key %q for subject %q", side, k, subject)
			}
			if v != value(msg) {
				t.Fatalf("%s: value %q, want %q", side, v, value(msg))
			}
			if event.CheckToken(k) != nil {
				t.Fatalf("%s: key %q fails CheckToken", side, k)
			}
		}
		if r.Entries+len(r.Skipped) > 1 {
			t.Fatalf("%s: ban both written and skipped", side)
		}
	}
}

func FuzzPostfixAccess(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, k uint8, subject, msg string) {
		checkRendered(t, Postfix, parsePostfix, func(m string) string { return "REJECT " + SanitizeMessage(m) },
			fuzzKinds[int(k)%len(fuzzKinds)], subject, msg)
	})
}

func FuzzExim(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, k uint8, subject, msg string) {
		checkRendered(t, Exim, parseExim, SanitizeMessage, fuzzKinds[int(k)%len(fuzzKinds)], subject, msg)
	})
}

func FuzzEximList(f *testing.F) {
	fuzzSeeds(f)
	f.Add(uint8(0), "^.*@x.example", "m")
	f.Add(uint8(0), "*@x.example", "m")
	f.Fuzz(func(t *testing.T, k uint8, subject, msg string) {
		checkRendered(t, EximList, parseEximList, SanitizeMessage, fuzzKinds[int(k)%len(fuzzKinds)], subject, msg)
	})
}

func FuzzRspamd(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, k uint8, subject, msg string) {
		kinds := []event.SubjectKind{event.KindSender, event.KindSenderDomain, event.KindRecipient, event.KindRecipientDomain, event.KindClientIP, event.KindAccount}
		b := mkBan(kinds[int(k)%len(kinds)], subject, msg)
		maps := RenderRspamd(banset.Snapshot{Bans: []*event.Ban{&b}}, nil)
		entries := 0
		for name, body := range maps {
			lines := strings.Split(strings.TrimSuffix(string(body), "\n"), "\n")
			if !strings.HasPrefix(lines[0], "# ") {
				t.Fatalf("%s: no header", name)
			}
			for _, l := range lines[1:] {
				entries++
				if l == "" || strings.ContainsAny(l, " \t\r\x00#\"'") || l[0] == '/' || !utf8.ValidString(l) {
					t.Fatalf("%s: bad line %q", name, l)
				}
			}
		}
		if entries > 1 {
			t.Fatalf("one ban, %d entries", entries)
		}
	})
}

func FuzzSanitizeMessage(f *testing.F) {
	f.Add("Your sending address has been blocked\r\n by admins \u2026")
	f.Fuzz(func(t *testing.T, s string) {
		m := SanitizeMessage(s)
		if m == "" || len(m) > MaxMessageLen || m != strings.TrimSpace(m) || strings.Contains(m, "  ") {
			t.Fatalf("SanitizeMessage(%q) = %q", s, m)
		}
		for i := 0; i < len(m); i++ {
			if m[i] < ' ' || m[i] > '~' {
				t.Fatalf("SanitizeMessage(%q) holds byte %#x", s, m[i])
			}
		}
	})
}
