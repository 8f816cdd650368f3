package ban

import (
	"bytes"
	"encoding/binary"
	"errors"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Track makes the ledger remember its changes for Flush.
func (l *Ledger) Track() {
	l.track = true
	l.dirtyLevels = map[subjectKey]struct{}{}
	l.dirtyHolds = map[holdKey]struct{}{}
}

func (l *Ledger) touchLevel(k subjectKey) {
	if l.track {
		l.dirtyLevels[k] = struct{}{}
	}
}

func (l *Ledger) touchHold(k holdKey) {
	if l.track {
		l.dirtyHolds[k] = struct{}{}
	}
}

// Record key prefixes.
const (
	prefixLevel = 'L'
	prefixHold  = 'H'
)

func appendKey(b []byte, prefix byte, a string, kind event.SubjectKind, subject string) []byte {
	b = append(b, prefix)
	b = append(b, a...)
	b = append(b, 0)
	b = append(b, kind...)
	b = append(b, 0)
	return append(b, subject...)
}

// Flush calls emit for every level and hold changed since the last Flush,
// with a nil value for the ones dropped, then forgets the changes.
func (l *Ledger) Flush(emit func(key, val []byte)) {
	var k, v []byte
	for sk := range l.dirtyLevels {
		k = appendKey(k[:0], prefixLevel, sk.ns, sk.kind, sk.subject)
		if lv, ok := l.levels[sk]; ok {
			v = binary.AppendUvarint(v[:0], uint64(lv.n))
			v = binary.AppendVarint(v, lv.forget.UnixNano())
			emit(k, v)
		} else {
			emit(k, nil)
		}
	}
	for hk := range l.dirtyHolds {
		k = appendKey(k[:0], prefixHold, hk.rule, hk.kind, hk.subject)
		if h, ok := l.holds[hk]; ok {
			v = binary.AppendVarint(v[:0], h.until.UnixNano())
			v = binary.AppendVarint(v, h.forget.UnixNano())
			v = binary.AppendUvarint(v, uint64(h.repeats))
			emit(k, v)
		} else {
			emit(k, nil)
		}
	}
	clear(l.dirtyLevels)
	clear(l.dirtyHolds)
}

var errRecord = errors.New("ban: malformed ledger record")

// Put restores one record Flush emitted (nil value: deleted).
func (l *Ledger) Put(key, val []byte) error {
	if len(key) < 1 {
		return errRecord
	}
	parts := bytes.SplitN(key[1:], []byte{0}, 3)
	if len(parts) != 3 {
		return errRecord
	}
	a, kind, subject := string(parts[0]), event.SubjectKind(parts[1]), string(parts[2])
	var vals [3]int64
	n := 0
	for len(val) > 0 && n < 3 {
		var x int64
		var m int
		if n == 2 || (key[0] == prefixLevel && n == 0) {
			u, c := binary.Uvarint(val)
			x, m = int64(u), c
		} else {
			x, m = binary.Varint(val)
		}
		if m <= 0 {
			return errRecord
		}
		vals[n], val = x, val[m:]
		n++
	}
	switch key[0] {
	case prefixLevel:
		sk := subjectKey{ns: a, kind: kind, subject: subject}
		if n == 0 {
			delete(l.levels, sk)
			return nil
		}
		if n != 2 {
			return errRecord
		}
		l.levels[sk] = &level{n: int(vals[0]), forget: time.Unix(0, vals[1]).UTC()}
	case prefixHold:
		hk := holdKey{rule: a, kind: kind, subject: subject}
		if n == 0 {
			delete(l.holds, hk)
			return nil
		}
		if n != 3 {
			return errRecord
		}
		l.holds[hk] = &hold{until: time.Unix(0, vals[0]).UTC(), forget: time.Unix(0, vals[1]).UTC(), repeats: int(vals[2])}
	default:
		return errRecord
	}
	return nil
}
