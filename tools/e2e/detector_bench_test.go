package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
)

// BenchmarkDetectorReplayProcess runs `detector replay --bans` as a process
// over a file of 1M events (JSON lines, 100 senders, 2.5 h of traffic per
// 30k events): the whole process, decoding included. One sample per
// iteration; events/s is wall time, events/cpu-s the process's CPU time.
func BenchmarkDetectorReplayProcess(b *testing.B) {
	bin := filepath.Join(testbin.Dir(b), "detector")
	_, vals := restartEvents(1_000_000)
	path := filepath.Join(b.TempDir(), "events.jsonl")
	if err := os.WriteFile(path, append(bytes.Join(vals, []byte("\n")), '\n'), 0o644); err != nil {
		b.Fatal(err)
	}
	var wall, cpu time.Duration
	for b.Loop() {
		cmd := exec.Command(bin, "replay", "--bans", path)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = nil, &stderr
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("replay: %v\n%s", err, stderr.String())
		}
		wall += time.Since(start)
		cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	n := float64(len(vals) * b.N)
	b.ReportMetric(n/wall.Seconds(), "events/s")
	b.ReportMetric(n/cpu.Seconds(), "events/cpu-s")
}

// BenchmarkDetectorService measures `detector run` end to end with its
// delivery guarantee on (one transaction per poll holding verdicts, bans,
// the state changelog and the offsets) against the broker in
// MXWARDEN_TEST_KAFKA_BROKERS: 300k events are in mail.events (6
// partitions) before the detector starts; the rate is counted from its
// first commit to the commit of the last offset.
func BenchmarkDetectorService(b *testing.B) {
	brokers := os.Getenv("MXWARDEN_TEST_KAFKA_BROKERS")
	if brokers == "" {
		b.Skip("no real Kafka broker (MXWARDEN_TEST_KAFKA_BROKERS)")
	}
	bin := filepath.Join(testbin.Dir(b), "detector")
	keys, vals := restartEvents(300_000)
	var rate float64
	for b.Loop() {
		run := fmt.Sprintf("bench%d", rand.Uint32())
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ProducerLinger(20*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		adm := kadm.NewClient(cl)
		events := run + ".events"
		if _, err := adm.CreateTopic(ctx, 6, -1, nil, events); err != nil {
			b.Fatal(err)
		}
		recs := make([]*kgo.Record, len(vals))
		for i := range vals {
			recs[i] = &kgo.Record{Topic: events, Key: []byte(keys[i]), Value: vals[i]}
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			b.Fatal(err)
		}
		args := []string{"run", "--set", "kafka.brokers=" + brokers, "--set", "kafka.partitions=6", "--set", "http.addr=",
			"--set", "group=" + run + ".detector", "--set", "log.level=warn", "--set", "state.instance_id=bench"}
		for _, k := range []string{"events", "verdicts", "bans", "dead_letter", "allowlist", "outcomes", "queue"} {
			args = append(args, "--set", "kafka.topics."+k+"="+run+"."+k)
		}
		p := startDetector(b, bin, filepath.Join(b.TempDir(), "detector.log"), args)
		group := run + ".detector"
		var t0 time.Time
		var c0 int64
		for {
			c, e := progressAndEnd(ctx, b, adm, group, events)
			if c > 0 && t0.IsZero() {
				t0, c0 = time.Now(), c
			}
			if c == e {
				rate = float64(e-c0) / time.Since(t0).Seconds()
				break
			}
			if ctx.Err() != nil {
				b.Fatal("the detector did not catch up")
			}
			time.Sleep(20 * time.Millisecond)
		}
		p.stop(b)
		cl.Close()
		cancel()
	}
	b.ReportMetric(rate, "events/s")
}
