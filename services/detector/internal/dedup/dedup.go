// Package dedup remembers the ids of the events a partition processed
// recently, so the detector can ignore the repeats at-least-once delivery
// brings: after a crash, ingest re-reads up to one batch of log lines and
// produces their events again, with the same ids.
//
// Bounds. A Set remembers at most MaxIDs ids: when it is full, a new id
// makes it forget the oldest block of ids (1024 ids, or MaxIDs/16 when
// that is fewer), so it always remembers at least the newest
// MaxIDs - block. It also forgets the ids whose event time is more than a
// horizon behind the watermark (the newest event time the caller
// processed), a block at a time: the detector uses its longest rule window
// plus a margin, since a repeat that old is late for every rule and
// changes nothing anyway. Both bounds depend only on the order of the
// input, never on the wall clock or on memory layout, so a replay of the
// same input drops the same repeats.
//
// Hashes. A Set keeps a 64-bit xxHash of each id (fixed key, the same in
// every process), not the id. Two different ids with the same hash make
// the second look like a repeat: with n ids remembered, a new id collides
// with probability about n/2^64, 5.4e-14 for a million, so a partition
// taking 10,000 events a second against a full set of a million loses one
// event to a collision about every 60 years. Such a loss undercounts one
// event; it can delay a verdict, never cause one. (32-bit hashes would
// lose one event in 4,300 at a million ids.)
//
// Memory and time. 8 bytes per id in the first-seen order plus 8 bytes
// per entry of an open-addressing table kept between 3/16 and 3/4 full:
// 19 to 51 bytes per id, about 26 for a full set of a million
// (BenchmarkSetMemory). A lookup usually reads one cache line; forgetting
// a block first loads all its table entries in one pass, so their cache
// misses overlap, and a new id into a full set costs about one cache miss.
//
// A Set is not safe for concurrent use: the detector keeps one per
// partition, driven by that partition's single consumer goroutine.
package dedup

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cespare/xxhash/v2"
)

// MaxMaxIDs bounds Config.MaxIDs (about 2.5 GB of ids per partition).
const MaxMaxIDs = 100_000_000

