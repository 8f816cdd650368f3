package state

import (
	"math"
	"slices"
	"time"

	"github.com/axiomhq/hyperloglog"
)

// Record is a handle on one key's state for one event, valid until the
// next Touch, Advance or Flush on its table.
type Record struct {
	t      *Table
	s      *slot
	c      []uint32
	bucket int64 // base bucket of the event
	ns     int64 // event time, ns
	fresh  bool
}

// Key is the record's key.
func (r Record) Key() string { return r.s.key }

// Fresh reports whether Touch created the key.
func (r Record) Fresh() bool { return r.fresh }

// blockBucket is the event's bucket number in block b, and whether it is
// still inside the block's window.
func (r Record) block(h Counters) (*blockSpec, []uint32, int64, bool) {
	bs := &r.t.l.blocks[h.b]
	c := r.c[bs.off : bs.off+2+int(bs.nb)*bs.nc]
	bb := floorDiv(r.bucket, bs.k)
	return bs, c, bb, bb > floorDiv(r.s.last, bs.k)-bs.nb
}

// Add adds n to counter i of block h, in the event's bucket (saturating).
// An event older than the block's window is not counted: Add returns false.
func (r Record) Add(h Counters, i int, n uint32) bool {
	bs, c, bb, ok := r.block(h)
	if !ok {
		return false
	}
	hd := head(c)
	if bb > hd {
		ring := c[2:]
		if bb-hd >= bs.nb {
			clear(ring)
		} else {
			for x := hd + 1; x <= bb; x++ {
				off := int(mod(x, bs.nb)) * bs.nc
				clear(ring[off : off+bs.nc])
			}
		}
		setHead(c, bb)
	}
	p := &c[2+int(mod(bb, bs.nb))*bs.nc+i]
	if v := *p + n; v >= *p {
		*p = v
	} else {
		*p = math.MaxUint32
	}
	return true
}

// Sums writes every counter of block h summed over its window (at the
// table's watermark) into dst.
func (r Record) Sums(h Counters, dst []uint64) {
	bs := &r.t.l.blocks[h.b]
	c := r.c[bs.off : bs.off+2+int(bs.nb)*bs.nc]
	dst = dst[:bs.nc]
	clear(dst)
	hd := head(c)
	lo := max(hd-bs.nb+1, floorDiv(r.s.last, bs.k)-bs.nb+1)
	ring := c[2:]
	off := int(mod(lo, bs.nb)) * bs.nc
	end := len(ring)
	for n := lo; n <= hd; n++ {
		for i, v := range ring[off : off+bs.nc] {
			dst[i] += uint64(v)
		}
		if off += bs.nc; off == end {
			off = 0
		}
	}
}

// ext holds the slots that not every key needs: allocated on first use.
type ext struct {
	distinct []*distinctSet
	fps      []*fpRing
	regs     []*welford
	marks    []mark
}

func (r Record) ext() *ext {
	if r.s.ext == nil {
		l := r.t.l
		r.s.ext = &ext{}
		if len(l.distinct) > 0 {
			r.s.ext.distinct = make([]*distinctSet, len(l.distinct))
		}
		if len(l.fps) > 0 {
			r.s.ext.fps = make([]*fpRing, len(l.fps))
		}
		if len(l.regs) > 0 {
			r.s.ext.regs = make([]*welford, len(l.regs))
		}
		if len(l.marks) > 0 {
			r.s.ext.marks = make([]mark, len(l.marks))
		}
	}
	return r.s.ext
}

// distinctSet counts distinct 64-bit values over a window: a small exact
// set of (hash, sub-window) pairs, upgraded past SmallSet values to one
// HyperLogLog sketch per sub-window, merged when counted.
type distinctSet struct {
	small []uint64 // value hash high 40 bits << 24 | sub-window number low 24 bits
	hll   []*hyperloglog.Sketch
	heads []int64 // sub-window number of each sketch
}

const subBits = 24

func (r Record) subBucket(k int64) int64 { return floorDiv(r.bucket, k) }

