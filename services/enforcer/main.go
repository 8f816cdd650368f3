// Command enforcer materialises the ban set from Kafka and serves it to
// MTAs: a Postfix policy server and Postfix / Exim map files.
//
//	enforcer [run] [--config FILE] [--set key=value]...
//	enforcer render --format postfix-access|exim [--side sender|recipient] [FILE|-]...
//	enforcer check [--config FILE] [--set key=value]...   validate the configuration, print it as JSON
//	enforcer migrate [--config FILE] [--set key=value]... apply the history schema (history.path or history.dsn)
//	enforcer history load|query|pack ...                  the history store offline (see internal/history)
//	enforcer ctl [--url URL] [--token-file FILE] [--json] list|show|lookup|ban|extend|unban|allowlist|allow|disallow ...
//
// ctl is the operator CLI over the operator API; it exits with the codes
// of package ctl (0 ok, 2 usage, 3 not found, 4 unauthorized, 5 invalid,
// 6 Kafka unavailable, 1 anything else).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/metrics"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/ctl"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/enforcer"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "ctl" {
		os.Exit(ctl.Run(context.Background(), os.Args[2:], os.Getenv, os.Stdout, os.Stderr))
	}
	if err := run(context.Background(), os.Args[1:], os.Environ, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "enforcer:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, environ func() []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "check": // validate and print the effective configuration, for CI and before a deploy
		cfg := enforcer.Default()
		return config.Check(args, environ, enforcer.EnvPrefix, &cfg, stdout)
	case "run":
		ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer stop()
		cfg := enforcer.Default()
		rest, err := config.Load(args, environ, enforcer.EnvPrefix, &cfg)
		if err != nil {
			return fmt.Errorf("load config: %w", err)
		}
		if len(rest) > 0 {
			return fmt.Errorf("run: unexpected arguments %q", rest)
		}
		logger := cfg.Log.NewLogger(stderr, "enforcer")
		svc, err := enforcer.New(cfg, logger, metrics.NewRegistry(), enforcer.WithStdout(stdout))
		if err != nil {
			return fmt.Errorf("build enforcer: %w", err)
		}
		return svc.Run(ctx)
	case "migrate", "history":
		return historyCommand(ctx, cmd, args, environ, stdin, stdout, stderr)
	case "render":
		return enforcer.Render(args, stdin, stdout, stderr, time.Now)
	default:
		return fmt.Errorf("unknown subcommand %q (want run, check, render, ctl, migrate or history)", cmd)
	}
}
