package state

import (
	"hash/maphash"
	"math"
	"time"
)

// Slots and counters live in pages of pageSize keys, so growing never
// copies (or transiently doubles) a slab of a million keys.
const (
	pageBits = 10
	pageSize = 1 << pageBits
	// compactMin is the number of slots below which a table never rebuilds.
	compactMin = 4096
	freeSlot   = math.MinInt64
)

// slot is one key's fixed-size record; its counters live in the counter
// page at the same position.
type slot struct {
	key string
	// last is the newest base bucket the key was touched in; freeSlot
	// when the slot is unused.
	last int64
	ext  *ext // distinct sets, fingerprints, regularity, marks: nil until used
	// dirty: changed since the last Flush (see persist.go).
	dirty bool
}

// Stats are a table's running totals.
type Stats struct {
	Keys    int    // tracked keys now
	Created uint64 // keys created (new, or back after an eviction)
	Evicted uint64 // keys dropped a whole longest window after their last event
}

// Table holds the state of every key of one kind: one slot per key with
// the slots of every rule on that kind. It runs on the clock the caller
// gives it (Advance): event time, never the wall clock.
//
// A Table is not safe for concurrent use; the detector keeps one per key
// kind and partition, driven by that partition's consumer goroutine.
type Table struct {
	l     *Layout
	width int64 // base bucket width, ns

	idx  index
	hash func(string) uint64

	slots  [][]slot
	counts [][]uint32
	used   uint32
	free   []uint32

	started  bool
	wm       int64 // watermark, Unix ns
	wmBucket int64 // base bucket of the watermark

	stats   Stats
	dirty   []uint32 // slots changed since the last Flush
	evicted []string // keys evicted since the last Flush
	track   bool     // record dirty and evicted keys (persistence on)
	sink    uint32
}

// NewTable freezes l and returns an empty table over it. With track,
// the table records the keys changed and evicted between two Flush calls.
func NewTable(l *Layout, track bool) *Table {
	l.frozen = true
	seed := maphash.MakeSeed()
	return &Table{
		l:     l,
		width: int64(l.width),
		hash:  func(s string) uint64 { return maphash.String(seed, s) },
		track: track,
	}
}

// Layout returns the table's layout.
func (t *Table) Layout() *Layout { return t.l }

// Len is the number of tracked keys.
func (t *Table) Len() int { return t.idx.n }

// Stats returns the running totals.
func (t *Table) Stats() Stats {
	s := t.stats
	s.Keys = t.Len()
	return s
}

// Watermark is the latest time given to Advance.
func (t *Table) Watermark() time.Time {
	if !t.started {
		return time.Time{}
	}
	return time.Unix(0, t.wm).UTC()
}

// Advance moves the table's clock to ts when later, and evicts the keys
// untouched for the longest window when the clock enters a new base
// bucket. It returns the keys evicted.
func (t *Table) Advance(ts time.Time) int {
	ns := Nanos(ts)
	if !t.started {
		t.started = true
		t.wm, t.wmBucket = ns, floorDiv(ns, t.width)
		return 0
	}
	if ns <= t.wm {
		return 0
	}
	t.wm = ns
	b := floorDiv(ns, t.width)
	if b == t.wmBucket {
		return 0
	}
	t.wmBucket = b
	return t.sweep()
}

// WindowStart is the start of the oldest bucket of a window of w (one
// declared in the layout) ending at the record's key's newest event.
// Windows are evaluated on the key's own clock, so a key's verdicts do not
// depend on the other keys sharing its partition.
func (r Record) WindowStart(w time.Duration) time.Time {
	k, nb, err := r.t.l.shape(w)
	if err != nil {
		return time.Time{}
	}
	bb := floorDiv(r.s.last, k)
	return time.Unix(0, (bb-nb+1)*k*r.t.width).UTC()
}

// shape is ring without the declaration side effects.
func (l *Layout) shape(window time.Duration) (k, nb int64, err error) {
	saved, frozen := l.maxBase, l.frozen
	l.frozen = false
	k, nb, err = l.ring(window)
	l.maxBase, l.frozen = saved, frozen
	return k, nb, err
}

// Touch returns key's record for an event at ts, creating it when the key
// is not tracked. It advances the clock to ts first. ok is false when ts
// is older than every window of the layout (nothing can count it). The
// table keeps key: pass a string not reused afterwards.
func (t *Table) Touch(key string, ts time.Time) (Record, bool) {
	t.Advance(ts)
	ns := Nanos(ts)
	b := floorDiv(ns, t.width)
	if b <= t.wmBucket-t.l.maxBase {
		return Record{}, false
	}
	h := t.hash(key)
	i, ok := t.find(key, h)
	if !ok {
		i = t.alloc(key, h)
		t.stats.Created++
		s := t.slot(i)
		s.last = b
		c := t.counters(i)
		clear(c)
		for j := range t.l.blocks {
			bs := &t.l.blocks[j]
			setHead(c[bs.off:], floorDiv(b, bs.k))
		}
	}
	s := t.slot(i)
	if b > s.last {
		s.last = b
	}
	if t.track && !s.dirty {
		s.dirty = true
		t.dirty = append(t.dirty, i)
	}
	return Record{t: t, s: s, c: t.counters(i), bucket: b, ns: ns, fresh: !ok}, true
}