// AddDistinct counts value v (a hash, e.g. of a recipient) in slot h.
func (r Record) AddDistinct(h Distinct, v uint64) {
	spec := &r.t.l.distinct[h.i]
	x := r.ext()
	d := x.distinct[h.i]
	if d == nil {
		d = &distinctSet{}
		x.distinct[h.i] = d
	}
	sb := r.subBucket(spec.k)
	cur := floorDiv(r.s.last, spec.k) // the key's newest sub-window: entries decode against it
	oldest := cur - spec.nb + 1
	if sb < oldest {
		return
	}
	if d.hll == nil {
		tag := v &^ (1<<subBits - 1)
		sub := uint64(sb) & (1<<subBits - 1)
		for i, e := range d.small {
			if e&^(1<<subBits-1) == tag {
				if subOf(e, cur) < sb {
					d.small[i] = tag | sub
				}
				return
			}
		}
		// Drop values that left the window before growing.
		d.small = slices.DeleteFunc(d.small, func(e uint64) bool { return subOf(e, cur) < oldest })
		if len(d.small) < SmallSet {
			d.small = append(d.small, tag|sub)
			return
		}
		d.upgrade(spec, cur)
	}
	d.sketch(spec, sb).InsertHash(v)
}

// subOf recovers a small entry's sub-window number near ref.
func subOf(e uint64, ref int64) int64 {
	low := int64(e & (1<<subBits - 1))
	s := ref&^(1<<subBits-1) | low
	if s > ref {
		s -= 1 << subBits
	}
	return s
}

func (d *distinctSet) upgrade(spec *ringSpec, cur int64) {
	d.hll = make([]*hyperloglog.Sketch, spec.nb)
	d.heads = make([]int64, spec.nb)
	for i := range d.heads {
		d.heads[i] = math.MinInt64
	}
	for _, e := range d.small {
		d.sketch(spec, subOf(e, cur)).InsertHash(e &^ (1<<subBits - 1))
	}
	d.small = nil
}

func (d *distinctSet) sketch(spec *ringSpec, sb int64) *hyperloglog.Sketch {
	i := mod(sb, spec.nb)
	if d.heads[i] != sb || d.hll[i] == nil {
		d.hll[i], _ = hyperloglog.NewSketch(12, true)
		d.heads[i] = sb
	}
	return d.hll[i]
}

// Distinct returns the distinct values counted in slot h over its window.
func (r Record) Distinct(h Distinct) uint64 {
	if r.s.ext == nil || r.s.ext.distinct[h.i] == nil {
		return 0
	}
	spec := &r.t.l.distinct[h.i]
	d := r.s.ext.distinct[h.i]
	cur := floorDiv(r.s.last, spec.k)
	oldest := cur - spec.nb + 1
	if d.hll == nil {
		n := uint64(0)
		for _, e := range d.small {
			if subOf(e, cur) >= oldest {
				n++
			}
		}
		return n
	}
	var m *hyperloglog.Sketch
	for i, s := range d.hll {
		if s == nil || d.heads[i] < oldest {
			continue
		}
		if m == nil {
			m = s.Clone()
		} else {
			_ = m.Merge(s)
		}
	}
	if m == nil {
		return 0
	}
	return m.Estimate()
}

// fpRing keeps a key's most frequent recent fingerprints, each with a
// count over the slot's window (counts restart when a fingerprint's
// window passes).
type fpRing struct {
	e []fpEntry
}

type fpEntry struct {
	fp  uint64
	n   uint32
	sub int64
}

