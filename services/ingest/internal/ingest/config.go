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
	Syslog Syslog `koanf:"syslog"`
	Queue  Queue  `koanf:"queue"`
}

// Syslog configures the syslog listener (RFC 3164 and RFC 5424 messages;
// TCP with octet counting or newline framing). Both empty: no listener.
type Syslog struct {
	// UDP is the listen address for UDP syslog, e.g. "127.0.0.1:5514". Default "".
	UDP string `koanf:"udp"`
	// TCP is the listen address for TCP syslog. Default "".
	TCP string `koanf:"tcp"`
	// MaxConns bounds concurrent TCP connections. Default 256.
	MaxConns int `koanf:"max_conns"`
}

// Queue configures the MTA queue sampler.
type Queue struct {
	// Command samples the queue, e.g. "postqueue -j" (Postfix) or
	// "exim -bpc" (Exim); split on spaces. Default "": no sampling.
	Command string `koanf:"command"`
	// Format of its output: postfix-json or count. Default postfix-json.
	Format string `koanf:"format"`
	// Interval between samples. Default 30s.
	Interval time.Duration `koanf:"interval"`
}

// Source configures what ingest reads.
type Source struct {
	// File is the MTA log file to follow (tail -F). Default "": none (then
	// syslog.udp, syslog.tcp or stdin must be set).
	File string `koanf:"file"`
	// Backfill lists rotated files (plain or .gz), oldest first, read once
	// before File when there is no checkpoint yet (the first start).
	Backfill []string `koanf:"backfill"`
	// Stdin reads lines from standard input until it ends. Default false.
	Stdin bool `koanf:"stdin"`
	// Format is auto (Postfix and Exim lines told apart per line, so a
	// shared syslog file with both works), postfix or exim (lines of the
	// other MTA are then counted as unknown_program). Default auto.
	Format string `koanf:"format"`
	// Host names the MTA host when the log lines do not (Exim mainlog,
	// maillog_file). Default: this machine's host name.
	Host string `koanf:"host"`
	// CheckpointFile keeps the read position, saved only after Kafka
	// acknowledged every event of the lines before it.
	// Default /var/lib/mxwarden/ingest.checkpoint.
	CheckpointFile string `koanf:"checkpoint_file"`
	// CheckpointInterval is the least time between two checkpoint saves.
	// A save writes the join state too, so on a host with many messages in
	// flight it is not free; lines after the last save are read again after
	// a crash (their events keep their ids). Default 1s.
	CheckpointInterval time.Duration `koanf:"checkpoint_interval"`
	// MaxLine is the longest line kept, in bytes; longer lines are cut and
	// counted as truncated. Default 16384.
	MaxLine int `koanf:"max_line"`
	// Poll is how often the file is checked for new lines and rotation
	// when it has none (three syscalls each). It bounds the latency a line
	// waits before it is read. Default 20ms.
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
		Format:             "auto",
		CheckpointFile:     "/var/lib/mxwarden/ingest.checkpoint",
		CheckpointInterval: time.Second,
		MaxLine:            16 << 10,
		Poll:               20 * time.Millisecond,
		Batch:              10000,
		PendingTTL:         24 * time.Hour,
	}
	c.Syslog.MaxConns = 256
	c.Queue = Queue{Format: "postfix-json", Interval: 30 * time.Second}
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
	if _, err := parseFormat(s.Format); err != nil {
		return fmt.Errorf("source.%w", err)
	}
	if s.MaxLine < 256 {
		return fmt.Errorf("source.max_line %d: want at least 256", s.MaxLine)
	}
	if s.Poll <= 0 || s.Batch <= 0 || s.PendingTTL <= 0 || s.CheckpointInterval < 0 {
		return errors.New("source.poll, source.batch and source.pending_ttl must be positive, source.checkpoint_interval not negative")
	}
	if s.File == "" && !s.Stdin && c.Syslog.UDP == "" && c.Syslog.TCP == "" {
		return errors.New("nothing to read: set source.file, source.stdin, syslog.udp or syslog.tcp")
	}
	if len(s.Backfill) > 0 && s.File == "" {
		return errors.New("source.backfill needs source.file")
	}
	if c.Queue.Command != "" {
		if c.Queue.Format != "postfix-json" && c.Queue.Format != "count" {
			return fmt.Errorf("queue.format %q: want postfix-json or count", c.Queue.Format)
		}
		if c.Queue.Interval < time.Second {
			return fmt.Errorf("queue.interval %s: want at least 1s", c.Queue.Interval)
		}
	}
	return nil
}
