package enforcer

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/desk"
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
	// Mode is "server" (default: every output, the operator API and the
	// rspamd map) or "agent" (an MTA host: only the map files and the
	// policy server, fed from Kafka; no API, no rspamd map, no history).
	Mode string `koanf:"mode"`
	// State is the local copy of the ban set.
	State StateConfig `koanf:"state"`
	// API is the operator API, served on http.addr under /api/v1/.
	API APIConfig `koanf:"api"`
	// Rspamd is the HTTP map for rspamd's multimap, on http.addr under /rspamd/.
	Rspamd RspamdConfig `koanf:"rspamd"`
	// Desk is the abuse desk, on its own listen address (server mode only).
	Desk desk.Config `koanf:"desk"`
}

// Modes.
const (
	ModeServer = "server"
	ModeAgent  = "agent"
)

// StateConfig is the last known ban set on local disk.
type StateConfig struct {
	// Dir holds the snapshot file (banset.snapshot); "" keeps nothing on
	// disk (a restart then waits for Kafka). Default /var/lib/mxwarden/enforcer.
	Dir string `koanf:"dir"`
	// SnapshotInterval is the most often the snapshot is rewritten after
	// changes; it is also written at shutdown. Default 10s.
	SnapshotInterval time.Duration `koanf:"snapshot_interval"`
}

// APIConfig is the operator API. It is enabled when at least one token is
// configured (tokens or tokens_file).
type APIConfig struct {
	// Tokens are the bearer tokens: name, role (read or admin), token.
	Tokens []api.Token `koanf:"tokens"`
	// TokensFile is a file of "<name> <role> <secret>" lines, read at
	// start, in addition to Tokens. Default "".
	TokensFile string `koanf:"tokens_file"`
	// ProduceTimeout bounds the wait for Kafka to acknowledge a change;
	// past it the change is refused with 503. Default 10s.
	ProduceTimeout time.Duration `koanf:"produce_timeout"`
}

// RspamdConfig is the rspamd HTTP map.
type RspamdConfig struct {
	// Enabled serves /rspamd/from, /rspamd/rcpt, /rspamd/ip and
	// /rspamd/user (server mode only). Default true.
	Enabled bool `koanf:"enabled"`
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
	// Unix is a unix-domain socket path to serve as well (Postfix:
	// check_policy_service unix:private/mxwarden with the socket in the
	// queue directory's private/); "" serves none. Default "".
	Unix string `koanf:"unix"`
	// UnixMode is the socket's permission bits, octal. Default "0666".
	UnixMode string `koanf:"unix_mode"`
	// Deadline bounds the time from a request's last line to its answer;
	// a lookup that would take longer is answered with DefaultAction.
	// Keep it well below Postfix's timeout=. Default 100ms.
	Deadline time.Duration `koanf:"deadline"`
	// DefaultAction answers a request past its deadline. Default "DUNNO".
	DefaultAction string `koanf:"default_action"`
}

