package parse

import (
	"strconv"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// BenchmarkLineKinds measures Feed per line kind of dayLog (cache-hot,
// one kind at a time), to see where a day's parse time goes.
func BenchmarkLineKinds(b *testing.B) {
	byKind := map[string][][]byte{}
	p0, _ := New(Options{})
	dayLog(50_000, func(l string) {
		before := p0.Stats()
		_ = p0.Feed([]byte(l), "x", func(*event.DeliveryEvent) {})
		k := changedLineKind(before, p0.Stats())
		if len(byKind[k]) < 2000 {
			byKind[k] = append(byKind[k], []byte(l))
		}
	})
	for k, lines := range byKind {
		b.Run(k, func(b *testing.B) {
			p, _ := New(Options{ReuseEvents: true, Now: func() time.Time { return time.Date(2026, 11, 25, 0, 0, 0, 0, time.UTC) }})
			ids := make([]string, len(lines))
			for i := range ids {
				ids[i] = "bench:x:" + strconv.Itoa(i)
			}
			emit := func(*event.DeliveryEvent) {}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				j := i % len(lines)
				_ = p.Feed(lines[j], ids[j], emit)
			}
		})
	}
}
