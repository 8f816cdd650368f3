package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/enforcer"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/history"
)

// historyCommand runs `enforcer migrate` (with the enforcer's configuration
// layers) and `enforcer history ...` (flags; history.* defaults).
func historyCommand(ctx context.Context, cmd string, args []string, environ func() []string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cmd == "history" {
		return history.Command(ctx, args, history.DefaultConfig(), stdin, stdout, stderr)
	}
	cfg := enforcer.Default()
	rest, err := config.Load(args, environ, enforcer.EnvPrefix, &cfg)
	if err != nil {
		return fmt.Errorf("load config: %w", err)
	}
	if len(rest) > 0 {
		return fmt.Errorf("migrate: unexpected arguments %q", rest)
	}
	if !cfg.History.Enabled() {
		return fmt.Errorf("migrate: set history.path or history.dsn")
	}
	s, err := history.Open(ctx, cfg.History, false)
	if err != nil {
		return err
	}
	defer s.Close()
	applied, err := history.Migrate(ctx, s, cfg.History.TTL, cfg.Log.NewLogger(stderr, "enforcer"))
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrated %s store (%s dialect): %d steps applied\n", s.Database(), s.Dialect(), len(applied))
	return nil
}
