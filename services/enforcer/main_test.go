package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mxwarden/mxwarden/pkg/config"
)

func TestRunDispatch(t *testing.T) {
	noEnv := func() []string { return nil }
	t.Run("render", func(t *testing.T) {
		in := `{"rule":"cron_flood","subject_kind":"sender","subject":"root@localhost","action":"ban","message":"blocked"}` + "\n"
		var out, errs bytes.Buffer
		if err := run(context.Background(), []string{"render", "--format", "postfix-access"}, noEnv, strings.NewReader(in), &out, &errs); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "\nroot@localhost REJECT blocked\n") {
			t.Fatalf("stdout:\n%s", out.String())
		}
	})
	t.Run("unknown subcommand", func(t *testing.T) {
		err := run(context.Background(), []string{"enforce"}, noEnv, nil, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "unknown subcommand") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("run with unknown env key", func(t *testing.T) {
		env := func() []string { return []string{"MXWARDEN_ENFORCER_MAPS_DIRR=/tmp"} }
		err := run(context.Background(), nil, env, nil, &bytes.Buffer{}, &bytes.Buffer{})
		if !errors.Is(err, config.ErrUnknownKey) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("flags select run", func(t *testing.T) {
		err := run(context.Background(), []string{"--set", "policy.read_timeout=0s"}, noEnv, nil, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "policy.read_timeout") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("stray argument", func(t *testing.T) {
		err := run(context.Background(), []string{"run", "extra"}, noEnv, nil, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "unexpected arguments") {
			t.Fatalf("err = %v", err)
		}
	})
}
