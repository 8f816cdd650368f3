package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkEnforcerMemoryPerBan sizes the enforcer (README "Running in
// production"): the enforcer process reads a bans topic holding
// MXWARDEN_BENCH_BANS bans (default 200000) at start, and its resident
// memory once ready is compared with the same process over an empty
// topic. Reports B/ban (resident), MiB of RSS with all bans, and how fast
// a restarted enforcer catches up (bans/s until /readyz). One sample;
// the whole process, with the map files written.
func BenchmarkEnforcerMemoryPerBan(b *testing.B) {
	n := 200000
	if v, err := strconv.Atoi(os.Getenv("MXWARDEN_BENCH_BANS")); err == nil && v > 0 {
		n = v
	}
	run := fmt.Sprintf("mem%d", rand.Uint32())
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(6), kfake.SeedTopics(6, run+".bans"))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()[0]

	rssEmpty, _ := enforcerRSS(b, brokers, run+".empty")
	produceBans(b, brokers, run+".bans", n)
	b.ResetTimer()
	rssFull, took := enforcerRSS(b, brokers, run+".bans")
	b.StopTimer()
	b.ReportMetric(float64(rssFull-rssEmpty)/float64(n), "B/ban")
	b.ReportMetric(float64(rssFull)/(1<<20), "MiB-rss")
	b.ReportMetric(float64(n)/took.Seconds(), "bans/s-catchup")
	b.ReportMetric(float64(n), "bans")
}

var rssRe = regexp.MustCompile(`(?m)^process_resident_memory_bytes ([0-9.e+]+)$`)

// enforcerRSS starts an enforcer on the bans topic, waits until it is
// ready (caught up) and settled, and returns its resident memory and the
// time from start to ready.
func enforcerRSS(b *testing.B, brokers, topic string) (int64, time.Duration) {
	b.Helper()
	dir := b.TempDir()
	httpAddr := freeAddr(b)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	bin := binaries(b)
	started := time.Now()
	start(ctx, b, &wg, dir, "enforcer", filepath.Join(bin, "enforcer"), "run",
		"--set", "kafka.brokers="+brokers, "--set", "kafka.topics.bans="+topic,
		"--set", "kafka.partitions=6", "--set", "http.addr="+httpAddr, "--set", "policy.addr="+freeAddr(b),
		"--set", "maps.dir="+filepath.Join(dir, "maps"), "--set", "state.dir="+filepath.Join(dir, "state"), "--set", "print_bans=false", "--set", "log.level=warn")
	deadline := time.Now().Add(5 * time.Minute)
	for !strings.HasPrefix(httpGet(httpAddr, "/readyz"), "ready") {
		if time.Now().After(deadline) {
			b.Fatalf("enforcer on %s not ready after 5 minutes", topic)
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(started)
	// Let the map writer and the first GC cycles settle, then take the
	// smallest of a few samples.
	var rss int64
	for i := 0; i < 10; i++ {
		time.Sleep(500 * time.Millisecond)
		m := rssRe.FindStringSubmatch(httpGet(httpAddr, "/metrics"))
		if m == nil {
			b.Fatal("no process_resident_memory_bytes in the enforcer's /metrics")
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		if rss == 0 || int64(v) < rss {
			rss = int64(v)
		}
	}
	return rss, took
}

func produceBans(b *testing.B, brokers, topic string, n int) {
	b.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
		kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	exp := now.Add(24 * time.Hour).Format(time.RFC3339)
	recs := make([]*kgo.Record, 0, 5000)
	flush := func() {
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		recs = recs[:0]
	}
	for i := 0; i < n; i++ {
		subject := fmt.Sprintf("customer%07d@hosted-%04d.example", i, i%5000)
		v := fmt.Sprintf(`{"v":1,"id":"bench-%d","ts":%q,"rule":"invalid_recipients","subject_kind":"sender","subject":%q,"action":"ban",`+
			`"message":"Your sending address has been blocked by admins: you recently sent too many emails to invalid recipients (20 of 20 in 1h). Open a ticket at https://example.com/tickets",`+
			`"evidence":{"attempts":20,"user_unknown":20,"ratio":1},"expires":%q,"window_start":%q,"window_end":%q,"first_event_id":"mx1:1-2:0","last_event_id":"mx1:1-2:99","source":"rule","level":1}`,
			i, now.Format(time.RFC3339), subject, exp, now.Add(-time.Hour).Format(time.RFC3339), now.Format(time.RFC3339))
		recs = append(recs, &kgo.Record{Key: []byte("sender:" + subject), Value: []byte(v)})
		if len(recs) == cap(recs) {
			flush()
		}
	}
	flush()
}

// httpGet returns the body of GET http://addr/path, or "" on any error.
func httpGet(addr, path string) string {
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}
