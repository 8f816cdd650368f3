package detector

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/detector/internal/ban"
	"github.com/mxwarden/mxwarden/services/detector/internal/dedup"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// EnvPrefix prefixes the detector's environment variables:
// MXWARDEN_DETECTOR_RULES_INVALID_RECIPIENTS_MIN_ATTEMPTS=50 sets
// rules.invalid_recipients.min_attempts.
const EnvPrefix = "MXWARDEN_DETECTOR_"

// Config is the detector's configuration. Load it with
// config.Load(args, environ, EnvPrefix, &cfg) starting from Default().
type Config struct {
	// Log is the logging section (level, format).
	Log config.Log `koanf:"log"`
	// Kafka is the shared Kafka section (brokers, topics, ...).
	Kafka kafka.Config `koanf:"kafka"`
	// HTTP is the metrics and health server.
	HTTP HTTPConfig `koanf:"http"`
	// Group is the consumer group on the events topic. Default "mxwarden-detector".
	Group string `koanf:"group"`
	// TicketURL ends every SMTP-time message: where a blocked sender can
	// dispute it. http or https, at most 200 bytes. Default "https://example.com/tickets".
	TicketURL string `koanf:"ticket_url"`
	// MaxFutureSkew is how far ahead of the wall clock an event's time may
	// be. Later events are rejected (reason "future"), because one event
	// from a host with a wrong clock would otherwise push the watermark
	// ahead and make every later event late. 0 disables the check. Default 15m.
	MaxFutureSkew time.Duration `koanf:"max_future_skew"`
	// Ban shapes the bans made from verdicts: ttl (default 24h) and
	// max_ttl (default 720h).
	Ban ban.Config `koanf:"ban"`
	// Dedup bounds the per-partition memory of processed event ids:
	// max_ids (default 1,000,000; 0 disables deduplication). See DedupSlack.
	Dedup dedup.Config `koanf:"dedup"`
	// State shapes the rules' state: bucket_width (default 5m), the width
	// every window is cut by (see package state), and the changelog.
	State StateConfig `koanf:"state"`
	// Allowlist holds "kind:subject" entries never banned (sender:a@b.example,
	// sender_domain:b.example, account:login, client_ip:192.0.2.1, ...),
	// on top of the mail.allowlist topic's. Default none.
	Allowlist []string `koanf:"allowlist"`
	// Rules has one section per rule.
	Rules rules.Config `koanf:"rules"`
}

// StateConfig is the state section.
type StateConfig struct {
	// BucketWidth is the base bucket width of every windowed slot: windows
	// must be multiples of it, and a window of n widths is kept in at most
	// 12 buckets. Default 5m.
	BucketWidth time.Duration `koanf:"bucket_width"`
	// Topic is the compacted changelog of the state (see README, State);
	// "" derives "<group>.state". It must have as many partitions as the
	// events topic (created so when missing).
	Topic string `koanf:"topic"`
	// InstanceID is the static group membership id (KIP-345) and the tail
	// of the transactional id; "" uses dynamic membership and the host
	// name. A restarted member with the same id gets its partitions back
	// without a rebalance and fences its predecessor's open transaction at
	// once. Give each detector its own (a StatefulSet's pod name). Default "".
	InstanceID string `koanf:"instance_id"`
}

// StateTopic is the changelog topic's name.
func (c Config) StateTopic() string {
	if c.State.Topic != "" {
		return c.State.Topic
	}
	return c.Group + ".state"
}

// HTTPConfig is the metrics and health server's section.
type HTTPConfig struct {
	// Addr is host:port for /metrics, /healthz and /readyz; "" disables
	// the server. Default "127.0.0.1:9102".
	Addr string `koanf:"addr"`
}

// MaxTicketURLLen bounds ticket_url so every message fits in one SMTP reply.
const MaxTicketURLLen = 200

// Default returns the defaults.
func Default() Config {
	return Config{
		Log:           config.DefaultLog(),
		Kafka:         kafka.DefaultConfig("detector"),
		HTTP:          HTTPConfig{Addr: "127.0.0.1:9102"},
		Group:         "mxwarden-detector",
		TicketURL:     "https://example.com/tickets",
		MaxFutureSkew: 15 * time.Minute,
		Ban:           ban.DefaultConfig(),
		Dedup:         dedup.DefaultConfig(),
		State:         StateConfig{BucketWidth: 5 * time.Minute},
		Rules:         rules.DefaultConfig(),
	}
}

// Validate checks every section and reports all problems at once.
func (c Config) Validate() error {
	var errs []error
	add := func(section string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", section, err))
		}
	}
	if err := c.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.HTTP.Addr != "" {
		if _, _, err := net.SplitHostPort(c.HTTP.Addr); err != nil {
			add("http.addr", err)
		}
	}
	if c.Group == "" {
		errs = append(errs, errors.New("group: must not be empty"))
	} else if err := event.CheckToken(c.Group); err != nil {
		add("group", err)
	}
	add("ticket_url", checkTicketURL(c.TicketURL))
	if c.MaxFutureSkew < 0 {
		errs = append(errs, fmt.Errorf("max_future_skew %s: must not be negative", c.MaxFutureSkew))
	}
	add("ban", c.Ban.Validate())
	add("dedup", c.Dedup.Validate())
	if c.State.BucketWidth < state.MinWidth {
		errs = append(errs, fmt.Errorf("state.bucket_width %s: must be at least %s", c.State.BucketWidth, state.MinWidth))
	} else if err := c.Rules.Check(c.TicketURL, c.State.BucketWidth); err != nil {
		// Building every rule checks what only the assembled configuration
		// shows, like a message too long for an SMTP reply.
		errs = append(errs, err)
	}
	if c.State.Topic != "" {
		add("state.topic", event.CheckToken(c.State.Topic))
	}
	if c.State.InstanceID != "" {
		add("state.instance_id", event.CheckToken(c.State.InstanceID))
	}
	if _, err := NewAllow(c.Allowlist); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func checkTicketURL(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if len(s) > MaxTicketURLLen {
		return fmt.Errorf("%d bytes, more than %d", len(s), MaxTicketURLLen)
	}
	if err := event.CheckToken(s); err != nil {
		return err
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http or https URL", s)
	}
	if u.Host == "" || strings.HasPrefix(u.Host, ":") {
		return fmt.Errorf("%q: no host", s)
	}
	return nil
}
