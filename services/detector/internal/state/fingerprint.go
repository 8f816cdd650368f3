package state

import (
	"strings"
	"unicode"

	"github.com/cespare/xxhash/v2"
)

// NormalizeSubject folds what varies between copies of one templated
// message so they share a fingerprint: letters are lower-cased, runs of
// white space become one space, and each word that holds a digit (numbers,
// dates, times, order and tracking ids, hex ids), looks like a host name
// or an address (holds a dot between letters, or an @) becomes one
// placeholder: "#" for words with digits, "@" for addresses, "h" for host
// names. "Invoice 4711 from 2026-03-01" and "Invoice 4712 from
// 2026-03-02" normalise alike; "Cron <root@web1> /usr/bin/backup.sh"
// keeps the command's shape.
func NormalizeSubject(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for w := range strings.FieldsSeq(s) {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(foldWord(w))
	}
	return b.String()
}

func foldWord(w string) string {
	digits, dots, at, upper := false, false, false, false
	for i, r := range w {
		switch {
		case r >= '0' && r <= '9':
			digits = true
		case r == '@':
			at = true
		case r == '.' && i > 0 && i < len(w)-1:
			dots = true
		case unicode.IsUpper(r):
			upper = true
		}
	}
	switch {
	case at:
		return "@"
	case digits:
		return "#"
	case dots && strings.IndexFunc(w, unicode.IsLetter) >= 0 && !strings.ContainsAny(w, "/\\"):
		return "h"
	case upper:
		return strings.ToLower(w)
	}
	return w
}

// Fingerprint is the hash of a subject's normalised form (0 only for the
// empty subject).
func Fingerprint(subject string) uint64 {
	n := NormalizeSubject(subject)
	if n == "" {
		return 0
	}
	h := xxhash.Sum64String(n)
	if h == 0 {
		h = 1
	}
	return h
}

// Hash is the hash the Distinct slots take of a value (a recipient, an
// IP): fixed, so the same in every process and after a restore.
func Hash(s string) uint64 { return xxhash.Sum64String(s) }