// Config is the dedup section of the detector's configuration.
type Config struct {
	// MaxIDs is the most event ids remembered per partition; the oldest
	// are forgotten first. 0 disables deduplication. Default 1,000,000.
	MaxIDs int `koanf:"max_ids"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config { return Config{MaxIDs: 1_000_000} }

// Validate checks the section.
func (c Config) Validate() error {
	if c.MaxIDs < 0 || c.MaxIDs > MaxMaxIDs {
		return fmt.Errorf("max_ids %d: must be between 0 (off) and %d", c.MaxIDs, MaxMaxIDs)
	}
	return nil
}

// Stats are a Set's size and running totals.
type Stats struct {
	// IDs is the number of ids remembered now.
	IDs int
	// Duplicates counts Seen calls that found their id.
	Duplicates uint64
	// Dropped counts ids forgotten because MaxIDs was reached, before the
	// horizon passed them: a repeat of one of them is not recognised.
	Dropped uint64
	// Expired counts ids forgotten because the horizon passed them.
	Expired uint64
}

const (
	// maxBlock is the most ids in a block.
	maxBlock = 1024
	// tableMinCap is the smallest table, in entries.
	tableMinCap = 1024
)

// block holds ids' hashes in first-seen order, and the newest event time
// among them (Unix nanoseconds), which decides when they all expire.
type block struct {
	h       [maxBlock]uint64
	n       int // hashes written
	newest  int64
	seq     uint64 // position in the first-seen order, for the changelog
	flushed int    // n at the last Flush
}

// Set is a bounded set of recently seen event ids. The zero value is not
// usable; call New.
type Set struct {
	max      int
	blockCap int   // ids per block: min(maxBlock, max(1, max/16))
	horizon  int64 // nanoseconds

	// table holds the hashes (0 marks an empty entry; Hash never returns
	// 0) with linear probing and backward-shift deletion.
	table []uint64
	mask  uint64

	// blocks is the first-seen order, oldest first. Every hash in the
	// table is in exactly one block, once, and n counts them.
	blocks []*block
	spare  *block // the last block forgotten, reused to spare the allocator
	n      int

	stats Stats
	sink  uint64 // see forgetOldest

	nextSeq   uint64
	forgotten []uint64          // seqs of flushed blocks forgotten since the last Flush
	restored  map[uint64][]byte // blocks read by Put, applied by FinishRestore
}

// New returns an empty Set remembering at most maxIDs ids (at least 1),
// forgetting those more than horizon behind the watermark given to Expire.
func New(maxIDs int, horizon time.Duration) (*Set, error) {
	if maxIDs < 1 || maxIDs > MaxMaxIDs {
		return nil, errors.New("dedup: max ids out of range")
	}
	if horizon < 0 {
		return nil, errors.New("dedup: negative horizon")
	}
	return &Set{
		max:      maxIDs,
		blockCap: min(maxBlock, max(1, maxIDs/16)),
		horizon:  int64(horizon),
		table:    make([]uint64, tableMinCap),
		mask:     tableMinCap - 1,
	}, nil
}

// Hash is the hash a Set keeps of id.
func Hash(id string) uint64 {
	h := xxhash.Sum64String(id)
	if h == 0 {
		h = 1
	}
	return h
}

// Seen reports whether id was seen before and is still remembered. If
// not, it remembers id, for an event at ts, first forgetting the oldest
// block of ids when the Set is full. An empty id is never remembered:
// Seen returns false.
func (s *Set) Seen(id string, ts time.Time) bool {
	if id == "" {
		return false
	}
	h := Hash(id)
	if s.contains(h) {
		s.stats.Duplicates++
		return true
	}
	if s.n >= s.max {
		s.stats.Dropped += uint64(s.forgetOldest())
	}
	s.add(h, nanos(ts))
	return false
}

// Expire forgets the ids whose event time is more than the horizon behind
// watermark, a block of ids at a time: a block goes once its newest event
// time is. It returns the number of ids forgotten.
func (s *Set) Expire(watermark time.Time) int {
	wm := nanos(watermark)
	if len(s.blocks) == 0 || wm < math.MinInt64+s.horizon {
		return 0
	}
	cutoff := wm - s.horizon
	n := 0
	for len(s.blocks) > 0 && s.blocks[0].newest < cutoff {
		n += s.forgetOldest()
	}
	if n > 0 {
		s.stats.Expired += uint64(n)
		if len(s.table) > tableMinCap && s.n*16 < len(s.table)*3 {
			s.rebuild()
		}
	}
	return n
}

// Len is the number of ids remembered.
func (s *Set) Len() int { return s.n }

// Stats returns the size and the running totals.
func (s *Set) Stats() Stats {
	st := s.stats
	st.IDs = s.n
	return st
}

func (s *Set) contains(h uint64) bool {
	for p := h & s.mask; ; p = (p + 1) & s.mask {
		switch s.table[p] {
		case h:
			return true
		case 0:
			return false
		}
	}
}

// add remembers h, known absent, as the newest id.
func (s *Set) add(h uint64, ts int64) {
	var b *block
	if k := len(s.blocks); k > 0 && s.blocks[k-1].n < s.blockCap {
		b = s.blocks[k-1]
	} else {
		b = s.spare
		s.spare = nil
		if b == nil {
			b = new(block)
		}
		b.n, b.newest, b.flushed = 0, math.MinInt64, 0
		b.seq = s.nextSeq
		s.nextSeq++
		s.blocks = append(s.blocks, b)
	}
	b.h[b.n] = h
	b.n++
	b.newest = max(b.newest, ts)
	if (s.n+1)*4 > len(s.table)*3 {
		s.grow()
	}
	s.put(h)
	s.n++
}

// forgetOldest forgets the oldest block of ids and returns their number.
func (s *Set) forgetOldest() int {
	b := s.blocks[0]
	hs := b.h[:b.n]
	// Load every entry's home first: the loads are independent, so their
	// cache misses overlap, and the removals then mostly hit the cache.
	var sink uint64
	for _, h := range hs {
		sink += s.table[h&s.mask]
	}
	s.sink += sink
	for _, h := range hs {
		s.remove(h)
	}
	s.n -= len(hs)
	if b.flushed > 0 {
		s.forgotten = append(s.forgotten, b.seq)
	}
	copy(s.blocks, s.blocks[1:])
	s.blocks[len(s.blocks)-1] = nil
	s.blocks = s.blocks[:len(s.blocks)-1]
	s.spare = b
	return len(hs)
}

func (s *Set) put(h uint64) {
	p := h & s.mask
	for s.table[p] != 0 {
		p = (p + 1) & s.mask
	}
	s.table[p] = h
}

// remove deletes h, shifting the entries of its probe run back so lookups
// never need tombstones.
func (s *Set) remove(h uint64) {
	p := h & s.mask
	for s.table[p] != h {
		if s.table[p] == 0 {
			return // not present: cannot happen, every block hash is in the table
		}
		p = (p + 1) & s.mask
	}
	hole := p
	for j := (p + 1) & s.mask; s.table[j] != 0; j = (j + 1) & s.mask {
		// The entry at j may move back to the hole unless its home lies
		// cyclically in (hole, j].
		k := s.table[j] & s.mask
		if (j > hole && (k <= hole || k > j)) || (j < hole && k <= hole && k > j) {
			s.table[hole] = s.table[j]
			hole = j
		}
	}
	s.table[hole] = 0
}

func (s *Set) grow() { s.resize(2 * len(s.table)) }

// rebuild sizes the table for the ids remembered now, after many expired.
func (s *Set) rebuild() {
	c := tableMinCap
	for c*3 < (s.n+1)*8 { // at most 3/8 full afterwards
		c *= 2
	}
	s.resize(c)
}

func (s *Set) resize(c int) {
	old := s.table
	s.table, s.mask = make([]uint64, c), uint64(c-1)
	for _, h := range old {
		if h != 0 {
			s.put(h)
		}
	}
}

// nanos is t in Unix nanoseconds, clamped to the int64 range.
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
