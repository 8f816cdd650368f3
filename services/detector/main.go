// Command detector runs mxwarden's rules over delivery events.
//
//	detector [run] [--config FILE] [--set key=value]...
//	    consume mail.events in a consumer group, produce verdicts and bans
//	detector replay [--bans] [--resolver HOST:PORT] [--config FILE] [--set key=value]... [FILE...]
//	detector check [--config FILE] [--set key=value]...   validate the configuration, print it as JSON
//	    run the rules over event JSON lines (FILE, or stdin when none or
//	    "-") in event time, without Kafka; write verdicts (or, with --bans,
//	    bans) as JSON lines to stdout
//
// Configuration: defaults, then the YAML file, then MXWARDEN_DETECTOR_*
// environment variables, then --set (see internal/detector/config.go).
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
	"github.com/mxwarden/mxwarden/services/detector/internal/detector"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Environ, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "detector:", err)
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
		cfg := detector.Default()
		return config.Check(args, environ, detector.EnvPrefix, &cfg, stdout)
	case "run":
		cfg := detector.Default()
		rest, err := config.Load(args, environ, detector.EnvPrefix, &cfg)
		if err != nil {
			return fmt.Errorf("load config: %w", err)
		}
		if len(rest) > 0 {
			return fmt.Errorf("run: unexpected arguments %q", rest)
		}
		logger := cfg.Log.NewLogger(stderr, "detector")
		svc, err := detector.New(cfg, logger, metrics.NewRegistry())
		if err != nil {
			return fmt.Errorf("build detector: %w", err)
		}
		return svc.Run(ctx)
	case "replay":
		args, bans := detector.ReplayFlags(args)
		cfg := detector.Default()
		files, err := config.Load(args, environ, detector.EnvPrefix, &cfg)
		if err != nil {
			return fmt.Errorf("load config: %w", err)
		}
		_, err = detector.Replay(ctx, cfg, detector.ReplayOptions{
			Inputs: files, Stdin: stdin, Stdout: stdout, Stderr: stderr, Bans: bans,
		})
		return err
	default:
		return fmt.Errorf("%w %q: want run or replay", detector.ErrUnknownCommand, cmd)
	}
}
