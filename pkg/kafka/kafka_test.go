package kafka

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestEnsureTopics(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := DefaultConfig("test")
	cfg.Brokers = c.ListenAddrs()
	cfg.Partitions = 3
	opts, err := BuildOpts(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := WaitReady(ctx, cl); err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second run finds them all existing
		if err := EnsureTopics(ctx, cl, cfg); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	td, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mail.events", "mail.verdicts", "mail.bans", "mail.deadletter"} {
		if !td.Has(name) || len(td[name].Partitions) != 3 {
			t.Errorf("topic %s missing or not 3 partitions", name)
		}
	}
	rc, err := adm.DescribeTopicConfigs(ctx, "mail.bans")
	if err != nil {
		t.Fatal(err)
	}
	r, err := rc.On("mail.bans", nil)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range r.Configs {
		if c.Key == "cleanup.policy" && c.MaybeValue() == "compact" {
			found = true
		}
	}
	if !found {
		t.Error("mail.bans is not compacted")
	}
}

func TestValidate(t *testing.T) {
	cfg := DefaultConfig("x")
	cfg.Brokers = []string{"nohost"}
	if cfg.Validate() == nil {
		t.Error("broker without port accepted")
	}
	cfg = DefaultConfig("x")
	cfg.Topics.Bans = ""
	if cfg.Validate() == nil {
		t.Error("empty topic accepted")
	}
}
