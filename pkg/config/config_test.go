package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

type testCfg struct {
	Log   Log `koanf:"log"`
	Kafka struct {
		Brokers  []string `koanf:"brokers"`
		ClientID string   `koanf:"client_id"`
	} `koanf:"kafka"`
	Window time.Duration `koanf:"window"`
	Ratio  float64       `koanf:"ratio"`
}

func (c *testCfg) Validate() error {
	if c.Ratio > 1 {
		return errors.New("ratio above 1")
	}
	return c.Log.Validate()
}

func defaults() *testCfg {
	c := &testCfg{Log: DefaultLog(), Window: time.Hour, Ratio: 0.5}
	c.Kafka.Brokers = []string{"127.0.0.1:9092"}
	c.Kafka.ClientID = "x"
	return c
}

func env(kv ...string) func() []string { return func() []string { return kv } }

func TestLoadLayers(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(file, []byte("window: 30m\nkafka:\n  brokers: [a:1, b:2]\n  client_id: fromfile\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := defaults()
	rest, err := Load([]string{"--config", file, "--set", "ratio=0.75", "pos1"},
		env("MXWARDEN_T_KAFKA_CLIENT_ID=fromenv", "OTHER=1", "MXWARDEN_T_LOG_LEVEL=debug"), "MXWARDEN_T_", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(rest, []string{"pos1"}) {
		t.Errorf("rest = %q", rest)
	}
	if cfg.Window != 30*time.Minute || cfg.Ratio != 0.75 || cfg.Kafka.ClientID != "fromenv" || cfg.Log.Level != "debug" {
		t.Errorf("layers: %+v", cfg)
	}
	if !reflect.DeepEqual(cfg.Kafka.Brokers, []string{"a:1", "b:2"}) {
		t.Errorf("brokers = %q", cfg.Kafka.Brokers)
	}
}

func TestLoadEnvList(t *testing.T) {
	cfg := defaults()
	if _, err := Load(nil, env("MXWARDEN_T_KAFKA_BROKERS=x:1,y:2", "MXWARDEN_T_WINDOW=90s"), "MXWARDEN_T_", cfg); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cfg.Kafka.Brokers, []string{"x:1", "y:2"}) || cfg.Window != 90*time.Second {
		t.Errorf("got %+v", cfg)
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte("kafka:\n  brokerz: [a:1]\n"), 0o644)
	cases := []struct {
		name    string
		args    []string
		env     []string
		wantErr error
		want    string
	}{
		{"unknown env", nil, []string{"MXWARDEN_T_KAFKA_BROKER=a:1"}, ErrUnknownKey, "MXWARDEN_T_KAFKA_BROKER"},
		{"unknown file key", []string{"--config", bad}, nil, ErrUnknownKey, "kafka.brokerz"},
		{"unknown set", []string{"--set", "windw=1s"}, nil, ErrUnknownKey, "windw"},
		{"set without =", []string{"--set", "window"}, nil, nil, "want key=value"},
		{"bad duration", []string{"--set", "window=soon"}, nil, nil, "window"},
		{"validate", []string{"--set", "ratio=2"}, nil, nil, "ratio above 1"},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.yaml")}, nil, nil, "nope.yaml"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(tc.args, env(tc.env...), "MXWARDEN_T_", defaults())
			if err == nil {
				t.Fatal("no error")
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("error %v is not %v", err, tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestEffective(t *testing.T) {
	m, err := Effective(defaults())
	if err != nil {
		t.Fatal(err)
	}
	if m["window"] != "1h0m0s" || m["ratio"] != 0.5 {
		t.Errorf("effective: %v", m)
	}
	kafka, ok := m["kafka"].(map[string]any)
	if !ok || kafka["client_id"] != "x" {
		t.Errorf("nested section: %v", m["kafka"])
	}
}

func TestCheck(t *testing.T) {
	var out strings.Builder
	if err := Check([]string{"--set", "ratio=0.25"}, nil, "MXWARDEN_T_", defaults(), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `"ratio": 0.25`) || !strings.Contains(out.String(), `"window": "1h0m0s"`) {
		t.Errorf("check output:\n%s", out.String())
	}
	if err := Check([]string{"extra"}, nil, "MXWARDEN_T_", defaults(), &out); err == nil {
		t.Error("positional argument accepted")
	}
	if err := Check([]string{"--set", "ratio=2"}, nil, "MXWARDEN_T_", defaults(), &out); err == nil {
		t.Error("invalid value accepted")
	}
}
