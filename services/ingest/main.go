// Command ingest follows MTA logs and produces one delivery event per
// recipient attempt to Kafka.
//
//	ingest [run] [--config FILE] [--set key=value]...   follow source.file into Kafka
//	ingest parse [--format postfix|exim] [--host H] [FILE...]   log lines in, event JSON lines out
//	ingest check [--config FILE] [--set key=value]...   validate the configuration, print it
//	ingest demo --out FILE [--rate N] [--duration D]     write a live demo Postfix log
//	ingest queue [--command CMD] [--format F]          sample the MTA queue once, print it as JSON
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/metrics"
	"github.com/mxwarden/mxwarden/services/ingest/internal/demo"
	"github.com/mxwarden/mxwarden/services/ingest/internal/ingest"
	"github.com/mxwarden/mxwarden/services/ingest/internal/queue"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Environ, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ingest:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, environ func() []string, stdin io.Reader, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "check": // validate and print the effective configuration, for CI and before a deploy
		cfg := ingest.Default()
		return config.Check(args, environ, "MXWARDEN_INGEST_", &cfg, stdout)
	case "run":
		cfg := ingest.Default()
		rest, err := config.Load(args, environ, "MXWARDEN_INGEST_", &cfg)
		if err != nil {
			return fmt.Errorf("load config: %w", err)
		}
		if len(rest) > 0 {
			return fmt.Errorf("run: unexpected arguments %q", rest)
		}
		logger := cfg.Log.NewLogger(stderr, "ingest")
		svc, err := ingest.New(cfg, logger, metrics.NewRegistry())
		if err != nil {
			return fmt.Errorf("build ingest: %w", err)
		}
		return svc.Run(ctx)
	case "parse":
		return ingest.ParseCommand(args, stdin, stdout, stderr)
	case "demo":
		return demo.Command(ctx, args, stdout, stderr)
	case "queue":
		return queue.Command(ctx, args, stdout, stderr)
	case "help", "-h", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	}
	return fmt.Errorf("unknown command %q\n%s", cmd, usage)
}

const usage = `usage:
  ingest [run] [--config FILE] [--set key=value]...         follow source.file and produce events to Kafka
  ingest parse [--format postfix|exim] [--host H] [FILE...]  parse log files (or stdin) into event JSON lines
  ingest check [--config FILE] [--set key=value]...          validate the configuration, print it as JSON
  ingest demo --out FILE [--rate N] [--duration D]           write a live demo Postfix log
  ingest queue [--command "postqueue -j"] [--format postfix-json|count] [--host H]
                                                             sample the MTA queue once, print the sample as JSON
`
