package enforcer

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/config"
)

func load(t *testing.T, args []string, env ...string) (Config, error) {
	t.Helper()
	cfg := Default()
	_, err := config.Load(args, func() []string { return env }, EnvPrefix, &cfg)
	return cfg, err
}

func TestDefaultIsValid(t *testing.T) {
	cfg := Default()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if cfg.HTTP.Addr != "127.0.0.1:9103" || cfg.Policy.Addr != "127.0.0.1:10031" || cfg.Maps.Dir != "/var/lib/mxwarden/maps" ||
		cfg.Maps.Debounce != 200*time.Millisecond || !cfg.PrintBans || cfg.Maps.Postmap != "" ||
		cfg.Maps.PostfixSender != "sender_access" || cfg.Maps.PostfixRecipient != "recipient_access" ||
		cfg.Maps.EximSender != "exim_sender_bans" || cfg.Maps.EximRecipient != "exim_recipient_bans" ||
		cfg.Kafka.Topics.Bans != "mail.bans" || cfg.Kafka.ClientID != "mxwarden-enforcer" {
		t.Fatalf("unexpected defaults: %+v", cfg)
	}
}

func TestEnvOverride(t *testing.T) {
	cfg, err := load(t, nil,
		"MXWARDEN_ENFORCER_POLICY_ADDR=0.0.0.0:20031",
		"MXWARDEN_ENFORCER_POLICY_MAX_CONNS=7",
		"MXWARDEN_ENFORCER_POLICY_READ_TIMEOUT=90s",
		"MXWARDEN_ENFORCER_MAPS_DIR=/srv/maps",
		"MXWARDEN_ENFORCER_MAPS_POSTMAP=postmap hash:{path}",
		"MXWARDEN_ENFORCER_MAPS_DEBOUNCE=1s",
		"MXWARDEN_ENFORCER_MAPS_EXIM_RECIPIENT=",
		"MXWARDEN_ENFORCER_PRINT_BANS=false",
		"MXWARDEN_ENFORCER_KAFKA_BROKERS=k1:9092,k2:9092",
		"MXWARDEN_ENFORCER_KAFKA_TOPICS_BANS=test.bans",
		"MXWARDEN_ENFORCER_HTTP_ADDR=",
		"MXWARDEN_DETECTOR_POLICY_ADDR=ignored:1", // another service's prefix
	)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.Addr != "0.0.0.0:20031" || cfg.Policy.MaxConns != 7 || cfg.Policy.ReadTimeout != 90*time.Second ||
		cfg.Maps.Dir != "/srv/maps" || cfg.Maps.Postmap != "postmap hash:{path}" || cfg.Maps.Debounce != time.Second ||
		cfg.Maps.EximRecipient != "" || cfg.PrintBans || cfg.HTTP.Addr != "" ||
		strings.Join(cfg.Kafka.Brokers, ",") != "k1:9092,k2:9092" || cfg.Kafka.Topics.Bans != "test.bans" {
		t.Fatalf("env not applied: %+v", cfg)
	}
}

func TestFileAndSetLayers(t *testing.T) {
	path := filepath.Join(t.TempDir(), "enforcer.yaml")
	yaml := "policy:\n  addr: 127.0.0.1:1111\nmaps:\n  debounce: 50ms\n  postfix_sender: senders\n"
	if err := os.WriteFile(path, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := load(t, []string{"--config", path, "--set", "policy.addr=127.0.0.1:2222"},
		"MXWARDEN_ENFORCER_MAPS_DEBOUNCE=75ms")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Policy.Addr != "127.0.0.1:2222" || cfg.Maps.Debounce != 75*time.Millisecond || cfg.Maps.PostfixSender != "senders" {
		t.Fatalf("layers: %+v", cfg)
	}
}

func TestUnknownKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "enforcer.yaml")
	if err := os.WriteFile(path, []byte("maps:\n  postmapp: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string]struct {
		args []string
		env  []string
	}{
		"env":  {nil, []string{"MXWARDEN_ENFORCER_POLICY_ADRR=127.0.0.1:1"}},
		"file": {[]string{"--config", path}, nil},
		"set":  {[]string{"--set", "print_ban=false"}, nil},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := load(t, args.args, args.env...)
			if !errors.Is(err, config.ErrUnknownKey) {
				t.Fatalf("err = %v, want ErrUnknownKey", err)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Config)
		want string // substring of the error
	}{
		{"max_conns", func(c *Config) { c.Policy.MaxConns = 0 }, "policy.max_conns"},
		{"read_timeout", func(c *Config) { c.Policy.ReadTimeout = 0 }, "policy.read_timeout"},
		{"policy addr", func(c *Config) { c.Policy.Addr = "10031" }, "policy.addr"},
		{"http addr", func(c *Config) { c.HTTP.Addr = "localhost" }, "http.addr"},
		{"debounce", func(c *Config) { c.Maps.Debounce = -time.Second }, "maps.debounce"},
		{"postmap without path", func(c *Config) { c.Maps.Postmap = "postmap hash:/etc/x" }, "maps.postmap"},
		{"map name with dir", func(c *Config) { c.Maps.PostfixSender = "../etc/passwd" }, "maps.postfix_sender"},
		{"hidden map name", func(c *Config) { c.Maps.EximSender = ".x" }, "maps.exim_sender"},
		{"same map twice", func(c *Config) { c.Maps.EximRecipient = "sender_access" }, "maps.exim_recipient"},
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"kafka brokers", func(c *Config) { c.Kafka.Brokers = nil }, "kafka.brokers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			tt.mod(&cfg)
			err := cfg.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to name %s", err, tt.want)
			}
		})
	}
	// Disabled parts are valid.
	cfg := Default()
	cfg.HTTP.Addr, cfg.Policy.Addr, cfg.Maps.Dir, cfg.Maps.PostfixSender = "", "", "", ""
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Load runs Validate.
	if _, err := load(t, []string{"--set", "policy.max_conns=0"}); err == nil || !strings.Contains(err.Error(), "policy.max_conns") {
		t.Fatalf("load did not validate: %v", err)
	}
}

func TestExampleConfigIsDefault(t *testing.T) {
	cfg, err := load(t, []string{"--config", filepath.Join("..", "..", "enforcer.example.yaml")})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg, Default()) {
		t.Fatalf("enforcer.example.yaml differs from Default():\n%+v\n%+v", cfg, Default())
	}
}
