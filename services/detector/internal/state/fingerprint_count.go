package state

import "time"

// FingerprintCount returns fingerprint fp's count in slot h within its
// window, without counting anything (0 when it is not among the slot's
// kept fingerprints).
func (r Record) FingerprintCount(h Fingerprints, fp uint64) uint32 {
	if r.s.ext == nil || r.s.ext.fps[h.i] == nil {
		return 0
	}
	spec := &r.t.l.fps[h.i]
	oldest := floorDiv(r.s.last, spec.k) - spec.nb + 1
	for _, e := range r.s.ext.fps[h.i].e {
		if e.fp == fp && e.sub >= oldest {
			return e.n
		}
	}
	return 0
}

// IsStateless reports whether r came from Stateless (it holds no slots).
func (r Record) IsStateless() bool { return r.t == nil }

// WindowStartAt is Record.WindowStart for a key whose newest event is at
// ts: the start of the oldest bucket of a window of w (one declared in the
// layout) ending at ts.
func (l *Layout) WindowStartAt(w time.Duration, ts time.Time) time.Time {
	k, nb, err := l.shape(w)
	if err != nil {
		return time.Time{}
	}
	bb := floorDiv(floorDiv(Nanos(ts), int64(l.width)), k)
	return time.Unix(0, (bb-nb+1)*k*int64(l.width)).UTC()
}
