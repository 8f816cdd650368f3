package window

import (
	"errors"
	"fmt"
	"hash/maphash"
	"math"
	"time"
)

// Limits on a Config, so bucket arithmetic can never overflow and one key's
// counters stay small.
const (
	// MinWidth is the smallest bucket width.
	MinWidth = time.Millisecond
	// MaxBuckets bounds Config.Buckets.
	MaxBuckets = 4096
	// MaxCounters bounds Config.Counters.
	MaxCounters = 64
)

// Config shapes an Engine.
type Config struct {
	// Window is the span of event time the counters cover, e.g. 1h.
	Window time.Duration
	// Buckets is how many fixed buckets the window is cut into, e.g. 12
	// (5-minute buckets for 1h). Window must be a multiple of Buckets.
	Buckets int
	// Counters is how many counters each bucket holds (a rule's "attempts",
	// "user unknown", ...), addressed by index 0..Counters-1.
	Counters int
}

// Width is the duration of one bucket.
func (c Config) Width() time.Duration {
	if c.Buckets <= 0 {
		return 0
	}
	return c.Window / time.Duration(c.Buckets)
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Window <= 0 {
		errs = append(errs, fmt.Errorf("window %s: must be positive", c.Window))
	}
	if c.Buckets < 1 || c.Buckets > MaxBuckets {
		errs = append(errs, fmt.Errorf("buckets %d: must be between 1 and %d", c.Buckets, MaxBuckets))
	} else if c.Window > 0 {
		if c.Window%time.Duration(c.Buckets) != 0 {
			errs = append(errs, fmt.Errorf("window %s is not a multiple of %d buckets", c.Window, c.Buckets))
		} else if c.Width() < MinWidth {
			errs = append(errs, fmt.Errorf("bucket width %s (window / buckets): must be at least %s", c.Width(), MinWidth))
		}
	}
	if c.Counters < 1 || c.Counters > MaxCounters {
		errs = append(errs, fmt.Errorf("counters %d: must be between 1 and %d", c.Counters, MaxCounters))
	}
	return errors.Join(errs...)
}

// Stats are the engine's running totals.
type Stats struct {
	// Keys is the number of tracked keys now.
	Keys int
	// Late counts Touch calls refused because the event was older than the window.
	Late uint64
	// Created counts keys created (new, or back after an eviction).
	Created uint64
	// Evicted counts keys dropped by the sweep after a whole window idle.
	Evicted uint64
}

// freeSlot marks a slot on the free list in slot.head.
const freeSlot = math.MinInt64

// compactMin is the number of slots below which the engine never rebuilds.
const compactMin = 4096

// Slots and counters live in pages of pageSize keys, so growing never
// copies (or transiently doubles) a slab of a million keys.
const (
	pageBits = 10
	pageSize = 1 << pageBits
)

// slot is one key's fixed-size record. Its counters live in the counter
// page at the same position: bucket n's counter c is at
// (n mod Buckets)*Counters + c of the key's stride.
type slot[T any] struct {
	key string
	// head is the newest bucket number (event time / width) holding data;
	// the ring holds buckets head-Buckets+1 .. head. freeSlot when unused.
	head int64
	val  T
}

// Engine keeps, per key, Counters counters in each bucket of a sliding
// event-time window, plus a caller-defined payload T (kept small: it is
// paid for once per tracked key). The zero value is not usable; call New.
type Engine[T any] struct {
	width  int64 // bucket width in nanoseconds
	nb     int64 // buckets
	nc     int   // counters per bucket
	stride int   // counters per key: nb*nc

	// idx finds a key's slot by the key's hash (see index); hash is
	// maphash with a seed random per engine, which changes memory layout,
	// never a result.
	idx  index
	hash func(string) uint64

	slots  [][]slot[T] // pages of pageSize slots
	counts [][]uint32  // pages of pageSize*stride counters
	used   uint32      // slots handed out so far (live + free)
	free   []uint32    // free slot indices, reused last-in first-out

	started  bool
	wm       int64 // watermark, Unix nanoseconds
	wmBucket int64

	stats Stats
	sink  uint32 // see find
}

// New builds an engine.
func New[T any](cfg Config) (*Engine[T], error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	seed := maphash.MakeSeed()
	return &Engine[T]{
		width:  int64(cfg.Width()),
		nb:     int64(cfg.Buckets),
		nc:     cfg.Counters,
		stride: cfg.Buckets * cfg.Counters,
		hash:   func(s string) uint64 { return maphash.String(seed, s) },
	}, nil
}

