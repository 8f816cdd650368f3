package window

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus m minutes.
func at(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }

func hour12(t *testing.T) *Engine[string] {
	t.Helper()
	e, err := New[string](Config{Window: time.Hour, Buckets: 12, Counters: 2})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// step is one input of a table test: an event for key at minute m adding
// n to counter c; late says Touch must refuse it.
type step struct {
	key  string
	m    float64
	c    int
	n    uint32
	late bool
}

func run(t *testing.T, e *Engine[string], steps []step) {
	t.Helper()
	for i, s := range steps {
		r, ok := e.Touch(s.key, at(s.m))
		if ok == s.late {
			t.Fatalf("step %d (%+v): Touch ok=%v", i, s, ok)
		}
		if ok {
			r.Add(s.c, s.n)
		}
	}
}

func sums(e *Engine[string], key string) [2]uint64 {
	r, ok := e.Lookup(key)
	if !ok {
		return [2]uint64{}
	}
	var d [2]uint64
	r.Sums(d[:])
	return d
}

func TestEngineCounts(t *testing.T) {
	tests := []struct {
		name    string
		steps   []step
		advance float64 // minutes; 0: none
		want    map[string][2]uint64
		late    uint64
	}{
		{
			name:  "in order",
			steps: []step{{"a", 0, 0, 1, false}, {"a", 1, 1, 2, false}, {"a", 59, 0, 3, false}, {"b", 30, 0, 1, false}},
			want:  map[string][2]uint64{"a": {4, 2}, "b": {1, 0}},
		},
		{
			name:  "out of order within the window",
			steps: []step{{"a", 50, 0, 1, false}, {"a", 10, 0, 1, false}, {"a", 30, 1, 1, false}, {"a", 5.5, 0, 1, false}},
			want:  map[string][2]uint64{"a": {3, 1}},
		},
		{
			name: "older than the window is late",
			// watermark 12:70 → bucket 14; window holds buckets 3..14 (12:15..13:14).
			steps: []step{{"a", 70, 0, 1, false}, {"a", 14.9, 0, 1, true}, {"a", 15, 0, 1, false}, {"b", 2, 0, 1, true}},
			want:  map[string][2]uint64{"a": {2, 0}},
			late:  2,
		},
		{
			name:    "buckets slide out",
			steps:   []step{{"a", 0, 0, 1, false}, {"a", 20, 0, 10, false}, {"a", 40, 1, 100, false}},
			advance: 64, // bucket 12: window 12:05..13:04, the minute-0 event left
			want:    map[string][2]uint64{"a": {10, 100}},
		},
		{
			name:    "a key's newer bucket reuses the ring slot of an expired one",
			steps:   []step{{"a", 0, 0, 1, false}, {"a", 61, 0, 5, false}},
			advance: 61,
			want:    map[string][2]uint64{"a": {5, 0}},
		},
		{
			name:    "idle longer than the window is evicted",
			steps:   []step{{"a", 0, 0, 1, false}, {"b", 30, 0, 1, false}},
			advance: 65,
			want:    map[string][2]uint64{"a": {0, 0}, "b": {1, 0}},
		},
		{
			name:  "late event does not move the watermark back",
			steps: []step{{"a", 120, 0, 1, false}, {"a", 0, 0, 1, true}, {"a", 119, 0, 1, false}},
			want:  map[string][2]uint64{"a": {2, 0}},
			late:  1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := hour12(t)
			run(t, e, tt.steps)
			if tt.advance != 0 {
				e.Advance(at(tt.advance))
			}
			for k, want := range tt.want {
				if got := sums(e, k); got != want {
					t.Errorf("sums(%s) = %v, want %v", k, got, want)
				}
			}
			if got := e.Stats().Late; got != tt.late {
				t.Errorf("late = %d, want %d", got, tt.late)
			}
		})
	}
}

