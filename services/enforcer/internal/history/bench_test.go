package history

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// benchRows are n event rows shaped like real traffic.
func benchRows(n, offset int) [][]any {
	base := time.Now().UTC().Add(-24 * time.Hour)
	rows := make([][]any, n)
	for i := range rows {
		k := offset + i
		e := &event.DeliveryEvent{ID: fmt.Sprintf("mx%d:2049-%d:%d", k%4, k%97, k*113), TS: base.Add(time.Duration(k) * time.Millisecond),
			MTA: "postfix", Host: fmt.Sprintf("mx%d", k%4), QueueID: fmt.Sprintf("4Q%07X", k), Sender: fmt.Sprintf("user%d@customer%d.example", k%5000, k%300),
			Recipient: fmt.Sprintf("rcpt%d@dest%d.example", k, k%2000), Status: event.StatusSent, DSN: "2.0.0", ReplyCode: 250,
			ReplyText: "250 2.0.0 Ok: queued as 4Q", Relay: "mx.dest.example[192.0.2.7]:25", ClientIP: "203.0.113.9",
			SASLUser: fmt.Sprintf("acct%d", k%300), MessageID: fmt.Sprintf("<%d@customer.example>", k), Size: 4096}
		rows[i] = EventRow(e)
	}
	return rows
}

// benchInsert inserts b.N batches of 100k rows from workers goroutines.
func benchInsert(b *testing.B, s Store, workers int) {
	const per = 100000
	batches := make([][][]any, workers)
	for w := range batches {
		batches[w] = benchRows(per, w*per)
	}
	ctx := context.Background()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	next := make(chan int)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for range next {
				if err := s.Insert(ctx, eventsTable, batches[w]); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}(w)
	}
	for i := 0; i < b.N; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		b.Fatal(firstErr)
	}
	b.ReportMetric(float64(b.N*per)/time.Since(start).Seconds(), "rows/s")
}

// BenchmarkServerInsert: rows/s into a private Debian clickhouse-server
// (18.16) over the native protocol with LZ4, 100k-row batches.
func BenchmarkServerInsert(b *testing.B) {
	srv := startServer(b)
	ctx := context.Background()
	s, err := OpenServer(ctx, srv.DSN(), "mxwarden")
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if _, err := Migrate(ctx, s, DefaultConfig().TTL, nil); err != nil {
		b.Fatal(err)
	}
	benchInsert(b, s, 2)
}

func p95(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[(len(d)*95+99)/100-1]
}
