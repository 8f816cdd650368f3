package history

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"
)

// Config is the enforcer's history section (history.*). History is off
// unless Path or DSN is set.
type Config struct {
	// Path is the embedded store's data directory (chDB). One process at a
	// time may open it. Default "" (no embedded store).
	Path string `koanf:"path"`
	// DSN names a ClickHouse server instead, native protocol, e.g.
	// clickhouse://user:pass@ch1:9000/mxwarden?dial_timeout=5s. Wins over
	// Path. Default "".
	DSN string `koanf:"dsn"`
	// Database holds the tables (created by the migrations). With a DSN
	// its path names the database instead. Default "mxwarden".
	Database string `koanf:"database"`
	// Group is the writer's Kafka consumer group, separate from everything
	// enforcement reads, so a ClickHouse outage only grows this group's
	// lag. Default "mxwarden-enforcer-history".
	Group string `koanf:"group"`
	// BatchRows flushes once this many rows are buffered. Default 50000.
	BatchRows int `koanf:"batch_rows"`
	// BatchBytes flushes once the buffered records hold this many bytes
	// (JSON size). Default 16 MiB.
	BatchBytes int `koanf:"batch_bytes"`
	// FlushInterval flushes rows at most this long after the first of
	// them arrived. Default 1s.
	FlushInterval time.Duration `koanf:"flush_interval"`
	// InsertTimeout bounds one INSERT. Default 30s.
	InsertTimeout time.Duration `koanf:"insert_timeout"`
	// RetryMin and RetryMax bound the exponential backoff between failed
	// inserts while ClickHouse is unreachable. Defaults 250ms and 30s.
	RetryMin time.Duration `koanf:"retry_min"`
	RetryMax time.Duration `koanf:"retry_max"`
	// QueryTimeout bounds one analyst query (max_execution_time). Default 60s.
	QueryTimeout time.Duration `koanf:"query_timeout"`
	// QueryMaxRows bounds the rows one analyst query returns. Default 100000.
	QueryMaxRows int `koanf:"query_max_rows"`
	// TTL is how long each table keeps rows (by their event time).
	TTL TTLConfig `koanf:"ttl"`
}

// TTLConfig holds the retention per table, whole days. 0 keeps rows
// forever. ClickHouse 18.16 has no TTL: there it is ignored with a warning.
type TTLConfig struct {
	Events           time.Duration `koanf:"events"`            // default 90 days (2160h)
	Verdicts         time.Duration `koanf:"verdicts"`          // default 400 days
	Bans             time.Duration `koanf:"bans"`              // default 0: forever
	QueueSamples     time.Duration `koanf:"queue_samples"`     // default 30 days
	AllowlistChanges time.Duration `koanf:"allowlist_changes"` // default 0: forever
	Rollups          time.Duration `koanf:"rollups"`           // default 400 days
}

const day = 24 * time.Hour

// DefaultConfig returns the defaults (history off).
func DefaultConfig() Config {
	return Config{
		Database:      "mxwarden",
		Group:         "mxwarden-enforcer-history",
		BatchRows:     50000,
		BatchBytes:    16 << 20,
		FlushInterval: time.Second,
		InsertTimeout: 30 * time.Second,
		RetryMin:      250 * time.Millisecond,
		RetryMax:      30 * time.Second,
		QueryTimeout:  60 * time.Second,
		QueryMaxRows:  100000,
		TTL: TTLConfig{
			Events:       90 * day,
			Verdicts:     400 * day,
			QueueSamples: 30 * day,
			Rollups:      400 * day,
		},
	}
}

// Enabled reports whether a store is configured.
func (c *Config) Enabled() bool { return c.Path != "" || c.DSN != "" }

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// Validate checks the section; errors name the key.
func (c *Config) Validate() error {
	var errs []error
	if !identRe.MatchString(c.Database) {
		errs = append(errs, fmt.Errorf("history.database: %q is not a plain identifier", c.Database))
	}
	if c.DSN != "" {
		if u, err := url.Parse(c.DSN); err != nil || u.Scheme != "clickhouse" && u.Scheme != "tcp" {
			errs = append(errs, fmt.Errorf("history.dsn: want clickhouse://host:9000/db"))
		}
	}
	if c.Path != "" && c.DSN == "" && !EmbeddedAvailable {
		errs = append(errs, fmt.Errorf("history.path: %w", ErrNoEmbedded))
	}
	if c.Group == "" {
		errs = append(errs, errors.New("history.group: empty"))
	}
	if c.BatchRows < 1 {
		errs = append(errs, fmt.Errorf("history.batch_rows: %d, want >= 1", c.BatchRows))
	}
	if c.BatchBytes < 1 {
		errs = append(errs, fmt.Errorf("history.batch_bytes: %d, want >= 1", c.BatchBytes))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"flush_interval", c.FlushInterval}, {"insert_timeout", c.InsertTimeout}, {"retry_min", c.RetryMin},
		{"retry_max", c.RetryMax}, {"query_timeout", c.QueryTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("history.%s: %s, want > 0", d.key, d.v))
		}
	}
	if c.RetryMax < c.RetryMin {
		errs = append(errs, fmt.Errorf("history.retry_max: %s < retry_min %s", c.RetryMax, c.RetryMin))
	}
	if c.QueryMaxRows < 1 {
		errs = append(errs, fmt.Errorf("history.query_max_rows: %d, want >= 1", c.QueryMaxRows))
	}
	for _, t := range []struct {
		key string
		v   time.Duration
	}{{"events", c.TTL.Events}, {"verdicts", c.TTL.Verdicts}, {"bans", c.TTL.Bans},
		{"queue_samples", c.TTL.QueueSamples}, {"allowlist_changes", c.TTL.AllowlistChanges}, {"rollups", c.TTL.Rollups}} {
		if t.v < 0 || t.v%day != 0 {
			errs = append(errs, fmt.Errorf("history.ttl.%s: %s, want whole days (a multiple of 24h) >= 0", t.key, t.v))
		}
	}
	return errors.Join(errs...)
}
