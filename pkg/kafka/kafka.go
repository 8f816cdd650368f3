// Package kafka holds the franz-go plumbing the services share: client
// options from configuration, topic bootstrap with kadm, and client metrics.
package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"github.com/twmb/franz-go/plugin/kslog"
)

// Topics names the topics of the flow (see DESIGN.md).
type Topics struct {
	// Events carries DeliveryEvents keyed by account. Default "mail.events".
	Events string `koanf:"events"`
	// Verdicts carries every Verdict keyed by subject. Default "mail.verdicts".
	Verdicts string `koanf:"verdicts"`
	// Bans is the compacted ban set keyed by "<kind>:<subject>". Default "mail.bans".
	Bans string `koanf:"bans"`
	// DeadLetter receives lines and records that could not be processed,
	// raw, with the reason in a header. Default "mail.deadletter".
	DeadLetter string `koanf:"dead_letter"`
	// Allowlist is the compacted allowlist keyed like Bans ("<kind>:<subject>"),
	// written by the enforcer's API and honoured by the detector and the
	// enforcer; a tombstone removes an entry. Default "mail.allowlist".
	Allowlist string `koanf:"allowlist"`
	// Outcomes carries the detector's slim per-delivery outcome records, keyed
	// by recipient domain, from its sender stage to its recipient stage.
	// Default "mail.outcomes".
	Outcomes string `koanf:"outcomes"`
	// Queue carries MTA queue samples keyed by host. Default "mail.queue".
	Queue string `koanf:"queue"`
	// Disputes carries the abuse desk's dispute records (event.Dispute),
	// compacted, keyed by dispute id: the latest record says whether it is
	// open. Default "mail.disputes".
	Disputes string `koanf:"disputes"`
}

// Config is the Kafka section every service shares.
type Config struct {
	// Brokers are the seed brokers, host:port. Default 127.0.0.1:9092.
	Brokers []string `koanf:"brokers"`
	// ClientID is sent to the brokers; default "mxwarden-<service>".
	ClientID string `koanf:"client_id"`
	// Topics names the topics.
	Topics Topics `koanf:"topics"`
	// CreateTopics makes the service create missing topics at start.
	// Default true; turn off where topics are managed (Strimzi KafkaTopic).
	CreateTopics bool `koanf:"create_topics"`
	// Partitions for created topics. Default 6.
	Partitions int32 `koanf:"partitions"`
	// ReplicationFactor for created topics; -1 takes the broker default. Default -1.
	ReplicationFactor int16 `koanf:"replication_factor"`
	// DialTimeout bounds one connection attempt. Default 10s.
	DialTimeout time.Duration `koanf:"dial_timeout"`
}

// DefaultConfig returns the defaults for service (used in the client id).
func DefaultConfig(service string) Config {
	return Config{
		Brokers:  []string{"127.0.0.1:9092"},
		ClientID: "mxwarden-" + service,
		Topics: Topics{
			Events:     "mail.events",
			Verdicts:   "mail.verdicts",
			Bans:       "mail.bans",
			DeadLetter: "mail.deadletter",
			Queue:      "mail.queue",
			Allowlist:  "mail.allowlist",
			Outcomes:   "mail.outcomes",
			Disputes:   "mail.disputes",
		},
		CreateTopics:      true,
		Partitions:        6,
		ReplicationFactor: -1,
		DialTimeout:       10 * time.Second,
	}
}

// Validate checks the section.
func (c Config) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("kafka.brokers: need at least one broker")
	}
	for _, b := range c.Brokers {
		if !strings.Contains(b, ":") {
			return fmt.Errorf("kafka.brokers: %q is not host:port", b)
		}
	}
	t := c.Topics
	if t.Events == "" || t.Verdicts == "" || t.Bans == "" || t.DeadLetter == "" || t.Queue == "" ||
		t.Allowlist == "" || t.Outcomes == "" {
		return errors.New("kafka.topics: every topic needs a name")
	}
	if t.Disputes == "" {
		return errors.New("kafka.topics.disputes: needs a name")
	}
	if c.Partitions < 1 {
		return fmt.Errorf("kafka.partitions: %d < 1", c.Partitions)
	}
	return nil
}

// BuildOpts returns the client options every role shares. Callers append
// their role's options (consumer group, producer settings).
func BuildOpts(cfg Config, logger *slog.Logger) ([]kgo.Opt, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts := []kgo.Opt{
		kgo.SeedBrokers(cfg.Brokers...),
		kgo.ClientID(cfg.ClientID),
		kgo.DialTimeout(cfg.DialTimeout),
		kgo.WithLogger(kslog.New(logger.With("component", "kafka"))),
	}
	return opts, nil
}

// Metrics returns the kprom hook that exports the client's metrics into reg
// under the given namespace (e.g. "mxwarden_ingest").
func Metrics(reg prometheus.Registerer, namespace string) kgo.Opt {
	m := kprom.NewMetrics(namespace, kprom.Registerer(reg))
	return kgo.WithHooks(m)
}

// EnsureTopics creates the flow's topics when missing. The bans and
// allowlist topics are compacted (one record per subject, tombstones lift bans). It is a no-op
// when cfg.CreateTopics is false. Topics that already exist are left as they are.
func EnsureTopics(ctx context.Context, cl *kgo.Client, cfg Config) error {
	if !cfg.CreateTopics {
		return nil
	}
	adm := kadm.NewClient(cl)
	compact := "compact"
	specs := []struct {
		name    string
		configs map[string]*string
	}{
		{cfg.Topics.Events, nil},
		{cfg.Topics.Verdicts, nil},
		{cfg.Topics.DeadLetter, nil},
		{cfg.Topics.Queue, nil},
		{cfg.Topics.Outcomes, nil},
		{cfg.Topics.Bans, map[string]*string{"cleanup.policy": &compact}},
		{cfg.Topics.Allowlist, map[string]*string{"cleanup.policy": &compact}},
		{cfg.Topics.Disputes, map[string]*string{"cleanup.policy": &compact}},
	}
	for _, s := range specs {
		resp, err := adm.CreateTopic(ctx, cfg.Partitions, cfg.ReplicationFactor, s.configs, s.name)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("create topic %s: %w", s.name, err)
		}
	}
	return nil
}

// WaitReady blocks until the cluster answers a metadata request or ctx ends,
// so services started before their broker wait instead of failing.
func WaitReady(ctx context.Context, cl *kgo.Client) error {
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := cl.Ping(pctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for kafka: %w (last error: %w)", ctx.Err(), err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
