package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/kafka"
)

// Config is the ingest service's configuration. Env prefix MXWARDEN_INGEST_.
type Config struct {
	Log   config.Log   `koanf:"log"`
	Kafka kafka.Config `koanf:"kafka"`
	HTTP  struct {
		// Addr serves /metrics, /healthz, /readyz. Default 127.0.0.1:9101; "" disables.
		Addr string `koanf:"addr"`
	} `koanf:"http"`
	Source Source `koanf:"source"`
}

// Source configures what ingest reads.
type Source struct {
	// File is the MTA log file to follow (tail -F). Required for run.
	File string `koanf:"file"`
	// Format is postfix or exim. Default postfix.
	Format string `koanf:"format"`
	// Host names the MTA host when the log lines do not (Exim mainlog,
	// maillog_file). Default: this machine's host name.
	Host string `koanf:"host"`
	// CheckpointFile keeps the read position, saved only after Kafka
	// acknowledged every event of the lines before it.
	// Default /var/lib/mxwarden/ingest.checkpoint.
	CheckpointFile string `koanf:"checkpoint_file"`
	// MaxLine is the longest line kept, in bytes; longer lines are cut and
	// counted as truncated. Default 16384.
	MaxLine int `koanf:"max_line"`
	// Poll is how often the file is checked for new lines and rotation. Default 100ms.
	Poll time.Duration `koanf:"poll"`
	// Batch is the most lines read before the produced events are flushed
	// and the checkpoint saved. Default 10000.
	Batch int `koanf:"batch"`
	// PendingTTL is how long (in event time) a half-joined message waits
	// for its delivery lines before it is emitted with what is known. Default 24h.
	PendingTTL time.Duration `koanf:"pending_ttl"`
}

// Default returns the defaults.
func Default() Config {
	var c Config
	c.Log = config.DefaultLog()
	c.Kafka = kafka.DefaultConfig("ingest")
	c.HTTP.Addr = "127.0.0.1:9101"
	c.Source = Source{
		Format:         "postfix",
		CheckpointFile: "/var/lib/mxwarden/ingest.checkpoint",
		MaxLine:        16 << 10,
		Poll:           100 * time.Millisecond,
		Batch:          10000,
		PendingTTL:     24 * time.Hour,
	}
	return c
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.Log.Validate(); err != nil {
		return err
	}
	if err := c.Kafka.Validate(); err != nil {
		return err
	}
	s := c.Source
	if s.Format != "postfix" && s.Format != "exim" {
		return fmt.Errorf("source.format %q: want postfix or exim", s.Format)
	}
	if s.MaxLine < 256 {
		return fmt.Errorf("source.max_line %d: want at least 256", s.MaxLine)
	}
	if s.Poll <= 0 || s.Batch <= 0 || s.PendingTTL <= 0 {
		return errors.New("source.poll, source.batch and source.pending_ttl must be positive")
	}
	return nil
}
