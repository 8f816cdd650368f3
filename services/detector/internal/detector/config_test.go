package detector

import (
	"errors"
	"os"
	"path/filepath"
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

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "detector.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigDefaults(t *testing.T) {
	cfg, err := load(t, nil)
	if err != nil {
		t.Fatalf("defaults do not load: %v", err)
	}
	ir := cfg.Rules.InvalidRecipients
	if cfg.HTTP.Addr != "127.0.0.1:9102" || cfg.Group != "mxwarden-detector" || cfg.TicketURL != "https://example.com/tickets" ||
		cfg.Ban.TTL != 24*time.Hour || cfg.Ban.MaxTTL != 720*time.Hour ||
		cfg.Dedup.MaxIDs != 1_000_000 ||
		cfg.State.BucketWidth != 5*time.Minute || cfg.State.Topic != "" || cfg.State.InstanceID != "" || len(cfg.Allowlist) != 0 ||
		!ir.On || ir.Shadow || ir.Window != time.Hour || ir.MinAttempts != 10 || ir.MinUnknown != 10 ||
		ir.Ratio != 0.10 || ir.AlwaysUnknown != 100 {
		t.Fatalf("defaults: %+v", cfg)
	}
}

func TestConfigLayers(t *testing.T) {
	file := writeFile(t, `
group: from-file
ticket_url: https://help.example.org/t
ban:
  ttl: 12h
rules:
  invalid_recipients:
    min_attempts: 50
    ratio: 0.8
    window: 30m
    min_unknown: 25
`)
	cfg, err := load(t, []string{"--config", file, "--set", "rules.invalid_recipients.shadow=true", "--set", "group=from-set"},
		"MXWARDEN_DETECTOR_RULES_INVALID_RECIPIENTS_MIN_ATTEMPTS=70",
		"MXWARDEN_DETECTOR_BAN_MAX_TTL=48h",
		"MXWARDEN_DETECTOR_DEDUP_MAX_IDS=5000",
		"MXWARDEN_DETECTOR_GROUP=from-env",
		"MXWARDEN_DETECTOR_HTTP_ADDR=",
		"OTHER_VARIABLE=ignored",
	)
	if err != nil {
		t.Fatal(err)
	}
	ir := cfg.Rules.InvalidRecipients
	switch {
	case cfg.Group != "from-set":
		t.Errorf("group %q: --set must win", cfg.Group)
	case ir.MinAttempts != 70:
		t.Errorf("min_attempts %d: env must win over the file", ir.MinAttempts)
	case ir.Ratio != 0.8 || ir.Window != 30*time.Minute || ir.MinUnknown != 25:
		t.Errorf("file values lost: %+v", ir)
	case !ir.Shadow:
		t.Error("shadow from --set lost")
	case cfg.Ban.TTL != 12*time.Hour || cfg.Ban.MaxTTL != 48*time.Hour:
		t.Errorf("ban %+v", cfg.Ban)
	case cfg.Dedup.MaxIDs != 5000:
		t.Errorf("dedup.max_ids %d from env", cfg.Dedup.MaxIDs)
	case cfg.HTTP.Addr != "":
		t.Errorf("http.addr %q: env must be able to empty it", cfg.HTTP.Addr)
	case cfg.TicketURL != "https://help.example.org/t":
		t.Errorf("ticket_url %q", cfg.TicketURL)
	}
}

func TestConfigUnknownKeys(t *testing.T) {
	tests := []struct {
		name string
		args []string
		env  []string
	}{
		{"file", []string{"--config", "FILE"}, nil},
		{"env", nil, []string{"MXWARDEN_DETECTOR_RULES_INVALID_RECIPIENTS_MINATTEMPTS=3"}},
		{"set", []string{"--set", "rules.invalid_recipient.ratio=0.3"}, nil},
	}
	file := writeFile(t, "rules:\n  invalid_recipients:\n    minattempts: 3\n")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, a := range tt.args {
				if a == "FILE" {
					tt.args[i] = file
				}
			}
			_, err := load(t, tt.args, tt.env...)
			if !errors.Is(err, config.ErrUnknownKey) {
				t.Fatalf("err = %v, want ErrUnknownKey", err)
			}
		})
	}
}

func TestConfigInvalid(t *testing.T) {
	tests := []struct {
		name string
		set  string
		want string // in the error
	}{
		{"ratio above 1", "rules.invalid_recipients.ratio=1.5", "ratio 1.5"},
		{"ratio zero", "rules.invalid_recipients.ratio=0", "ratio 0"},
		{"ratio NaN", "rules.invalid_recipients.ratio=NaN", "ratio NaN"},
		{"min attempts", "rules.invalid_recipients.min_attempts=0", "min_attempts 0"},
		{"min unknown", "rules.invalid_recipients.min_unknown=0", "min_unknown 0"},
		{"always unknown", "rules.invalid_recipients.always_unknown=-1", "always_unknown -1"},
		{"uneven window", "rules.invalid_recipients.window=61s", "not a multiple of the bucket width"},
		{"bucket width", "state.bucket_width=0s", "state.bucket_width 0s"},
		{"allowlist kind", "allowlist=planet:earth", "allowlist entry"},
		{"allowlist form", "allowlist=nocolon", "want kind:subject"},
		{"zero window", "rules.invalid_recipients.window=0s", "window 0s"},
		{"window syntax", "rules.invalid_recipients.window=an hour", "window"},
		{"ttl", "ban.ttl=0s", "ban: ttl 0s"},
		{"max ttl below ttl", "ban.max_ttl=1h", "max_ttl 1h0m0s: must be at least ttl"},
		{"ticket url scheme", "ticket_url=ftp://example.com/x", "want an http or https URL"},
		{"ticket url space", "ticket_url=https://example.com/a b", "ticket_url"},
		{"ticket url empty", "ticket_url=", "ticket_url: must not be empty"},
		{"ticket url long", "ticket_url=https://example.com/" + strings.Repeat("a", 200), "more than 200"},
		{"http addr", "http.addr=localhost", "http.addr"},
		{"group", "group=", "group: must not be empty"},
		{"future skew", "max_future_skew=-1s", "max_future_skew"},
		{"dedup negative", "dedup.max_ids=-1", "dedup: max_ids -1"},
		{"dedup huge", "dedup.max_ids=1000000000", "dedup: max_ids 1000000000"},
		{"log level", "log.level=loud", "log.level"},
		{"brokers", "kafka.brokers=nohostport", "kafka.brokers"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := load(t, []string{"--set", tt.set})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestConfigReportsAllProblems(t *testing.T) {
	_, err := load(t, []string{"--set", "ban.ttl=0s", "--set", "rules.invalid_recipients.ratio=2", "--set", "group="})
	if err == nil {
		t.Fatal("no error")
	}
	for _, w := range []string{"ban: ttl", "ratio 2", "group"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error lacks %q: %v", w, err)
		}
	}
}
