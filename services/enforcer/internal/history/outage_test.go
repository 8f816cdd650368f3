package history

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
)

// TestServerOutageAndKill is the writer against a real ClickHouse server
// (Debian's 18.16): events stream in while the server is killed for 60 s
// and restarted, then while the enforcer process writing them is killed
// with SIGKILL and restarted. Every event produced must be stored exactly
// once.
func TestServerOutageAndKill(t *testing.T) {
	srv := startServer(t)
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, "mail.events", "mail.verdicts", "mail.bans", "mail.queue", "mail.allowlist"))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	brokers := cluster.ListenAddrs()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	prod, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.DefaultProduceTopic("mail.events"))
	if err != nil {
		t.Fatal(err)
	}
	defer prod.Close()
	var produced atomic.Int64
	produce := func(n int) {
		base := time.Now().UTC().Add(-time.Hour)
		for i := 0; i < n; i++ {
			k := produced.Add(1)
			e := &event.DeliveryEvent{ID: fmt.Sprintf("mx1:9-9:%d", k), TS: base.Add(time.Duration(k) * time.Millisecond), MTA: "postfix",
				Host: "mx1", Sender: fmt.Sprintf("s%d@example.com", k%50), Recipient: fmt.Sprintf("r%d@example.net", k),
				Status: event.StatusSent, SASLUser: fmt.Sprintf("acct%d", k%7)}
			b, _ := event.MarshalEvent(e)
			prod.Produce(ctx, &kgo.Record{Key: []byte(e.Account()), Value: b}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := prod.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// stream produces n events per 100 ms until stop is closed.
	stream := func(stop <-chan struct{}, n int) <-chan struct{} {
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				case <-time.After(100 * time.Millisecond):
					produce(n)
				}
			}
		}()
		return done
	}
	stored := func() (rows, ids float64) {
		s, err := OpenServer(ctx, srv.DSN(), "mxwarden")
		if err != nil {
			return -1, -1
		}
		defer s.Close()
		res, err := s.Query(ctx, "SELECT count(), uniqExact(id) FROM events", nil)
		if err != nil || len(res.Rows) == 0 {
			return -1, -1
		}
		return num(t, res.Rows[0][0]), num(t, res.Rows[0][1])
	}
	waitStored := func(atLeast int64, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for time.Now().Before(deadline) {
			if n, _ := stored(); n >= float64(atLeast) {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
		n, _ := stored()
		t.Fatalf("%v rows stored after %s, want %d", n, within, atLeast)
	}
	exact := func(phase string) {
		t.Helper()
		waitStored(produced.Load(), 2*time.Minute)
		time.Sleep(2 * time.Second) // nothing more may arrive
		rows, ids := stored()
		if rows != float64(produced.Load()) || ids != rows {
			t.Fatalf("%s: %v rows, %v distinct ids, want %d of each", phase, rows, ids, produced.Load())
		}
		t.Logf("%s: %v rows for %d events produced, no duplicates", phase, rows, produced.Load())
	}

	cfg := DefaultConfig()
	cfg.DSN = srv.DSN()
	cfg.BatchRows, cfg.FlushInterval, cfg.RetryMax, cfg.InsertTimeout = 2000, 200*time.Millisecond, 2*time.Second, 5*time.Second
	kcfg := kafka.DefaultConfig("enforcer")
	kcfg.Brokers = brokers

	// Phase 1: the in-process writer, the server killed for 60 s mid-stream.
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.DiscardHandler)
	r := NewRunner(cfg, kcfg, logger, reg)
	rctx, rcancel := context.WithCancel(ctx)
	rdone := make(chan error, 1)
	go func() { rdone <- r.Run(rctx) }()
	stop := make(chan struct{})
	streaming := stream(stop, 50)
	waitStored(1000, time.Minute)
	srv.stop()
	outage := 60 * time.Second
	if s := os.Getenv("MXWARDEN_TEST_OUTAGE"); s != "" {
		outage, _ = time.ParseDuration(s)
	}
	t.Logf("server killed with %d events produced; down for %s", produced.Load(), outage)
	time.Sleep(outage)
	srv.start()
	close(stop)
	<-streaming
	exact("after a " + outage.String() + " server outage")
	if n := testutil.ToFloat64(r.writer.m.retries); n < 1 {
		t.Errorf("retries_total %v, want > 0 after the outage", n)
	}
	rcancel()
	<-rdone

	// Phase 2: the enforcer binary, killed with SIGKILL mid-stream.
	bin := enforcerBinary(t)
	start := func() *exec.Cmd {
		cmd := exec.Command(bin, "run", "--set", "kafka.brokers="+brokers[0], "--set", "policy.addr=", "--set", "maps.dir=",
			"--set", "http.addr=", "--set", "history.dsn="+srv.DSN(), "--set", "history.batch_rows=2000",
			"--set", "history.flush_interval=200ms", "--set", "print_bans=false")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	stop = make(chan struct{})
	streaming = stream(stop, 200)
	for i := 0; i < 3; i++ {
		cmd := start()
		before := produced.Load()
		waitStored(before+500, 2*time.Minute)
		time.Sleep(time.Duration(150+i*170) * time.Millisecond)
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		t.Logf("enforcer killed (SIGKILL) with %d events produced", produced.Load())
	}
	close(stop)
	<-streaming
	cmd := start()
	defer func() { _ = cmd.Process.Signal(syscall.SIGKILL); _ = cmd.Wait() }()
	exact("after three SIGKILLs of the enforcer")
}

// enforcerBinary is $MXWARDEN_BIN_DIR/enforcer (make test sets it), else
// one built here.
func enforcerBinary(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("MXWARDEN_BIN_DIR"); d != "" {
		if _, err := os.Stat(filepath.Join(d, "enforcer")); err == nil {
			return filepath.Join(d, "enforcer")
		}
	}
	out := filepath.Join(t.TempDir(), "enforcer")
	cmd := exec.Command("go", "build", "-o", out, "github.com/mxwarden/mxwarden/services/enforcer")
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("build enforcer: %v", err)
	}
	return out
}
