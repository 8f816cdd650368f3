package detector

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
)

// BenchmarkRecipientStageLatency: the latency the recipient stage adds to
// the stream, in `detector run` with its delivery guarantee on (poll
// transactions, read_committed) over an in-process kfake broker (or the
// real one of MXWARDEN_TEST_KAFKA_BROKERS): from the moment an event's
// outcome record is readable on mail.outcomes (the sender stage's
// transaction committed) to the moment the recipient stage's ban for it
// is readable on mail.bans. Each event mails a distinct SMS gateway (a ban
// on the first message); one sample per iteration, reported as p50/p99.
func BenchmarkRecipientStageLatency(b *testing.B) {
	var brokers []string
	if bs := testBrokersEnv(); bs != nil {
		brokers = bs
	} else {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		brokers = c.ListenAddrs()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := Default()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Partitions = 3
	cfg.Kafka.ReplicationFactor = 1
	p := fmt.Sprintf("lat%d.", time.Now().UnixNano())
	tp := &cfg.Kafka.Topics
	for _, s := range []*string{&tp.Events, &tp.Verdicts, &tp.Bans, &tp.DeadLetter, &tp.Allowlist, &tp.Outcomes, &tp.Queue} {
		*s = p + *s
	}
	cfg.Group = p + "detector"
	cfg.HTTP.Addr = ""
	cfg.DNS.Servers = []string{scenarioDNS(b)}
	n := b.N
	for i := range n {
		cfg.Rules.SMSGateway.Domains = append(cfg.Rules.SMSGateway.Domains, fmt.Sprintf("gw%d.sms-bench.example", i))
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka); err != nil {
		b.Fatal(err)
	}
	svc, err := New(cfg, testLogger(b), prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()
	watch, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.ConsumeTopics(tp.Outcomes, tp.Bans), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	defer watch.Close()
	seenOutcome := map[string]time.Time{}
	var added []time.Duration
	now := time.Now().UTC().Add(-time.Minute)
	b.ResetTimer()
	for i := range n {
		ev := &event.DeliveryEvent{V: 1, ID: fmt.Sprintf("lat:%d", i), TS: now.Add(time.Duration(i) * time.Millisecond), MTA: "postfix",
			Host: "mx1.example.net", Sender: "alerts@monitor.example", Recipient: fmt.Sprintf("555%07d@gw%d.sms-bench.example", i, i),
			Status: event.StatusSent, SASLUser: "monitor"}
		v, _ := event.MarshalEvent(ev)
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: tp.Events, Key: []byte(ev.Account()), Value: v}).FirstErr(); err != nil {
			b.Fatal(err)
		}
		for done := false; !done; {
			fs := watch.PollFetches(ctx)
			at := time.Now()
			fs.EachRecord(func(r *kgo.Record) {
				switch r.Topic {
				case tp.Outcomes:
					var e event.DeliveryEvent
					if event.DecodeOutcome(r.Value, &e) == nil {
						seenOutcome[e.ID] = at
					}
				case tp.Bans:
					bn, err := event.UnmarshalBan(r.Value)
					if err != nil {
						return
					}
					if t0, ok := seenOutcome[bn.LastEventID]; ok {
						added = append(added, at.Sub(t0))
						done = bn.LastEventID == ev.ID
					}
				}
			})
		}
	}
	b.StopTimer()
	cancel()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	slices.Sort(added)
	pct := func(q float64) float64 {
		return float64(added[min(len(added)-1, int(q*float64(len(added))))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(added)), "samples")
}
