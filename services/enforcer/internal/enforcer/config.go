package enforcer

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/history"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/mta"
)

// EnvPrefix prefixes the enforcer's environment variables, e.g.
// MXWARDEN_ENFORCER_POLICY_ADDR sets policy.addr.
const EnvPrefix = "MXWARDEN_ENFORCER_"

// Config is the enforcer's configuration (see pkg/config for the layers).
type Config struct {
	// Log is the logging section (level, format).
	Log config.Log `koanf:"log"`
	// Kafka is the Kafka section; the enforcer reads kafka.topics.bans.
	Kafka kafka.Config `koanf:"kafka"`
	// HTTP serves /metrics, /healthz and /readyz.
	HTTP HTTPConfig `koanf:"http"`
	// Policy is the Postfix policy-delegation server.
	Policy PolicyConfig `koanf:"policy"`
	// Maps are the MTA map files.
	Maps MapsConfig `koanf:"maps"`
	// PrintBans prints every ban that starts or stops being enforced as
	// one line on stdout (see the Printer type). Default true.
	PrintBans bool `koanf:"print_bans"`
	// History writes the topics into ClickHouse (off unless history.path
	// or history.dsn is set); see internal/history.
	History history.Config `koanf:"history"`
}

// HTTPConfig is the metrics and health server.
type HTTPConfig struct {
	// Addr is the listen address; "" disables the server. Default 127.0.0.1:9103.
	Addr string `koanf:"addr"`
}

// PolicyConfig is the policy-delegation server.
type PolicyConfig struct {
	// Addr is the TCP listen address Postfix's check_policy_service
	// connects to; "" disables the server. Default 127.0.0.1:10031.
	Addr string `koanf:"addr"`
	// MaxConns bounds the connections served at once; more wait in the
	// listen backlog. Postfix holds one per smtpd process. Default 512.
	MaxConns int `koanf:"max_conns"`
	// ReadTimeout bounds the wait for a request and the reading of it; an
	// idle connection is closed after it. Default 5m30s, longer than
	// Postfix's smtpd_policy_service_max_idle (300s), so Postfix closes
	// idle connections first.
	ReadTimeout time.Duration `koanf:"read_timeout"`
}

// MapsConfig is the MTA map files. Each file name is relative to Dir; an
// empty name disables that file.
type MapsConfig struct {
	// Dir holds the map files; "" disables every map file. Created at
	// start. Default /var/lib/mxwarden/maps.
	Dir string `koanf:"dir"`
	// PostfixSender is the Postfix access(5) map of sender and
	// sender_domain bans (check_sender_access). Default "sender_access".
	PostfixSender string `koanf:"postfix_sender"`
	// PostfixRecipient is the Postfix access(5) map of recipient and
	// recipient_domain bans (check_recipient_access). Default "recipient_access".
	PostfixRecipient string `koanf:"postfix_recipient"`
	// EximSender is the Exim lsearch file of sender-side bans. Default "exim_sender_bans".
	EximSender string `koanf:"exim_sender"`
	// EximRecipient is the Exim lsearch file of recipient-side bans.
	// Default "exim_recipient_bans".
	EximRecipient string `koanf:"exim_recipient"`
	// Postmap is a command run after each change of a Postfix map, split
	// at white space (no shell), "{path}" replaced by the map's path, e.g.
	// "postmap hash:{path}". Default "" (none: use texthash: tables).
	Postmap string `koanf:"postmap"`
	// Debounce is how long the writer waits after a change before writing,
	// collecting the changes that follow into one write; it bounds the
	// delay from a ban to its map line. 0 writes at once. Default 200ms.
	Debounce time.Duration `koanf:"debounce"`
}

// Default returns the default configuration.
func Default() Config {
	return Config{
		Log:   config.DefaultLog(),
		Kafka: kafka.DefaultConfig("enforcer"),
		HTTP:  HTTPConfig{Addr: "127.0.0.1:9103"},
		Policy: PolicyConfig{
			Addr:        "127.0.0.1:10031",
			MaxConns:    512,
			ReadTimeout: 5*time.Minute + 30*time.Second,
		},
		Maps: MapsConfig{
			Dir:              "/var/lib/mxwarden/maps",
			PostfixSender:    "sender_access",
			PostfixRecipient: "recipient_access",
			EximSender:       "exim_sender_bans",
			EximRecipient:    "exim_recipient_bans",
			Debounce:         200 * time.Millisecond,
		},
		PrintBans: true,
		History:   history.DefaultConfig(),
	}
}

// Validate checks the configuration; the error names every bad key.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Log.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Kafka.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := checkAddr("http.addr", c.HTTP.Addr); err != nil {
		errs = append(errs, err)
	}
	if err := checkAddr("policy.addr", c.Policy.Addr); err != nil {
		errs = append(errs, err)
	}
	if c.Policy.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("policy.max_conns: %d, want >= 1", c.Policy.MaxConns))
	}
	if c.Policy.ReadTimeout <= 0 {
		errs = append(errs, fmt.Errorf("policy.read_timeout: %s, want > 0", c.Policy.ReadTimeout))
	}
	if c.Maps.Debounce < 0 {
		errs = append(errs, fmt.Errorf("maps.debounce: %s, want >= 0", c.Maps.Debounce))
	}
	if _, err := mta.ParseCommand(c.Maps.Postmap); err != nil {
		errs = append(errs, fmt.Errorf("maps.postmap: %w", err))
	}
	if err := c.History.Validate(); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]string{}
	for _, f := range []struct{ key, name string }{
		{"maps.postfix_sender", c.Maps.PostfixSender},
		{"maps.postfix_recipient", c.Maps.PostfixRecipient},
		{"maps.exim_sender", c.Maps.EximSender},
		{"maps.exim_recipient", c.Maps.EximRecipient},
	} {
		if f.name == "" {
			continue
		}
		if f.name != filepath.Base(f.name) || f.name == "." || f.name == ".." || strings.HasPrefix(f.name, ".") {
			errs = append(errs, fmt.Errorf("%s: %q must be a plain file name inside maps.dir", f.key, f.name))
			continue
		}
		if other, ok := seen[f.name]; ok {
			errs = append(errs, fmt.Errorf("%s: %q is also %s", f.key, f.name, other))
		}
		seen[f.name] = f.key
	}
	return errors.Join(errs...)
}

func checkAddr(key, addr string) error {
	if addr == "" {
		return nil
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("%s: %q is not host:port: %w", key, addr, err)
	}
	return nil
}
