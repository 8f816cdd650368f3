package detector

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

const (
	benchSenders = 1 << 20 // tracked senders
	benchRing    = 1 << 20 // distinct prebuilt events, replayed in a loop
	benchStep    = 100 * time.Microsecond
)

var benchT0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func benchSender(i int) string { return fmt.Sprintf("s%07d@customer-%03d.example", i, i%1000) }

func benchID(i int) string {
	return fmt.Sprintf("mx%d.example.net:%08x:%010d", i%8, uint32(i)*2654435761, i)
}

// benchEvents builds the ring of events the benchmark cycles through. Each
// event owns its strings, allocated in arrival order, like events decoded
// from Kafka (whose strings are fresh in cache when the rules see them).
// Senders follow dist; 1 event in 1000 comes from one of 16 senders that
// hammer invalid recipients, so verdicts and the suppression path run too.
func benchEvents(dist string) []event.DeliveryEvent {
	rng := rand.New(rand.NewPCG(7, 11))
	zipf := rand.NewZipf(rng, 1.1, 1, benchSenders-1)
	evs := make([]event.DeliveryEvent, benchRing)
	for i := range evs {
		e := &evs[i]
		e.ID = benchID(benchSenders + i)
		e.Status, e.Reason = event.StatusSent, ""
		switch r := rng.IntN(1000); {
		case r == 0:
			e.Sender = fmt.Sprintf("hammer%02d@spam.example", rng.IntN(16))
			if rng.IntN(10) != 0 {
				e.Status, e.Reason = event.StatusBounced, "user_unknown"
			}
		default:
			k := rng.IntN(benchSenders)
			if dist == "zipf" {
				k = int(zipf.Uint64())
			}
			e.Sender = strings.Clone(benchSender(k))
			switch {
			case r < 50:
				e.Status, e.Reason = event.StatusBounced, "user_unknown"
			case r < 80:
				e.Status, e.Reason = event.StatusDeferred, "network"
			case r < 100:
				e.Status, e.Reason = event.StatusRejected, "policy"
			}
		}
	}
	return evs
}

// BenchmarkRules runs events through every enabled rule and the ban ledger
// (Processor.Process, no decoding, no Kafka) with 1M tracked senders, for
// two sender distributions: uniform (every event a cache miss: the worst
// case) and zipf (s=1.1, the skew of real mail traffic). Deduplication is
// on with its defaults and its set full (1M ids), so every event also pays
// for a lookup and for forgetting the oldest id.
func BenchmarkRules(b *testing.B) {
	for _, dist := range []string{"uniform", "zipf"} {
		b.Run(dist, func(b *testing.B) {
			p, err := NewProcessor(Default(), rules.StageSender, Options{Now: func() time.Time { return benchT0.Add(24 * time.Hour) }})
			if err != nil {
				b.Fatal(err)
			}
			var out Output
			for i := range benchSenders {
				ev := event.DeliveryEvent{ID: benchID(i), TS: benchT0, Sender: benchSender(i), Status: event.StatusSent}
				if _, err := p.Process(&ev, &out); err != nil {
					b.Fatal(err)
				}
			}
			evs := benchEvents(dist)
			runtime.GC()
			ts := benchT0.Add(time.Second)
			verdicts := 0
			i := 0
			var paused time.Duration
			start := time.Now()
			for b.Loop() {
				k := i & (benchRing - 1)
				if k == 0 && i > 0 {
					// A new lap of the ring: new ids, or every event
					// would be a repeat that deduplication skips.
					b.StopTimer()
					t := time.Now()
					for j := range evs {
						evs[j].ID = benchID(benchSenders + i + j)
					}
					paused += time.Since(t)
					b.StartTimer()
				}
				ev := &evs[k]
				ev.TS = ts
				out.Reset()
				ok, err := p.Process(ev, &out)
				if err != nil || !ok {
					b.Fatalf("event %d: processed %v, err %v", i, ok, err)
				}
				verdicts += len(out.Verdicts)
				ts = ts.Add(benchStep)
				i++
			}
			elapsed := time.Since(start) - paused
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			tracked := p.Tables()[0].Keys
			if tracked < benchSenders {
				b.Fatalf("only %d senders tracked", tracked)
			}
			b.ReportMetric(float64(tracked), "senders")
			b.ReportMetric(float64(verdicts), "verdicts")
		})
	}
}

// BenchmarkRulesIdleMemory measures the heap each tracked, idle sender
// costs in the rules' state, everything included (index, key string, slot,
// counters): "sent" for a sender with only deliveries in its window, and
// "user_unknown" for one with a user-unknown bounce, whose first event id
// (41 bytes here) the rule keeps as evidence. Deduplication is off: its
// memory is per event id, not per sender (dedup's BenchmarkSetMemory).
func BenchmarkRulesIdleMemory(b *testing.B) {
	cfg := Default()
	cfg.Dedup.MaxIDs = 0
	for _, kind := range []string{"sent", "user_unknown"} {
		b.Run(kind, func(b *testing.B) {
			for b.Loop() {
				before := heapAlloc()
				p, err := NewProcessor(cfg, rules.StageSender, Options{Now: func() time.Time { return benchT0.Add(24 * time.Hour) }})
				if err != nil {
					b.Fatal(err)
				}
				var out Output
				for i := range benchSenders {
					ev := event.DeliveryEvent{ID: benchID(i), TS: benchT0.Add(time.Duration(i) * time.Millisecond), Sender: benchSender(i), Status: event.StatusSent}
					if kind == "user_unknown" {
						ev.Status, ev.Reason = event.StatusBounced, "user_unknown"
					}
					out.Reset()
					if _, err := p.Process(&ev, &out); err != nil {
						b.Fatal(err)
					}
				}
				out = Output{}
				after := heapAlloc()
				if n := p.Tables()[0].Keys; n != benchSenders {
					b.Fatalf("%d tracked", n)
				}
				b.ReportMetric(float64(after-before)/benchSenders, "B/key")
				runtime.KeepAlive(p)
			}
		})
	}
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
