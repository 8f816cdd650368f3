package state

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