// Ref is a handle on one key's state, valid until the next call to Touch
// or Advance on its engine (which may evict or move slots).
type Ref[T any] struct {
	s      *slot[T]
	c      []uint32 // the key's stride of counters
	e      *Engine[T]
	bucket int64 // bucket number of the event that touched the key
	fresh  bool
}

// Advance moves the watermark to ts when ts is later than it, and evicts
// keys whose whole window has passed when the watermark enters a new
// bucket. It returns the number of keys evicted. Callers that skip some
// events for a key (a rule ignoring the null sender, say) should still
// Advance on them, so every engine of a partition shares the same clock.
func (e *Engine[T]) Advance(ts time.Time) int {
	ns := nanos(ts)
	if !e.started {
		e.started = true
		e.wm, e.wmBucket = ns, floorDiv(ns, e.width)
		return 0
	}
	if ns <= e.wm {
		return 0
	}
	e.wm = ns
	b := floorDiv(ns, e.width)
	if b == e.wmBucket {
		return 0
	}
	e.wmBucket = b
	return e.sweep()
}

// Watermark is the latest event time seen (zero before the first event).
func (e *Engine[T]) Watermark() time.Time {
	if !e.started {
		return time.Time{}
	}
	return time.Unix(0, e.wm).UTC()
}

// WindowStart is the start of the oldest bucket in the window: the window
// is [WindowStart, Watermark].
func (e *Engine[T]) WindowStart() time.Time {
	if !e.started {
		return time.Time{}
	}
	return time.Unix(0, (e.wmBucket-e.nb+1)*e.width).UTC()
}

// Stats returns the running totals.
func (e *Engine[T]) Stats() Stats {
	s := e.stats
	s.Keys = e.Len()
	return s
}

// Len is the number of tracked keys.
func (e *Engine[T]) Len() int { return e.idx.n }

// Touch advances the watermark to ts (see Advance), then returns key's
// state for an event at ts, creating it (Ref.Fresh, zero payload) when the
// key is not tracked: new, or evicted after its data all left the window.
// It returns false, and changes nothing but Stats.Late, when ts is older
// than the window. The engine keeps key: pass a string that is not reused
// afterwards.
func (e *Engine[T]) Touch(key string, ts time.Time) (Ref[T], bool) {
	e.Advance(ts)
	b := floorDiv(nanos(ts), e.width)
	if b <= e.wmBucket-e.nb {
		e.stats.Late++
		return Ref[T]{}, false
	}
	// A tracked key always has data in the window: Advance swept every key
	// whose newest bucket left it when the watermark changed bucket.
	h := e.hash(key)
	i, ok := e.find(key, h)
	if !ok {
		i = e.alloc(key, h)
	}
	s, c := e.slot(i), e.counters(i)
	switch {
	case !ok:
		clear(c)
		s.head = b
		e.stats.Created++
	case b > s.head:
		e.rotate(c, s.head, b)
		s.head = b
	}
	return Ref[T]{s: s, c: c, e: e, bucket: b, fresh: !ok}, true
}

// Lookup returns key's state without touching it (false when the key is
// not tracked). Add on a looked-up Ref counts into the key's newest bucket.
func (e *Engine[T]) Lookup(key string) (Ref[T], bool) {
	i, ok := e.find(key, e.hash(key))
	if !ok {
		return Ref[T]{}, false
	}
	s := e.slot(i)
	return Ref[T]{s: s, c: e.counters(i), e: e, bucket: s.head}, true
}

func (e *Engine[T]) slot(i uint32) *slot[T] {
	return &e.slots[i>>pageBits][i&(pageSize-1)]
}

func (e *Engine[T]) counters(i uint32) []uint32 {
	off := int(i&(pageSize-1)) * e.stride
	return e.counts[i>>pageBits][off : off+e.stride : off+e.stride]
}

// find walks key's probe run in the index. For a candidate whose tag
// matches it starts loading the counters before comparing the key, so the
// cache misses (counters; slot, then the key's bytes) overlap instead of
// queueing: they are most of the cost of a lookup among a million keys.
func (e *Engine[T]) find(key string, h uint64) (uint32, bool) {
	x := &e.idx
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
		e.sink += e.counters(i)[0] // a load the compiler cannot drop
		if e.slot(i).key == key {
			return i, true
		}
	}
}

