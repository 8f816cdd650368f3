package banset_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset/bansettest"
)

// BenchmarkMemoryPerBan reports the heap held per active ban in a set of
// BenchBans (after GC), in B/ban.
func BenchmarkMemoryPerBan(b *testing.B) {
	now := time.Now()
	for range b.N {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		s := banset.New(func() time.Time { return now })
		bansettest.Fill(s, bansettest.BenchBans, now)
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/bansettest.BenchBans, "B/ban")
		runtime.KeepAlive(s)
	}
}

// BenchmarkSnapshotLoad reports the time to load a snapshot of BenchBans
// from disk into a set (what a restart does before answering).
func BenchmarkSnapshotLoad(b *testing.B) {
	now := time.Now()
	s := banset.New(func() time.Time { return now })
	bansettest.Fill(s, bansettest.BenchBans, now)
	path := filepath.Join(b.TempDir(), "banset.snapshot")
	start := time.Now()
	if err := banset.SaveSnapshot(path, s.State(), now, now); err != nil {
		b.Fatal(err)
	}
	save := time.Since(start)
	fi, _ := os.Stat(path)
	s = nil
	runtime.GC()
	b.ResetTimer()
	for range b.N {
		st, _, err := banset.LoadSnapshot(path)
		if err != nil {
			b.Fatal(err)
		}
		n := banset.New(func() time.Time { return now })
		n.Load(st)
		if n.Len() != bansettest.BenchBans {
			b.Fatalf("loaded %d bans", n.Len())
		}
	}
	b.StopTimer()
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/load")
	b.ReportMetric(save.Seconds(), "s/save")
	b.ReportMetric(float64(fi.Size())/bansettest.BenchBans, "B/ban-on-disk")
	fmt.Fprintf(os.Stderr, "snapshot of %d bans: %d MB\n", bansettest.BenchBans, fi.Size()>>20)
}
