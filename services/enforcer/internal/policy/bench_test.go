package policy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset/bansettest"
)

// BenchmarkPolicy1000Conns measures the policy server as Postfix uses it
// at scale: 1,000 concurrent connections (one per smtpd process), each
// sending requests back to back, against a ban set of bansettest.BenchBans
// active bans; half the requests hit a ban. It reports requests/s and the
// p99 of the time from writing a request to reading its answer (p99-ms),
// over b.N requests in all.
func BenchmarkPolicy1000Conns(b *testing.B) { benchPolicy(b, 0) }

// BenchmarkPolicy1000ConnsPaced is the same at a steady offered load, as
// a fleet of smtpd processes sends it: every connection sends one request
// every 200 ms (5,000 requests/s in all), so the p99 is the latency at
// that load rather than the queueing of a saturated server.
func BenchmarkPolicy1000ConnsPaced(b *testing.B) { benchPolicy(b, 200*time.Millisecond) }

func benchPolicy(b *testing.B, every time.Duration) {
	const conns = 1000
	now := time.Now()
	set := banset.New(func() time.Time { return now })
	bansettest.Fill(set, bansettest.BenchBans, now)
	srv, err := New(Config{Addr: "127.0.0.1:0", MaxConns: conns + 24, ReadTimeout: time.Minute}, set,
		slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()

	clients := make([]net.Conn, conns)
	for i := range clients {
		c, err := net.Dial("tcp", srv.Addr())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients[i] = c
	}
	// Measure the steady state, not the collection of the set just built.
	runtime.GC()
	var next atomic.Int64
	lat := make([][]time.Duration, conns)
	var rejects atomic.Int64
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := bufio.NewReader(c)
			var tick *time.Ticker
			if every > 0 {
				time.Sleep(time.Duration(i) * every / conns) // spread the phases
				tick = time.NewTicker(every)
				defer tick.Stop()
			}
			for {
				if tick != nil {
					<-tick.C
				}
				n := next.Add(1)
				if n > int64(b.N) {
					return
				}
				// Even n: a banned sender of the set; odd: an unknown one.
				sender := fmt.Sprintf("user%d@customer%d.example", (n*7919)%bansettest.BenchBans, ((n*7919)%bansettest.BenchBans)%5000)
				if n%2 == 1 {
					sender = fmt.Sprintf("clean%d@ok.example", n)
				}
				req := "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=192.0.2.1\n" +
					"client_name=client.example\nhelo_name=client.example\nsender=" + sender + "\nrecipient=someone@dest.example\n" +
					"recipient_count=0\nqueue_id=\nsize=0\nsasl_username=\n\n"
				t0 := time.Now()
				if _, err := io.WriteString(c, req); err != nil {
					b.Error(err)
					return
				}
				line, err := r.ReadString('\n')
				if err == nil {
					_, err = r.ReadString('\n')
				}
				if err != nil {
					b.Error(err)
					return
				}
				lat[i] = append(lat[i], time.Since(t0))
				if line[:13] == "action=REJECT" {
					rejects.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	if len(all) == 0 {
		b.Fatal("no answers")
	}
	p := func(q float64) time.Duration { return all[min(len(all)-1, int(q*float64(len(all))))] }
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "requests/s")
	b.ReportMetric(float64(p(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(p(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(conns), "conns")
	if len(all) > 100 && rejects.Load() == 0 {
		b.Fatal("no request hit a ban")
	}
}