// TestEngineOrderIndependent checks that any permutation of events that are
// all inside the final window gives the same counts.
func TestEngineOrderIndependent(t *testing.T) {
	var steps []step
	for i := range 200 {
		steps = append(steps, step{key: fmt.Sprintf("k%d", i%7), m: float64(i%55) + 0.25, c: i % 2, n: uint32(i%5 + 1)})
	}
	want := map[string][2]uint64{}
	ref := hour12(t)
	run(t, ref, steps)
	for i := range 7 {
		k := fmt.Sprintf("k%d", i)
		want[k] = sums(ref, k)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 20 {
		p := slices.Clone(steps)
		rng.Shuffle(len(p), func(i, j int) { p[i], p[j] = p[j], p[i] })
		e := hour12(t)
		run(t, e, p)
		for k, w := range want {
			if got := sums(e, k); got != w {
				t.Fatalf("trial %d: sums(%s) = %v, want %v", trial, k, got, w)
			}
		}
	}
}

func TestEngineEvictionAndReuse(t *testing.T) {
	e := hour12(t)
	r, _ := e.Touch("a", at(0))
	*r.Value() = "first-a"
	r.Add(0, 1)
	if !r.Fresh() {
		t.Fatal("new key not fresh")
	}
	r, _ = e.Touch("a", at(1))
	if r.Fresh() || *r.Value() != "first-a" {
		t.Fatalf("second touch: fresh=%v value=%q", r.Fresh(), *r.Value())
	}
	// Minute 59 is still bucket 11: "a" (bucket 0) is kept.
	if n := e.Advance(at(59)); n != 0 || e.Len() != 1 {
		t.Fatalf("advance 59: evicted %d, len %d", n, e.Len())
	}
	// Minute 60 is bucket 12: bucket 0 leaves the window, "a" is idle.
	if n := e.Advance(at(60)); n != 1 || e.Len() != 0 {
		t.Fatalf("advance 60: evicted %d, len %d", n, e.Len())
	}
	if _, ok := e.Lookup("a"); ok {
		t.Fatal("evicted key still found")
	}
	r, _ = e.Touch("b", at(61))
	if !r.Fresh() || *r.Value() != "" || r.Sum(0) != 0 {
		t.Fatalf("reused slot not clean: fresh=%v value=%q sum=%d", r.Fresh(), *r.Value(), r.Sum(0))
	}
	r, _ = e.Touch("a", at(61))
	if !r.Fresh() || *r.Value() != "" {
		t.Fatalf("returning key: fresh=%v value=%q", r.Fresh(), *r.Value())
	}
	if got := e.Stats(); got.Created != 3 || got.Evicted != 1 || got.Keys != 2 {
		t.Fatalf("stats = %+v", got)
	}
}

func TestEngineCompacts(t *testing.T) {
	e := hour12(t)
	const n = 3 * compactMin
	for i := range n {
		r, _ := e.Touch(fmt.Sprintf("k%d", i), at(0))
		r.Add(0, 1)
	}
	for i := range 10 {
		r, _ := e.Touch(fmt.Sprintf("k%d", i*100), at(30))
		r.Add(1, uint32(i))
	}
	e.Advance(at(61))
	if e.Len() != 10 {
		t.Fatalf("len = %d, want 10", e.Len())
	}
	if e.used != 10 || len(e.slots) != 1 || len(e.free) != 0 {
		t.Fatalf("not compacted: %d used, %d pages, %d free", e.used, len(e.slots), len(e.free))
	}
	for i := range 10 {
		if got := sums(e, fmt.Sprintf("k%d", i*100)); got != [2]uint64{0, uint64(i)} {
			t.Fatalf("k%d sums = %v", i*100, got)
		}
	}
}

func TestEngineSaturates(t *testing.T) {
	e := hour12(t)
	r, _ := e.Touch("a", at(0))
	r.Add(0, math.MaxUint32-1)
	r.Add(0, 5)
	if got := r.Sum(0); got != math.MaxUint32 {
		t.Fatalf("sum = %d", got)
	}
}

func TestEngineBefore1970(t *testing.T) {
	e, err := New[struct{}](Config{Window: time.Hour, Buckets: 12, Counters: 1})
	if err != nil {
		t.Fatal(err)
	}
	base := time.Date(1969, 12, 31, 23, 30, 0, 0, time.UTC)
	for i := range 50 {
		r, ok := e.Touch("a", base.Add(time.Duration(i)*time.Minute))
		if !ok {
			t.Fatalf("event %d late", i)
		}
		r.Add(0, 1)
	}
	r, _ := e.Lookup("a")
	if got := r.Sum(0); got != 50 {
		t.Fatalf("sum = %d, want 50", got)
	}
	// Extreme timestamps clamp instead of overflowing.
	if _, ok := e.Touch("b", time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)); ok {
		t.Fatal("year 1 not late")
	}
}

