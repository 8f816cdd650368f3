package resolve

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/services/detector/internal/resolve/dnstest"
)

// benchZone has n domains, each with its own MX host and address: the
// usable ones (even) resolve to a routable address, the others (odd) to
// a private one.
func benchZone(b *testing.B, n int) *dnstest.Server {
	b.Helper()
	var z strings.Builder
	for i := range n {
		fmt.Fprintf(&z, "d%d.bench-mx.net. 300 IN MX 10 mx.d%d.bench-mx.net.\n", i, i)
		addr := fmt.Sprintf("93.184.%d.%d", i/250%250, i%250+1)
		if i%2 == 1 {
			addr = fmt.Sprintf("10.9.%d.%d", i/250%250, i%250+1)
		}
		fmt.Fprintf(&z, "mx.d%d.bench-mx.net. 300 IN A %s\n", i, addr)
	}
	s, err := dnstest.Start(z.String())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(s.Close)
	return s
}

// BenchmarkMXVerdicts: MX decisions (can the domain receive?) per second
// against the local authoritative test server, 16 lookups in flight as
// with the default dns.concurrency. cold: every decision asks the server
// (MX, A, AAAA: an empty cache each time); warm: every answer is cached.
func BenchmarkMXVerdicts(b *testing.B) {
	const domains = 2000
	srv := benchZone(b, domains)
	cfg := DefaultConfig()
	cfg.Servers = []string{srv.Addr}
	cfg.Timeout = time.Second
	for _, warm := range []bool{false, true} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			shared, err := New(cfg, nil)
			if err != nil {
				b.Fatal(err)
			}
			if warm {
				for i := range domains {
					shared.MX(context.Background(), fmt.Sprintf("d%d.bench-mx.net", i))
				}
			}
			var next, failed atomic.Int64
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1)
					c := shared
					if !warm {
						c, _ = New(cfg, nil) // an empty cache
					}
					a := c.MX(context.Background(), fmt.Sprintf("d%d.bench-mx.net", i%domains))
					if Failed(a.Result) || a.Facts["can_receive"] != float64(1-i%domains%2) {
						failed.Add(1)
					}
				}
			})
			b.StopTimer()
			if failed.Load() > 0 {
				b.Fatalf("%d of %d decisions wrong or failed", failed.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "verdicts/s")
		})
	}
}