// alloc takes a free slot (or a new one, adding a page when needed) for key.
func (e *Engine[T]) alloc(key string, h uint64) uint32 {
	var i uint32
	if n := len(e.free); n > 0 {
		i = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		if e.used == math.MaxUint32 {
			panic("window: more than 2^32-1 keys")
		}
		i = e.used
		e.used++
		if int(i>>pageBits) == len(e.slots) {
			e.slots = append(e.slots, make([]slot[T], pageSize))
			e.counts = append(e.counts, make([]uint32, pageSize*e.stride))
		}
	}
	e.slot(i).key = key
	e.idx.insert(h, i)
	return i
}

// rotate zeroes the buckets after head up to b, which the ring reuses for
// newer bucket numbers.
func (e *Engine[T]) rotate(c []uint32, head, b int64) {
	if b-head >= e.nb {
		clear(c)
		return
	}
	for n := head + 1; n <= b; n++ {
		off := int(mod(n, e.nb)) * e.nc
		clear(c[off : off+e.nc])
	}
}

// sweep frees the keys whose newest bucket has left the window.
func (e *Engine[T]) sweep() int {
	oldest := e.wmBucket - e.nb
	n := 0
	var zero T
	for i := range e.used {
		s := e.slot(i)
		if s.head == freeSlot || s.head > oldest {
			continue
		}
		e.idx.remove(e.hash(s.key), i)
		s.key, s.val, s.head = "", zero, freeSlot
		e.free = append(e.free, i)
		n++
	}
	e.stats.Evicted += uint64(n)
	if e.used >= compactMin && e.Len() < int(e.used)/4 {
		e.compact()
	}
	return n
}

// compact rebuilds the pages and the index with only the live keys, in
// slot order, so memory follows the number of tracked keys down after a
// burst (Go maps never shrink by themselves).
func (e *Engine[T]) compact() {
	old := *e
	e.idx.reset(old.Len())
	e.slots, e.counts, e.used, e.free = nil, nil, 0, nil
	for i := range old.used {
		s := old.slot(i)
		if s.head == freeSlot {
			continue
		}
		j := e.alloc(s.key, e.hash(s.key))
		d := e.slot(j)
		d.head, d.val = s.head, s.val
		copy(e.counters(j), old.counters(i))
	}
}

// Fresh reports whether Touch created the state: the key was not tracked.
func (r Ref[T]) Fresh() bool { return r.fresh }

// Key returns the key.
func (r Ref[T]) Key() string { return r.s.key }

// Value returns the key's payload, to read or update in place.
func (r Ref[T]) Value() *T { return &r.s.val }

// Add adds n to counter c of the event's bucket, saturating at the maximum
// uint32 instead of wrapping.
func (r Ref[T]) Add(c int, n uint32) {
	p := &r.c[int(mod(r.bucket, r.e.nb))*r.e.nc+c]
	if v := *p + n; v >= *p {
		*p = v
	} else {
		*p = math.MaxUint32
	}
}

// Sum returns counter c summed over the key's buckets inside the window.
func (r Ref[T]) Sum(c int) uint64 {
	e := r.e
	head := r.s.head
	lo := max(head-e.nb+1, e.wmBucket-e.nb+1)
	// Walk the ring from lo's position, wrapping, without a division per step.
	nc := e.nc
	end := e.stride
	off := int(mod(lo, e.nb)) * nc
	var sum uint64
	for n := lo; n <= head; n++ {
		sum += uint64(r.c[off+c])
		if off += nc; off == end {
			off = 0
		}
	}
	return sum
}

// Sums writes every counter summed over the key's buckets inside the window
// into dst, which must hold Counters values.
func (r Ref[T]) Sums(dst []uint64) {
	e := r.e
	nc := e.nc
	dst = dst[:nc]
	clear(dst)
	head := r.s.head
	lo := max(head-e.nb+1, e.wmBucket-e.nb+1)
	end := e.stride
	off := int(mod(lo, e.nb)) * nc
	for n := lo; n <= head; n++ {
		for c, v := range r.c[off : off+nc] {
			dst[c] += uint64(v)
		}
		if off += nc; off == end {
			off = 0
		}
	}
}

// nanos is t in Unix nanoseconds, clamped to the int64 range (UnixNano is
// undefined outside years 1678..2262, and timestamps come from logs).
func nanos(t time.Time) int64 {
	const lim = math.MaxInt64/int64(time.Second) - 1
	switch s := t.Unix(); {
	case s > lim:
		return math.MaxInt64
	case s < -lim:
		return math.MinInt64
	}
	return t.UnixNano()
}

// floorDiv divides rounding towards minus infinity, so buckets before 1970
// are as wide as the others.
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