func TestEngineWindowBounds(t *testing.T) {
	e := hour12(t)
	if !e.Watermark().IsZero() || !e.WindowStart().IsZero() {
		t.Fatal("bounds before the first event")
	}
	e.Advance(at(62.5))
	if got, want := e.Watermark(), at(62.5); !got.Equal(want) {
		t.Fatalf("watermark %v, want %v", got, want)
	}
	if got, want := e.WindowStart(), at(5); !got.Equal(want) {
		t.Fatalf("window start %v, want %v", got, want)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"1h in 12", Config{time.Hour, 12, 2}, true},
		{"one bucket", Config{time.Minute, 1, 1}, true},
		{"zero window", Config{0, 12, 2}, false},
		{"negative window", Config{-time.Hour, 12, 2}, false},
		{"no buckets", Config{time.Hour, 0, 2}, false},
		{"too many buckets", Config{time.Hour, MaxBuckets + 1, 2}, false},
		{"uneven", Config{time.Hour, 7, 2}, false},
		{"too narrow", Config{time.Millisecond, 2, 2}, false},
		{"no counters", Config{time.Hour, 12, 0}, false},
		{"too many counters", Config{time.Hour, 12, MaxCounters + 1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v, want ok=%v", err, tt.ok)
			}
			if _, err := New[int](tt.cfg); (err == nil) != tt.ok {
				t.Fatalf("New() = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

// TestEngineHashCollisions runs the same random events through an engine
// with a good hash and engines whose hash collides often or always (keys
// then go to the overflow map), and expects identical state throughout,
// across eviction and compaction.
func TestEngineHashCollisions(t *testing.T) {
	hashers := map[string]func(string) uint64{
		"constant": func(string) uint64 { return 42 },
		"by-last-byte": func(s string) uint64 {
			if s == "" {
				return 0
			}
			return uint64(s[len(s)-1])
		},
	}
	for name, h := range hashers {
		t.Run(name, func(t *testing.T) {
			ref := hour12(t)
			col := hour12(t)
			col.hash = h
			rng := rand.New(rand.NewPCG(3, 4))
			m := 0.0
			for i := range 20000 {
				m += rng.Float64() * 0.05
				if i%5000 == 4999 {
					m += 70 // idle gap: everything is evicted, compaction runs
				}
				key := fmt.Sprintf("k%d", rng.IntN(compactMin*2))
				ts := at(m - rng.Float64()*70) // some late
				r1, ok1 := ref.Touch(key, ts)
				r2, ok2 := col.Touch(key, ts)
				if ok1 != ok2 {
					t.Fatalf("event %d: ok %v vs %v", i, ok1, ok2)
				}
				if !ok1 {
					continue
				}
				if r1.Fresh() != r2.Fresh() {
					t.Fatalf("event %d: fresh %v vs %v", i, r1.Fresh(), r2.Fresh())
				}
				if r1.Fresh() {
					*r1.Value() = key
					*r2.Value() = key
				}
				c := rng.IntN(2)
				r1.Add(c, 1)
				r2.Add(c, 1)
				if *r2.Value() != key || r1.Sum(c) != r2.Sum(c) {
					t.Fatalf("event %d: value %q sum %d vs %d", i, *r2.Value(), r1.Sum(c), r2.Sum(c))
				}
			}
			s1, s2 := ref.Stats(), col.Stats()
			if s1 != s2 {
				t.Fatalf("stats %+v vs %+v", s1, s2)
			}
			for i := range compactMin * 2 {
				k := fmt.Sprintf("k%d", i)
				if a, b := sums(ref, k), sums(col, k); a != b {
					t.Fatalf("%s: %v vs %v", k, a, b)
				}
			}
		})
	}
}

// BenchmarkIdleKeyMemory measures the heap one tracked, idle key costs with
// 12 buckets of 2 counters (the invalid_recipients shape) and a string
// payload, everything included: index entry, key string (29 bytes), slot,
// counters, and in "with-event-id" a 41-byte event id held in the payload
// (the rules keep one only for keys with evidence).
func BenchmarkIdleKeyMemory(b *testing.B) {
	const n = 1 << 20
	keys := make([]string, n)
	ids := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("s%07d@example-customer.com", i)
		ids[i] = fmt.Sprintf("mx1.example.net:%016x:%08d", uint64(i)*0x9e3779b97f4a7c15, i)
	}
	for _, withID := range []bool{false, true} {
		name := "no-payload"
		if withID {
			name = "with-event-id"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				before := heapInUse()
				e, _ := New[idle](Config{Window: time.Hour, Buckets: 12, Counters: 2})
				for i, k := range keys {
					r, _ := e.Touch(k, t0.Add(time.Duration(i)*time.Millisecond))
					r.Add(0, 1)
					if withID {
						r.Value().first = ids[i]
					}
				}
				after := heapInUse()
				// keys and ids were allocated before "before"; charge
				// their bytes to the engine, which keeps them alive.
				strBytes := uint64(n) * sizeClass(len(keys[0]))
				if withID {
					strBytes += uint64(n) * sizeClass(len(ids[0]))
				}
				b.ReportMetric(float64(after-before+strBytes)/n, "B/key")
				runtime.KeepAlive(e)
			}
		})
	}
}

// idle is a payload like the rules': one event id per key.
type idle struct{ first string }

// BenchmarkTouch measures Touch+Add+Sums over 1M tracked keys chosen
// uniformly at random (each key string fresh, as decoded from a record).
func BenchmarkTouch(b *testing.B) {
	const n = 1 << 20
	e, _ := New[idle](Config{Window: time.Hour, Buckets: 12, Counters: 2})
	for i := range n {
		r, _ := e.Touch(fmt.Sprintf("s%07d@example-customer.com", i), t0)
		r.Add(0, 1)
	}
	rng := rand.New(rand.NewPCG(5, 6))
	seq := make([]string, n)
	for i := range seq {
		seq[i] = fmt.Sprintf("s%07d@example-customer.com", rng.IntN(n))
	}
	var d [2]uint64
	i := 0
	start := time.Now()
	for b.Loop() {
		r, _ := e.Touch(seq[i&(n-1)], t0.Add(time.Duration(i)*time.Microsecond))
		r.Add(i&1, 1)
		r.Sums(d[:])
		i++
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// sizeClass rounds a string length up to the allocator's size class
// (good enough for the small sizes used here).
func sizeClass(n int) uint64 {
	for _, c := range []int{8, 16, 24, 32, 48, 64, 80, 96, 112, 128} {
		if n <= c {
			return uint64(c)
		}
	}
	return uint64(n)
}