// AddFingerprint counts fingerprint fp in slot h and returns its count in
// the window, this event included.
func (r Record) AddFingerprint(h Fingerprints, fp uint64) uint32 {
	spec := &r.t.l.fps[h.i]
	x := r.ext()
	f := x.fps[h.i]
	if f == nil {
		f = &fpRing{}
		x.fps[h.i] = f
	}
	sb := r.subBucket(spec.k)
	oldest := floorDiv(r.s.last, spec.k) - spec.nb + 1
	for i := range f.e {
		e := &f.e[i]
		if e.fp != fp {
			continue
		}
		if e.sub < oldest {
			e.n = 0
		}
		e.n++
		e.sub = max(e.sub, sb)
		return e.n
	}
	if len(f.e) < spec.n {
		f.e = append(f.e, fpEntry{fp: fp, n: 1, sub: sb})
		return 1
	}
	// Replace the stalest, then the rarest entry.
	j := 0
	for i := range f.e {
		a, b := &f.e[i], &f.e[j]
		if a.sub < b.sub || (a.sub == b.sub && a.n < b.n) {
			j = i
		}
	}
	f.e[j] = fpEntry{fp: fp, n: 1, sub: sb}
	return 1
}

// TopFingerprint returns the most counted fingerprint in slot h still in
// its window, and its count.
func (r Record) TopFingerprint(h Fingerprints) (uint64, uint32) {
	if r.s.ext == nil || r.s.ext.fps[h.i] == nil {
		return 0, 0
	}
	spec := &r.t.l.fps[h.i]
	oldest := floorDiv(r.s.last, spec.k) - spec.nb + 1
	var fp uint64
	var n uint32
	for _, e := range r.s.ext.fps[h.i].e {
		if e.sub >= oldest && e.n > n {
			fp, n = e.fp, e.n
		}
	}
	return fp, n
}

// welford keeps the count, mean and spread of a key's inter-arrival gaps
// (Welford's online algorithm), in seconds.
type welford struct {
	last     int64 // ns of the previous event
	n        uint32
	mean, m2 float64
}

// Gaps describes a key's inter-arrival gaps.
type Gaps struct {
	N    int     // gaps measured
	Mean float64 // seconds
	CV   float64 // coefficient of variation: stddev/mean; near 0 for a cron job
}

// Arrive records an event in slot h: the gap since the previous one. Out
// of order events (earlier than the previous) are ignored.
func (r Record) Arrive(h Regularity) Gaps {
	win := int64(r.t.l.regs[h.i])
	x := r.ext()
	w := x.regs[h.i]
	if w == nil {
		w = &welford{last: r.ns}
		x.regs[h.i] = w
		return w.gaps()
	}
	gap := r.ns - w.last
	switch {
	case gap < 0:
		return w.gaps()
	case gap > win:
		*w = welford{last: r.ns}
		return w.gaps()
	}
	w.last = r.ns
	g := float64(gap) / 1e9
	w.n++
	d := g - w.mean
	w.mean += d / float64(w.n)
	w.m2 += d * (g - w.mean)
	return w.gaps()
}

func (w *welford) gaps() Gaps {
	g := Gaps{N: int(w.n), Mean: w.mean}
	if w.n > 1 && w.mean > 0 {
		g.CV = math.Sqrt(w.m2/float64(w.n-1)) / w.mean
	}
	return g
}

type mark struct {
	id   string
	last int64 // base bucket of the last refresh
}

// MarkFirst remembers id as the first event of the evidence in mark h
// unless a mark refreshed within its window is already held; it returns
// the id held.
func (r Record) MarkFirst(h Mark, id string) string {
	win := int64(r.t.l.marks[h.i] / r.t.l.width)
	m := &r.ext().marks[h.i]
	if m.id == "" || m.last <= r.s.last-win {
		m.id = id
	}
	m.last = max(m.last, r.bucket)
	return m.id
}

// First returns the id held by mark h ("" when none or expired).
func (r Record) First(h Mark) string {
	if r.s.ext == nil {
		return ""
	}
	win := int64(r.t.l.marks[h.i] / r.t.l.width)
	m := r.s.ext.marks[h.i]
	if m.last <= r.s.last-win {
		return ""
	}
	return m.id
}

// Time is the event time the record was touched for.
func (r Record) Time() time.Time { return time.Unix(0, r.ns).UTC() }

// Stateless returns a record for rules that declare no slots (stateless
// matchers): it carries the key and the event time, and holds nothing.
func Stateless(key string, ts time.Time) Record {
	return Record{s: &slot{key: key}, ns: Nanos(ts)}
}
