package dedup

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func id(i int) string { return fmt.Sprintf("mx1.example.net:%08x:%d", uint32(i)*2654435761, i) }

func newSet(t testing.TB, maxIDs int, horizon time.Duration) *Set {
	t.Helper()
	s, err := New(maxIDs, horizon)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// check verifies the Set's invariants: the table holds exactly the hashes
// of the blocks, every block but the last is full, and n counts them.
func check(t *testing.T, s *Set) {
	t.Helper()
	inBlocks := map[uint64]bool{}
	for i, b := range s.blocks {
		if b.n == 0 || b.n > s.blockCap || (i < len(s.blocks)-1 && b.n != s.blockCap) {
			t.Fatalf("block %d of %d: %d ids, %d per block", i, len(s.blocks), b.n, s.blockCap)
		}
		for _, h := range b.h[:b.n] {
			if inBlocks[h] {
				t.Fatalf("hash %x twice in the blocks", h)
			}
			inBlocks[h] = true
		}
	}
	inTable := 0
	for _, h := range s.table {
		if h == 0 {
			continue
		}
		inTable++
		if !inBlocks[h] {
			t.Fatalf("hash %x in the table, not in the blocks", h)
		}
		if !s.contains(h) {
			t.Fatalf("hash %x in the table, not found by a lookup", h)
		}
	}
	if inTable != len(inBlocks) || s.n != inTable || s.Len() != s.n || s.n > s.max {
		t.Fatalf("table %d, blocks %d, n %d, max %d", inTable, len(inBlocks), s.n, s.max)
	}
	if s.n*4 > len(s.table)*3 {
		t.Fatalf("table %d entries for %d ids: over 3/4 full", len(s.table), s.n)
	}
}

// remembers reports whether s remembers id, without adding it.
func remembers(s *Set, id string) bool { return s.contains(Hash(id)) }

func TestSeen(t *testing.T) {
	s := newSet(t, 100, time.Hour)
	if s.Seen("a", t0) || s.Seen("b", t0) {
		t.Fatal("a new id seen")
	}
	if !s.Seen("a", t0) || !s.Seen("b", t0.Add(-time.Hour)) || !s.Seen("a", t0.Add(time.Hour)) {
		t.Fatal("a repeat not seen (its time does not matter)")
	}
	for range 3 {
		if s.Seen("", t0) {
			t.Fatal("an empty id is never a repeat")
		}
	}
	if st := s.Stats(); st != (Stats{IDs: 2, Duplicates: 3}) {
		t.Fatalf("stats %+v", st)
	}
	check(t, s)
}

// TestMaxIDs: a full Set forgets its oldest block of ids to make room, so
// it remembers the newest ids, never more than MaxIDs and never fewer
// than MaxIDs - block + 1 once it was full.
func TestMaxIDs(t *testing.T) {
	for _, tt := range []struct{ limit, block int }{{1, 1}, {15, 1}, {16, 1}, {1000, 62}, {40_000, maxBlock}} {
		t.Run(fmt.Sprint(tt.limit), func(t *testing.T) {
			s := newSet(t, tt.limit, time.Hour)
			if s.blockCap != tt.block {
				t.Fatalf("block of %d ids, want %d", s.blockCap, tt.block)
			}
			n := 3*tt.limit + 7
			for i := range n {
				if s.Seen(id(i), t0) {
					t.Fatalf("id %d: new id seen", i)
				}
				if !s.Seen(id(i), t0) {
					t.Fatalf("id %d: repeat not seen", i)
				}
				k := s.Len()
				if k > tt.limit || (i >= tt.limit && k < tt.limit-tt.block+1) {
					t.Fatalf("after id %d: %d ids remembered", i, k)
				}
				// Exactly the newest k.
				if !remembers(s, id(i-k+1)) || (i-k >= 0 && remembers(s, id(i-k))) {
					t.Fatalf("after id %d: not the newest %d ids", i, k)
				}
				if i%(tt.limit/3+1) == 0 {
					check(t, s)
				}
			}
			check(t, s)
			if st := s.Stats(); st.Dropped != uint64(n-st.IDs) || st.Duplicates != uint64(n) || st.Expired != 0 {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}

// TestExpire: ids are forgotten a block at a time, once the newest event
// time in the block is more than the horizon behind the watermark; out of
// order times keep their block.
func TestExpire(t *testing.T) {
	s := newSet(t, 1<<20, time.Hour)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Second) }
	// Three full blocks, one second apart per id, and a partial one.
	n := 3*maxBlock + 10
	for i := range n {
		s.Seen(id(i), at(i))
	}
	// An id from the second block's time lands in the fourth block.
	s.Seen("late", at(maxBlock+5))
	check(t, s)
	if s.Expire(at(0)) != 0 || s.Expire(at(maxBlock-1).Add(time.Hour)) != 0 {
		t.Fatal("expired ids at or before the horizon's edge")
	}
	// The first block's newest id is maxBlock-1: one ns later it goes.
	if got := s.Expire(at(maxBlock - 1).Add(time.Hour + 1)); got != maxBlock {
		t.Fatalf("expired %d ids, want one block", got)
	}
	check(t, s)
	if remembers(s, id(0)) || remembers(s, id(maxBlock-1)) || !remembers(s, id(maxBlock)) {
		t.Fatal("not exactly the first block expired")
	}
	// Far ahead: every block goes whose newest time is older than the
	// horizon, the partial last one included. The late id does not hold
	// its block back: the block's newest time is what counts.
	if got := s.Expire(at(3*maxBlock + 9).Add(time.Hour + 1)); got != n-maxBlock+1 {
		t.Fatalf("expired %d, want %d", got, n-maxBlock+1)
	}
	check(t, s)
	if st := s.Stats(); st.IDs != 0 || st.Expired != uint64(n+1) || st.Dropped != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Empty, the Set works as new.
	if s.Seen(id(0), at(0)) || !s.Seen(id(0), at(0)) {
		t.Fatal("after expiry")
	}
	check(t, s)
	// Extreme times do not overflow.
	if s.Expire(time.Time{}) != 0 || s.Expire(time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)) != 0 {
		t.Fatal("year 1 expired ids")
	}
	if s.Expire(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)) != 1 || s.Len() != 0 {
		t.Fatal("year 9999 did not expire everything")
	}
}

// TestExpireOutOfOrder: an old id seen after a newer one stays as long as
// its block does.
func TestExpireOutOfOrder(t *testing.T) {
	s := newSet(t, 1000, time.Minute)
	s.Seen("new", t0.Add(time.Hour))
	s.Seen("old", t0)
	if s.Expire(t0.Add(time.Hour)) != 0 || !s.Seen("old", t0) {
		t.Fatal("old id expired with a newer one in its block")
	}
}

// TestShrink: after a burst expires, the table is rebuilt smaller.
func TestShrink(t *testing.T) {
	s := newSet(t, 1<<20, time.Minute)
	for i := range 100 * maxBlock { // full blocks: "later" starts a new one
		s.Seen(id(i), t0)
	}
	big := len(s.table)
	s.Seen("later", t0.Add(time.Hour))
	s.Expire(t0.Add(time.Hour))
	check(t, s)
	if s.Len() != 1 || len(s.table) != tableMinCap || big <= tableMinCap {
		t.Fatalf("%d ids, table %d entries (was %d)", s.Len(), len(s.table), big)
	}
}

// model is the obvious implementation of a Set, on strings.
type model struct {
	max, block int
	horizon    time.Duration
	blocks     [][]string
	newest     []time.Time
	ids        map[string]bool
}

func (m *model) seen(id string, ts time.Time) bool {
	if id == "" {
		return false
	}
	if m.ids[id] {
		return true
	}
	if len(m.ids) >= m.max {
		m.forget()
	}
	if k := len(m.blocks); k == 0 || len(m.blocks[k-1]) == m.block {
		m.blocks, m.newest = append(m.blocks, nil), append(m.newest, ts)
	}
	k := len(m.blocks) - 1
	m.blocks[k] = append(m.blocks[k], id)
	if ts.After(m.newest[k]) {
		m.newest[k] = ts
	}
	m.ids[id] = true
	return false
}

func (m *model) forget() {
	for _, id := range m.blocks[0] {
		delete(m.ids, id)
	}
	m.blocks, m.newest = m.blocks[1:], m.newest[1:]
}

func (m *model) expire(wm time.Time) {
	for len(m.blocks) > 0 && m.newest[0].Before(wm.Add(-m.horizon)) {
		m.forget()
	}
}

// TestAgainstModel runs random ids, times and expiries through a Set and
// the model: every answer, and the size, must agree.
func TestAgainstModel(t *testing.T) {
	for _, limit := range []int{1, 7, 100, 5000} {
		t.Run(fmt.Sprint(limit), func(t *testing.T) {
			s := newSet(t, limit, 10*time.Minute)
			m := &model{max: limit, block: s.blockCap, horizon: 10 * time.Minute, ids: map[string]bool{}}
			rng := rand.New(rand.NewPCG(uint64(limit), 3))
			wm := t0
			for i := range 50_000 {
				// Ids from a range twice the limit, times jittering around
				// a clock that sometimes jumps.
				x := id(rng.IntN(2*limit + 2))
				if rng.IntN(50) == 0 {
					x = ""
				}
				ts := wm.Add(time.Duration(rng.IntN(600)-500) * time.Second)
				if got, want := s.Seen(x, ts), m.seen(x, ts); got != want {
					t.Fatalf("op %d: Seen(%q) = %v, model %v", i, x, got, want)
				}
				if ts.After(wm) {
					wm = ts
				}
				if rng.IntN(10) == 0 {
					wm = wm.Add(time.Duration(rng.IntN(120)) * time.Second)
					s.Expire(wm)
					m.expire(wm)
				}
				if s.Len() != len(m.ids) {
					t.Fatalf("op %d: %d ids, model %d", i, s.Len(), len(m.ids))
				}
				if i%5000 == 0 {
					check(t, s)
				}
			}
			check(t, s)
		})
	}
}

// TestDeterministic: the same input gives the same answers, table layout
// and all (nothing is seeded per process or per Set).
func TestDeterministic(t *testing.T) {
	run := func() ([]bool, []uint64) {
		s := newSet(t, 3000, 10*time.Minute)
		rng := rand.New(rand.NewPCG(1, 2))
		var got []bool
		for i := range 20000 {
			ts := t0.Add(time.Duration(i) * 50 * time.Millisecond)
			got = append(got, s.Seen(id(rng.IntN(8000)), ts))
			s.Expire(ts)
		}
		check(t, s)
		return got, s.table
	}
	a, ta := run()
	b, tb := run()
	if fmt.Sprint(a) != fmt.Sprint(b) || fmt.Sprint(ta) != fmt.Sprint(tb) {
		t.Fatal("two runs differ")
	}
	dups := 0
	for _, d := range a {
		if d {
			dups++
		}
	}
	if dups == 0 || dups == len(a) {
		t.Fatalf("%d repeats of %d: the test input is not mixed", dups, len(a))
	}
}

// TestRemoveWraps exercises backward-shift deletion across the end of the
// table with hashes chosen to collide there.
func TestRemoveWraps(t *testing.T) {
	s := newSet(t, 1000, time.Hour)
	m := s.mask // the last entry; the probe runs of these wrap past it
	hs := []uint64{m - 1, m, m + 1 + m, 2*(m+1) + m, 1<<32 | m, 1 << 40, 1<<41 | 1}
	for _, h := range hs {
		s.add(h, 0)
	}
	check(t, s)
	for _, h := range hs[:4] {
		s.remove(h)
		s.n--
		if s.contains(h) {
			t.Fatalf("%x still there", h)
		}
	}
	for _, h := range hs[4:] {
		if !s.contains(h) {
			t.Fatalf("%x lost", h)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, n := range []int{0, 1, 1_000_000, MaxMaxIDs} {
		if err := (Config{MaxIDs: n}).Validate(); err != nil {
			t.Errorf("%d: %v", n, err)
		}
	}
	for _, n := range []int{-1, MaxMaxIDs + 1} {
		if err := (Config{MaxIDs: n}).Validate(); err == nil {
			t.Errorf("%d accepted", n)
		}
	}
	if _, err := New(0, time.Hour); err == nil {
		t.Error("New(0) accepted")
	}
	if _, err := New(1, -time.Second); err == nil {
		t.Error("negative horizon accepted")
	}
	if DefaultConfig().MaxIDs != 1_000_000 {
		t.Error("default")
	}
}

const benchIDs = 1 << 20

func benchIDStrings(n, from int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("mx%d.example.net:%08x:%010d", (from+i)%8, uint32(from+i)*2654435761, from+i)
	}
	return ids
}

// BenchmarkSeen: new ids into a full set of a million (each one a lookup
// and the forgetting of the oldest id), and repeats.
func BenchmarkSeen(b *testing.B) {
	full := func(b *testing.B) (*Set, []string) {
		s := newSet(b, 1_000_000, time.Hour)
		ids := benchIDStrings(1_000_000, 0)
		for _, x := range ids {
			s.Seen(x, t0)
		}
		return s, ids
	}
	b.Run("new", func(b *testing.B) {
		s, _ := full(b)
		lap := 1
		fresh := benchIDStrings(benchIDs, lap*benchIDs)
		i := 0
		for b.Loop() {
			if i == benchIDs {
				b.StopTimer()
				lap++
				fresh = benchIDStrings(benchIDs, lap*benchIDs)
				i = 0
				b.StartTimer()
			}
			if s.Seen(fresh[i], t0) {
				b.Fatal("repeat")
			}
			i++
		}
	})
	b.Run("repeat", func(b *testing.B) {
		s, ids := full(b)
		i := 0
		for b.Loop() {
			if !s.Seen(ids[i], t0) {
				b.Fatal("not a repeat")
			}
			if i++; i == len(ids) {
				i = 0
			}
		}
	})
}

// BenchmarkSetMemory reports the heap a full set of a million ids costs
// per id.
func BenchmarkSetMemory(b *testing.B) {
	ids := benchIDStrings(1_000_000, 0)
	for b.Loop() {
		before := heapAlloc()
		s := newSet(b, 1_000_000, time.Hour)
		for _, x := range ids {
			s.Seen(x, t0)
		}
		after := heapAlloc()
		b.ReportMetric(float64(after-before)/float64(s.Len()), "B/id")
		runtime.KeepAlive(s)
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
