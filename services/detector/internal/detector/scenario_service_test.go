package detector

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/kafka"
)

// TestScenariosService runs every scenario of every rule through the
// service (`detector run`, exactly-once transactions, 3 partitions keyed by
// account as ingest keys them) against an in-process kfake broker, with the
// case's config.yaml: the committed verdicts are the replay's goldens, byte
// for byte (in another order: partitions interleave).
func TestScenariosService(t *testing.T) {
	for _, dir := range scenarioDirs(t) {
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(dir, "verdicts.golden.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			got := runScenarioService(t, dir)
			t.Logf("%d verdicts committed", len(got))
			w := lines(want)
			slices.SortFunc(w, bytes.Compare)
			slices.SortFunc(got, bytes.Compare)
			if !slices.EqualFunc(got, w, bytes.Equal) {
				t.Fatalf("service verdicts differ from replay's goldens:\n%s", lineDiff(bytes.Join(w, []byte("\n")), bytes.Join(got, []byte("\n"))))
			}
		})
	}
}

// runScenarioService produces dir's events, runs the service until every
// offset is committed, and returns the committed verdicts.
func runScenarioService(t *testing.T, dir string) [][]byte {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := scenarioConfig(t, dir)
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Partitions = 3
	cfg.HTTP.Addr = ""
	svc, err := New(cfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	svc.now = fixedNow
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, eventRecords(t, cfg.Kafka.Topics.Events, filepath.Join(dir, "events.jsonl"))...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	waitCommitted(ctx, t, kadm.NewClient(cl), cfg)
	var out [][]byte
	for _, r := range readCommitted(ctx, t, cfg.Kafka.Brokers, cfg.Kafka.Topics.Verdicts) {
		out = append(out, r.Value)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, context.Canceled) && !strings.Contains(err.Error(), "context canceled") {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	return out
}
