// Package config loads a service's typed configuration with koanf v2.
//
// Layers, each overriding the one before:
//
//  1. the defaults: the struct the caller passes in;
//  2. a YAML file named by --config FILE (optional);
//  3. environment variables with the service's prefix, e.g.
//     MXWARDEN_DETECTOR_KAFKA_BROKERS=a:9092,b:9092 sets kafka.brokers
//     (the key path upper-cased, dots turned into underscores);
//  4. --set key=value flags (repeatable), e.g. --set kafka.brokers=127.0.0.1:9092.
//
// Unknown keys are an error in every layer, so a typo never silently falls
// back to a default. Lists are comma-separated in env and --set. Durations
// use Go syntax ("30s", "1h"). After loading, the struct's Validate method
// runs when it has one.
package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/confmap"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

// ErrUnknownKey is wrapped by Load when a layer names a key the
// configuration struct does not have.
var ErrUnknownKey = errors.New("unknown configuration key")

// Validator is implemented by configuration structs that check themselves.
type Validator interface{ Validate() error }

// Load fills *cfg (which holds the defaults on entry) from the layers above.
// args are the command-line arguments after the subcommand; Load consumes
// --config and --set and returns the remaining positional arguments.
// environ is os.Environ in production and a fixed list in tests.
func Load(args []string, environ func() []string, envPrefix string, cfg any) ([]string, error) {
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var file string
	var sets multiFlag
	fs.StringVar(&file, "config", "", "YAML configuration file")
	fs.Var(&sets, "set", "key=value override (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("parse flags: %w", err)
	}
	k := koanf.New(".")
	if err := k.Load(structs.Provider(cfg, "koanf"), nil); err != nil {
		return nil, fmt.Errorf("load defaults: %w", err)
	}
	known := knownKeys(reflect.TypeOf(cfg))
	if file != "" {
		fk := koanf.New(".")
		if err := fk.Load(fileProvider(file), yaml.Parser()); err != nil {
			return nil, fmt.Errorf("load %s: %w", file, err)
		}
		if err := checkKnown(fk.Keys(), known, file); err != nil {
			return nil, err
		}
		if err := k.Merge(fk); err != nil {
			return nil, fmt.Errorf("merge %s: %w", file, err)
		}
	}
	envMap, err := envLayer(environ, envPrefix, known)
	if err != nil {
		return nil, err
	}
	if err := k.Load(confmap.Provider(envMap, "."), nil); err != nil {
		return nil, fmt.Errorf("load env: %w", err)
	}
	setMap := map[string]any{}
	for _, s := range sets {
		key, val, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("--set %q: want key=value", s)
		}
		key = strings.TrimSpace(key)
		if _, ok := known[key]; !ok {
			return nil, fmt.Errorf("--set %s: %w", key, ErrUnknownKey)
		}
		setMap[key] = val
	}
	if err := k.Load(confmap.Provider(setMap, "."), nil); err != nil {
		return nil, fmt.Errorf("load --set: %w", err)
	}
	uc := koanf.UnmarshalConf{
		Tag: "koanf",
		DecoderConfig: &mapstructure.DecoderConfig{
			DecodeHook: mapstructure.ComposeDecodeHookFunc(
				mapstructure.StringToTimeDurationHookFunc(),
				mapstructure.StringToSliceHookFunc(","),
				mapstructure.TextUnmarshallerHookFunc(),
			),
			Metadata:         nil,
			Result:           cfg,
			WeaklyTypedInput: true,
			ErrorUnused:      true,
			TagName:          "koanf",
		},
	}
	if err := k.UnmarshalWithConf("", cfg, uc); err != nil {
		return nil, fmt.Errorf("decode configuration: %w", err)
	}
	if v, ok := cfg.(Validator); ok {
		if err := v.Validate(); err != nil {
			return nil, fmt.Errorf("invalid configuration: %w", err)
		}
	}
	return fs.Args(), nil
}

func fileProvider(path string) koanf.Provider { return file.Provider(path) }

// envLayer maps PREFIX_A_B=v onto the known key whose path upper-cased with
// dots as underscores is A_B. Matching against the known keys (instead of
// splitting on "_") keeps keys with underscores, like client_id, working.
func envLayer(environ func() []string, prefix string, known map[string]struct{}) (map[string]any, error) {
	byEnv := make(map[string]string, len(known))
	for key := range known {
		byEnv[strings.ToUpper(strings.ReplaceAll(key, ".", "_"))] = key
	}
	out := map[string]any{}
	if environ == nil || prefix == "" {
		return out, nil
	}
	var unknown []string
	for _, kv := range environ() {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, prefix) {
			continue
		}
		key, ok := byEnv[strings.TrimPrefix(name, prefix)]
		if !ok {
			unknown = append(unknown, name)
			continue
		}
		out[key] = val
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, fmt.Errorf("environment %s: %w", strings.Join(unknown, ", "), ErrUnknownKey)
	}
	return out, nil
}

func checkKnown(keys []string, known map[string]struct{}, where string) error {
	var unknown []string
	for _, k := range keys {
		if _, ok := known[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("%s: %s: %w", where, strings.Join(unknown, ", "), ErrUnknownKey)
	}
	return nil
}

// knownKeys lists the leaf key paths of a koanf-tagged struct type. Maps
// and slices are leaves (they are set whole).
func knownKeys(t reflect.Type) map[string]struct{} {
	out := map[string]struct{}{}
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			tag := f.Tag.Get("koanf")
			if tag == "" || tag == "-" || !f.IsExported() {
				continue
			}
			key := tag
			if prefix != "" {
				key = prefix + "." + tag
			}
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			if ft.Kind() == reflect.Struct && ft.String() != "time.Time" {
				walk(ft, key)
				continue
			}
			out[key] = struct{}{}
		}
	}
	walk(t, "")
	return out
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(s string) error { *m = append(*m, s); return nil }

// Log is the logging section every service shares.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `koanf:"level"`
	// Format is json or text. Default json.
	Format string `koanf:"format"`
}

// DefaultLog returns the logging defaults.
func DefaultLog() Log { return Log{Level: "info", Format: "json"} }

// Validate checks the level and format.
func (l Log) Validate() error {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		return fmt.Errorf("log.level %q: %w", l.Level, err)
	}
	if l.Format != "json" && l.Format != "text" {
		return fmt.Errorf("log.format %q: want json or text", l.Format)
	}
	return nil
}

// NewLogger builds the service's root logger writing to w.
func (l Log) NewLogger(w io.Writer, service string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(l.Level)) // validated before
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if l.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h).With("service", service)
}

// Effective returns cfg as a nested map keyed by the koanf key names, with
// durations as Go duration strings: what `<service> check` prints, in the
// same shape as the YAML file it would accept.
func Effective(cfg any) (map[string]any, error) {
	m, err := structs.Provider(cfg, "koanf").Read()
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	var fix func(map[string]any)
	fix = func(m map[string]any) {
		for k, v := range m {
			switch t := v.(type) {
			case map[string]any:
				fix(t)
			case time.Duration:
				m[k] = t.String()
			}
		}
	}
	fix(m)
	return m, nil
}

// Check implements `<service> check`: it loads and validates cfg exactly as
// Load does for `run`, then writes the effective values to w as indented
// JSON (see Effective).
func Check(args []string, environ func() []string, envPrefix string, cfg any, w io.Writer) error {
	rest, err := Load(args, environ, envPrefix, cfg)
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	if len(rest) > 0 {
		return fmt.Errorf("check: unexpected arguments %q", rest)
	}
	eff, err := Effective(cfg)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(eff)
}