// MapsConfig is the MTA map files. Each file name is relative to Dir, or
// an absolute path (/etc/exim/spam_senders); an empty name disables that
// file.
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
	// PostfixReload is a command run (split at white space, no shell) after
	// a write changed a Postfix map, e.g. "postfix reload": Postfix reads
	// texthash: tables only when a daemon starts, so with texthash the
	// running smtpd processes keep the old bans until a reload. hash: and
	// lmdb: tables (maps.postmap) are noticed without one. Default "".
	PostfixReload string `koanf:"postfix_reload"`
	// EximSenderList is the Exim address list of sender-side bans for
	// DirectAdmin-style ACLs: senders = nwildlsearch*@;<path>. A domain ban
	// is written "*@domain". Default "spam_senders".
	EximSenderList string `koanf:"exim_sender_list"`
	// EximRecipientList is the same for recipient-side bans, without the
	// over-quota rules: recipients = nwildlsearch*@;<path>. Default "spam_recipients".
	EximRecipientList string `koanf:"exim_recipient_list"`
	// EximOverquotaList is the separate list of recipient bans of the
	// OverquotaRules. Default "overquota_recipients".
	EximOverquotaList string `koanf:"exim_overquota_list"`
	// OverquotaRules are the rules whose recipient bans go to the
	// over-quota list instead of the recipient list. Default [mailbox_full].
	OverquotaRules []string `koanf:"overquota_rules"`
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
			Addr:          "127.0.0.1:10031",
			MaxConns:      512,
			ReadTimeout:   5*time.Minute + 30*time.Second,
			UnixMode:      "0666",
			Deadline:      100 * time.Millisecond,
			DefaultAction: "DUNNO",
		},
		Maps: MapsConfig{
			Dir:               "/var/lib/mxwarden/maps",
			PostfixSender:     "sender_access",
			PostfixRecipient:  "recipient_access",
			EximSender:        "exim_sender_bans",
			EximRecipient:     "exim_recipient_bans",
			PostfixReload:     "",
			EximSenderList:    "spam_senders",
			EximRecipientList: "spam_recipients",
			EximOverquotaList: "overquota_recipients",
			OverquotaRules:    []string{"mailbox_full"},
			Debounce:          200 * time.Millisecond,
		},
		PrintBans: true,
		History:   history.DefaultConfig(),
		Mode:      ModeServer,
		State:     StateConfig{Dir: "/var/lib/mxwarden/enforcer", SnapshotInterval: 10 * time.Second},
		API:       APIConfig{Tokens: []api.Token{}, ProduceTimeout: 10 * time.Second},
		Rspamd:    RspamdConfig{Enabled: true},
		Desk:      desk.DefaultConfig(),
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
	if c.Policy.Deadline <= 0 {
		errs = append(errs, fmt.Errorf("policy.deadline: %s, want > 0", c.Policy.Deadline))
	}
	if m, err := strconv.ParseUint(c.Policy.UnixMode, 8, 32); err != nil || m > 0o777 {
		errs = append(errs, fmt.Errorf("policy.unix_mode: %q, want octal permission bits such as 0660", c.Policy.UnixMode))
	}
	if a := strings.ToUpper(strings.TrimSpace(c.Policy.DefaultAction)); a != "DUNNO" && a != "DEFER_IF_PERMIT" && a != "PERMIT" && a != "OK" {
		errs = append(errs, fmt.Errorf("policy.default_action: %q, want DUNNO or DEFER_IF_PERMIT", c.Policy.DefaultAction))
	}
	if c.Mode != ModeServer && c.Mode != ModeAgent {
		errs = append(errs, fmt.Errorf("mode: %q, want server or agent", c.Mode))
	}
	if c.State.SnapshotInterval <= 0 {
		errs = append(errs, fmt.Errorf("state.snapshot_interval: %s, want > 0", c.State.SnapshotInterval))
	}
	if c.API.ProduceTimeout <= 0 {
		errs = append(errs, fmt.Errorf("api.produce_timeout: %s, want > 0", c.API.ProduceTimeout))
	}
	for i, t := range c.API.Tokens {
		if err := t.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("api.tokens[%d]: %w", i, err))
		}
	}
	if (len(c.API.Tokens) > 0 || c.API.TokensFile != "") && c.Mode == ModeAgent {
		errs = append(errs, errors.New("api: agent mode serves no operator API; remove api.tokens and api.tokens_file"))
	}
	if (len(c.API.Tokens) > 0 || c.API.TokensFile != "") && c.HTTP.Addr == "" {
		errs = append(errs, errors.New("api: the operator API is served on http.addr, which is empty"))
	}
	errs = append(errs, c.validateDesk())
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
		{"maps.exim_sender_list", c.Maps.EximSenderList},
		{"maps.exim_recipient_list", c.Maps.EximRecipientList},
		{"maps.exim_overquota_list", c.Maps.EximOverquotaList},
	} {
		if f.name == "" {
			continue
		}
		path := c.Maps.Path(f.name)
		base := filepath.Base(path)
		if !filepath.IsAbs(f.name) && f.name != base || base == "." || base == ".." || strings.HasPrefix(base, ".") || filepath.Clean(f.name) != f.name {
			errs = append(errs, fmt.Errorf("%s: %q must be a plain file name inside maps.dir or a clean absolute path", f.key, f.name))
			continue
		}
		if other, ok := seen[path]; ok {
			errs = append(errs, fmt.Errorf("%s: %q is also %s", f.key, f.name, other))
		}
		seen[path] = f.key
	}
	return errors.Join(errs...)
}

// Path returns where the map called name is written: name itself when it
// is absolute, else name inside Dir.
func (m MapsConfig) Path(name string) string {
	if filepath.IsAbs(name) {
		return name
	}
	return filepath.Join(m.Dir, name)
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
