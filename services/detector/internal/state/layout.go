package state

import (
	"errors"
	"fmt"
	"time"
)

// Limits on a Layout.
const (
	// MaxRing is the most buckets one counter block keeps: a window of n
	// base buckets is cut into the largest number of buckets <= MaxRing
	// that divides n (12 five-minute buckets for 1h, 12 two-hour buckets
	// for 24h), so a day-long window costs what an hour does.
	MaxRing = 12
	// MaxCounters bounds the counters of one block.
	MaxCounters = 16
	// MinWidth is the smallest base bucket width.
	MinWidth = time.Millisecond
	// SmallSet is how many distinct values a Distinct slot keeps exactly
	// before it upgrades to HyperLogLog sketches.
	SmallSet = 64
	// MaxFingerprints bounds the fingerprints one Fingerprints slot keeps.
	MaxFingerprints = 16
)

// Layout collects the slots the rules on one key kind declare. Rules
// declare while they are built; NewTable freezes the layout. Handles
// (Counters, Distinct, ...) are small values a rule keeps to address its
// slots in a Record.
type Layout struct {
	width    time.Duration
	blocks   []blockSpec
	distinct []ringSpec
	fps      []fpSpec
	regs     []time.Duration // window of each regularity slot
	marks    []time.Duration // window of each mark
	stride   int             // uint32 counters per key, block heads included
	maxBase  int64           // longest window of any slot, in base buckets
	frozen   bool
}

type blockSpec struct {
	k      int64 // block bucket = k base buckets
	nb     int64 // buckets in the ring
	nc     int   // counters per bucket
	off    int   // offset of the block in the key's stride: 2 (head) + nb*nc
	window time.Duration
}

// ringSpec shapes a Distinct slot: its sketches cover sub-windows of k
// base buckets, nb of them in the window.
type ringSpec struct {
	k, nb  int64
	window time.Duration
}

type fpSpec struct {
	n      int
	k, nb  int64
	window time.Duration
}

// NewLayout starts a layout whose counters use buckets of width (the
// shared base width; every window must be a multiple of it).
func NewLayout(width time.Duration) (*Layout, error) {
	if width < MinWidth {
		return nil, fmt.Errorf("state: bucket width %s: must be at least %s", width, MinWidth)
	}
	return &Layout{width: width}, nil
}

// Width is the base bucket width.
func (l *Layout) Width() time.Duration { return l.width }

// MaxWindow is the longest window of any slot declared.
func (l *Layout) MaxWindow() time.Duration { return time.Duration(l.maxBase) * l.width }

// Empty reports whether no slot was declared.
func (l *Layout) Empty() bool {
	return len(l.blocks)+len(l.distinct)+len(l.fps)+len(l.regs)+len(l.marks) == 0
}

// ring cuts window into base buckets and then into at most MaxRing
// buckets of k base buckets each.
func (l *Layout) ring(window time.Duration) (k, nb int64, err error) {
	if l.frozen {
		return 0, 0, errors.New("state: layout already in use")
	}
	if window <= 0 {
		return 0, 0, fmt.Errorf("window %s: must be positive", window)
	}
	if window%l.width != 0 {
		return 0, 0, fmt.Errorf("window %s: not a multiple of the bucket width %s (state.bucket_width)", window, l.width)
	}
	n := int64(window / l.width)
	for k = 1; ; k++ {
		if n%k == 0 && n/k <= MaxRing {
			break
		}
	}
	l.maxBase = max(l.maxBase, n)
	return k, n / k, nil
}

// Counters is a handle on a block of windowed counters.
type Counters struct{ b int }

// Counters declares n counters summed over window.
func (l *Layout) Counters(window time.Duration, n int) (Counters, error) {
	if n < 1 || n > MaxCounters {
		return Counters{}, fmt.Errorf("counters %d: must be between 1 and %d", n, MaxCounters)
	}
	k, nb, err := l.ring(window)
	if err != nil {
		return Counters{}, err
	}
	l.blocks = append(l.blocks, blockSpec{k: k, nb: nb, nc: n, off: l.stride, window: window})
	l.stride += 2 + int(nb)*n
	return Counters{b: len(l.blocks) - 1}, nil
}

// Distinct is a handle on a windowed distinct count.
type Distinct struct{ i int }

// Distinct declares a count of distinct values over window: exact up to
// SmallSet values, then HyperLogLog (about 1.6 % standard error).
func (l *Layout) Distinct(window time.Duration) (Distinct, error) {
	k, nb, err := l.ring(window)
	if err != nil {
		return Distinct{}, err
	}
	l.distinct = append(l.distinct, ringSpec{k: k, nb: nb, window: window})
	return Distinct{i: len(l.distinct) - 1}, nil
}

// Fingerprints is a handle on a key's recent content fingerprints.
type Fingerprints struct{ i int }

// Fingerprints declares the n most frequent recent fingerprints, each
// counted over window.
func (l *Layout) Fingerprints(window time.Duration, n int) (Fingerprints, error) {
	if n < 1 || n > MaxFingerprints {
		return Fingerprints{}, fmt.Errorf("fingerprints %d: must be between 1 and %d", n, MaxFingerprints)
	}
	k, nb, err := l.ring(window)
	if err != nil {
		return Fingerprints{}, err
	}
	l.fps = append(l.fps, fpSpec{n: n, k: k, nb: nb, window: window})
	return Fingerprints{i: len(l.fps) - 1}, nil
}

// Regularity is a handle on inter-arrival statistics.
type Regularity struct{ i int }

// Regularity declares running statistics of the gaps between a key's
// events; a gap longer than window starts them afresh.
func (l *Layout) Regularity(window time.Duration) (Regularity, error) {
	if _, _, err := l.ring(window); err != nil {
		return Regularity{}, err
	}
	l.regs = append(l.regs, window)
	return Regularity{i: len(l.regs) - 1}, nil
}

// Mark is a handle on one remembered event id (the first event of a
// rule's evidence).
type Mark struct{ i int }

// Mark declares an event id kept while the rule keeps refreshing it
// within window.
func (l *Layout) Mark(window time.Duration) (Mark, error) {
	if _, _, err := l.ring(window); err != nil {
		return Mark{}, err
	}
	l.marks = append(l.marks, window)
	return Mark{i: len(l.marks) - 1}, nil
}
