package detector

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"syscall"
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
			e.Recipient = fmt.Sprintf("nobody%d@recipient.example", i)
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
			var paused, cpuPaused time.Duration
			start, cpuStart := time.Now(), cpuTime()
			for b.Loop() {
				k := i & (benchRing - 1)
				if k == 0 && i > 0 {
					// A new lap of the ring: new ids, or every event
					// would be a repeat that deduplication skips.
					b.StopTimer()
					t, c := time.Now(), cpuTime()
					for j := range evs {
						evs[j].ID = benchID(benchSenders + i + j)
					}
					paused += time.Since(t)
					cpuPaused += cpuTime() - c
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
			cpu := cpuTime() - cpuStart - cpuPaused
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
			tracked := p.Tables()[0].Keys
			if tracked < benchSenders {
				b.Fatalf("only %d senders tracked", tracked)
			}
			b.ReportMetric(float64(tracked), "senders")
			b.ReportMetric(float64(verdicts), "verdicts")
		})
	}
}

// BenchmarkRulesIdleMemory measures the heap each tracked sender costs in
// the state of all rules, everything included (index, key string, slot,
// counters, and the slots allocated on first use): "sent" for an idle
// sender with one delivery in its window, "user_unknown" for one with a
// hard bounce (a distinct-recipient set and the first event id kept as
// evidence), "active" for a sender with 40 attempts in the window, 6 of
// them to distinct unknown recipients. Deduplication is off: its memory is
// per event id, not per sender (dedup's BenchmarkSetMemory).
func BenchmarkRulesIdleMemory(b *testing.B) {
	cfg := Default()
	cfg.Dedup.MaxIDs = 0
	for _, kind := range []string{"sent", "user_unknown", "active"} {
		b.Run(kind, func(b *testing.B) {
			n, per := benchSenders, 1
			if kind == "active" {
				n, per = benchSenders/8, 40
			}
			for b.Loop() {
				before := heapAlloc()
				p, err := NewProcessor(cfg, rules.StageSender, Options{Now: func() time.Time { return benchT0.Add(24 * time.Hour) }})
				if err != nil {
					b.Fatal(err)
				}
				var out Output
				for j := range per {
					for i := range n {
						ev := event.DeliveryEvent{ID: benchID(i), TS: benchT0.Add(time.Duration(j*n+i) * time.Microsecond),
							Sender: benchSender(i), Recipient: fmt.Sprintf("r%d-%d@isp.example", i, j), Status: event.StatusSent}
						if kind == "user_unknown" || (kind == "active" && j%7 == 3) {
							ev.Status, ev.Reason = event.StatusBounced, "user_unknown"
						}
						out.Reset()
						if _, err := p.Process(&ev, &out); err != nil {
							b.Fatal(err)
						}
					}
				}
				out = Output{}
				after := heapAlloc()
				if k := p.Tables()[0].Keys; k != n {
					b.Fatalf("%d tracked", k)
				}
				b.ReportMetric(float64(after-before)/float64(n), "B/key")
				runtime.KeepAlive(p)
			}
		})
	}
}

// BenchmarkRulesDecode is BenchmarkRules counting the decoding of each
// record as it arrives (event.UnmarshalEvent on the wire bytes, then
// Processor.Process), as `detector run` does.
func BenchmarkRulesDecode(b *testing.B) {
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
			recs := make([][]byte, len(evs))
			ts := benchT0.Add(time.Second)
			encode := func(lap int) {
				for j := range evs {
					evs[j].ID = benchID(benchSenders + lap*benchRing + j)
					evs[j].TS = ts.Add(time.Duration(lap*benchRing+j) * benchStep)
					evs[j].MTA, evs[j].Host, evs[j].QueueID, evs[j].Recipient = "postfix", "mx1.example.net", "4Z1A2B3C4D", "someone@recipient.example"
					evs[j].DSN, evs[j].ReplyCode, evs[j].Relay, evs[j].ClientIP = "2.0.0", 250, "mx.recipient.example[198.51.100.7]:25", "192.0.2.10"
					recs[j], _ = event.MarshalEvent(&evs[j])
				}
			}
			encode(0)
			runtime.GC()
			i := 0
			var paused, cpuPaused time.Duration
			start, cpuStart := time.Now(), cpuTime()
			for b.Loop() {
				k := i & (benchRing - 1)
				if k == 0 && i > 0 {
					b.StopTimer()
					t, c := time.Now(), cpuTime()
					encode(i / benchRing)
					paused += time.Since(t)
					cpuPaused += cpuTime() - c
					b.StartTimer()
				}
				ev, err := event.UnmarshalEvent(recs[k])
				if err != nil {
					b.Fatal(err)
				}
				out.Reset()
				if ok, err := p.Process(ev, &out); err != nil || !ok {
					b.Fatalf("event %d: processed %v, err %v", i, ok, err)
				}
				i++
			}
			elapsed := time.Since(start) - paused
			cpu := cpuTime() - cpuStart - cpuPaused
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
			b.ReportMetric(float64(len(recs[0])), "B/record")
		})
	}
}

// BenchmarkRestore measures restoring 1M senders' state from its
// changelog records (as read from the compacted state topic after a
// kill -9): decode and apply every record, then finish the restore.
func BenchmarkRestore(b *testing.B) {
	cfg := Default()
	p, err := NewProcessor(cfg, rules.StageSender, Options{Now: func() time.Time { return benchT0.Add(24 * time.Hour) }, Persist: true})
	if err != nil {
		b.Fatal(err)
	}
	var out Output
	for i := range benchSenders {
		ev := event.DeliveryEvent{ID: benchID(i), TS: benchT0.Add(time.Duration(i) * time.Microsecond), Sender: benchSender(i),
			Recipient: fmt.Sprintf("r%d@isp.example", i), Status: event.StatusSent}
		if i%10 == 0 {
			ev.Status, ev.Reason = event.StatusBounced, "user_unknown"
		}
		out.Reset()
		if _, err := p.Process(&ev, &out); err != nil {
			b.Fatal(err)
		}
	}
	var keys, vals [][]byte
	var bytes int
	p.Flush(func(k, v []byte) {
		keys = append(keys, slices.Clone(k))
		vals = append(vals, slices.Clone(v))
		bytes += len(k) + len(v)
	})
	runtime.GC()
	for b.Loop() {
		q, err := NewProcessor(cfg, rules.StageSender, Options{Now: func() time.Time { return benchT0.Add(24 * time.Hour) }, Persist: true})
		if err != nil {
			b.Fatal(err)
		}
		var st RestoreStats
		for i := range keys {
			q.Restore(keys[i], vals[i], &st)
		}
		if err := q.FinishRestore(&st); err != nil || st.Keys != benchSenders || st.Discarded != 0 {
			b.Fatalf("restore: %+v %v", st, err)
		}
	}
	b.ReportMetric(float64(len(keys)), "records")
	b.ReportMetric(float64(bytes)/float64(len(keys)), "B/record")
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/restore")
}

// cpuTime is the CPU time this process used so far (user and system).
// Rates divide by it as well as by wall time: on a machine shared with
// other work, wall time counts the waits for a core, CPU time does not
// (benchmarks run with -cpu 1, so it is one core's time, GC included).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