// Lookup returns key's record without moving its clock (the record may
// still be changed: with tracking it counts as changed for Flush).
func (t *Table) Lookup(key string) (Record, bool) {
	i, ok := t.find(key, t.hash(key))
	if !ok {
		return Record{}, false
	}
	s := t.slot(i)
	if t.track && !s.dirty {
		s.dirty = true
		t.dirty = append(t.dirty, i)
	}
	return Record{t: t, s: s, c: t.counters(i), bucket: s.last, ns: t.wm}, true
}

func (t *Table) slot(i uint32) *slot { return &t.slots[i>>pageBits][i&(pageSize-1)] }

func (t *Table) counters(i uint32) []uint32 {
	st := t.l.stride
	off := int(i&(pageSize-1)) * st
	return t.counts[i>>pageBits][off : off+st : off+st]
}

// find walks key's probe run, loading the counters of a candidate before
// comparing its key so the cache misses overlap.
func (t *Table) find(key string, h uint64) (uint32, bool) {
	x := &t.idx
	if x.n == 0 {
		return 0, false
	}
	tag := h & 0xffffffff
	for p := h & x.mask; ; p = (p + 1) & x.mask {
		entry := x.e[p]
		if entry == 0 {
			return 0, false
		}
		if entry>>32 != tag {
			continue
		}
		i := uint32(entry) - 1
		if t.l.stride > 0 {
			t.sink += t.counters(i)[0]
		}
		if t.slot(i).key == key {
			return i, true
		}
	}
}

func (t *Table) alloc(key string, h uint64) uint32 {
	var i uint32
	if n := len(t.free); n > 0 {
		i = t.free[n-1]
		t.free = t.free[:n-1]
	} else {
		if t.used == math.MaxUint32 {
			panic("state: more than 2^32-1 keys")
		}
		i = t.used
		t.used++
		if int(i>>pageBits) == len(t.slots) {
			t.slots = append(t.slots, make([]slot, pageSize))
			t.counts = append(t.counts, make([]uint32, pageSize*t.l.stride))
		}
	}
	s := t.slot(i)
	s.key, s.dirty = key, false
	t.idx.insert(h, i)
	return i
}

// sweep frees the keys untouched for the longest window.
func (t *Table) sweep() int {
	oldest := t.wmBucket - t.l.maxBase
	n := 0
	for i := range t.used {
		s := t.slot(i)
		if s.last == freeSlot || s.last > oldest {
			continue
		}
		if t.track {
			t.evicted = append(t.evicted, s.key)
		}
		t.idx.remove(t.hash(s.key), i)
		*s = slot{last: freeSlot}
		t.free = append(t.free, i)
		n++
	}
	t.stats.Evicted += uint64(n)
	if n > 0 && t.track {
		// Evicted slots may be reused: drop them from the dirty list.
		live := t.dirty[:0]
		for _, i := range t.dirty {
			if t.slot(i).dirty {
				live = append(live, i)
			}
		}
		t.dirty = live
	}
	if t.used >= compactMin && t.Len() < int(t.used)/4 {
		t.compact()
	}
	return n
}

// compact rebuilds pages and index with only the live keys.
func (t *Table) compact() {
	old := *t
	t.idx.reset(old.Len())
	t.slots, t.counts, t.used, t.free, t.dirty = nil, nil, 0, nil, nil
	for i := range old.used {
		s := old.slot(i)
		if s.last == freeSlot {
			continue
		}
		j := t.alloc(s.key, t.hash(s.key))
		d := t.slot(j)
		*d = *s
		copy(t.counters(j), old.counters(i))
		if d.dirty {
			t.dirty = append(t.dirty, j)
		}
	}
}

func setHead(c []uint32, h int64) { c[0], c[1] = uint32(uint64(h)>>32), uint32(h) }
func head(c []uint32) int64       { return int64(uint64(c[0])<<32 | uint64(c[1])) }

// Nanos is t in Unix nanoseconds, clamped to the int64 range.
func Nanos(t time.Time) int64 {
	const lim = math.MaxInt64/int64(time.Second) - 1
	switch s := t.Unix(); {
	case s > lim:
		return math.MaxInt64 / 2
	case s < -lim:
		return math.MinInt64 / 2
	}
	return t.UnixNano()
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}
