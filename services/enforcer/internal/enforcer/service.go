package enforcer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/pkg/metrics"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/mta"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/policy"
)

// shutdownTimeout bounds closing the writers after Run's components stopped.
const shutdownTimeout = 5 * time.Second

// Service is the enforcer. Build it with New, run it with Run (once).
type Service struct {
	cfg     Config
	logger  *slog.Logger
	reg     *prometheus.Registry
	now     func() time.Time
	stdout  io.Writer
	kopts   []kgo.Opt
	set     *banset.Set
	m       *serviceMetrics
	http    *metrics.Server // nil when http.addr is ""
	policy  *policy.Server  // nil when policy.addr is ""
	writers []*mta.FileWriter
	printer *Printer // nil when print_bans is false

	started chan struct{}
	ready   chan struct{}
}

// Option changes how New builds the service.
type Option func(*Service)

// WithStdout sets where bans are printed (default io.Discard).
func WithStdout(w io.Writer) Option { return func(s *Service) { s.stdout = w } }

// WithClock sets the clock that judges expiry (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithKafkaOpts appends client options (tests: faster retries).
func WithKafkaOpts(opts ...kgo.Opt) Option {
	return func(s *Service) { s.kopts = append(s.kopts, opts...) }
}

// New builds the service from a validated cfg. It binds nothing; Run does.
func New(cfg Config, logger *slog.Logger, reg *prometheus.Registry, opts ...Option) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("invalid configuration: %w", err)
	}
	s := &Service{
		cfg:     cfg,
		logger:  logger,
		reg:     reg,
		now:     time.Now,
		stdout:  io.Discard,
		started: make(chan struct{}),
		ready:   make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	s.set = banset.New(s.now)
	s.m = newServiceMetrics(reg, s.set)
	if cfg.PrintBans {
		s.printer = NewPrinter(s.stdout)
	}
	if cfg.HTTP.Addr != "" {
		s.http = metrics.NewServer(cfg.HTTP.Addr, reg, logger.With("component", "http"))
	}
	if cfg.Policy.Addr != "" {
		p, err := policy.New(policy.Config{
			Addr:        cfg.Policy.Addr,
			MaxConns:    cfg.Policy.MaxConns,
			ReadTimeout: cfg.Policy.ReadTimeout,
		}, s.set, logger, reg)
		if err != nil {
			return nil, fmt.Errorf("build policy server: %w", err)
		}
		s.policy = p
	}
	if cfg.Maps.Dir != "" {
		postmap, err := mta.ParseCommand(cfg.Maps.Postmap)
		if err != nil {
			return nil, fmt.Errorf("maps.postmap: %w", err)
		}
		mm := mta.NewMetrics(reg)
		for _, f := range []struct {
			name    string
			format  mta.Format
			side    mta.Side
			command []string
		}{
			{cfg.Maps.PostfixSender, mta.Postfix, mta.SideSender, postmap},
			{cfg.Maps.PostfixRecipient, mta.Postfix, mta.SideRecipient, postmap},
			{cfg.Maps.EximSender, mta.Exim, mta.SideSender, nil},
			{cfg.Maps.EximRecipient, mta.Exim, mta.SideRecipient, nil},
		} {
			if f.name == "" {
				continue
			}
			s.writers = append(s.writers, mta.NewFileWriter(mta.FileConfig{
				Format:  f.format,
				Side:    f.side,
				Path:    filepath.Join(cfg.Maps.Dir, f.name),
				Command: f.command,
			}, logger, mm))
		}
	}
	return s, nil
}

// Set returns the ban set the service maintains.
func (s *Service) Set() *banset.Set { return s.set }

// Started is closed once Run bound the HTTP server (HTTPAddr is valid).
func (s *Service) Started() <-chan struct{} { return s.started }

// Ready is closed once the ban set caught up, the maps were written and
// the policy server listens (PolicyAddr is valid).
func (s *Service) Ready() <-chan struct{} { return s.ready }

// HTTPAddr returns the metrics server's address ("" when disabled).
func (s *Service) HTTPAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.Addr()
}

// PolicyAddr returns the policy server's address ("" when disabled).
func (s *Service) PolicyAddr() string {
	if s.policy == nil {
		return ""
	}
	return s.policy.Addr()
}

// Run runs the service until ctx ends or a component fails. It returns
// nil on a clean shutdown.
func (s *Service) Run(ctx context.Context) error {
	if s.http != nil {
		if err := s.http.Listen(); err != nil {
			return err
		}
	}
	close(s.started)

	opts, err := kafka.BuildOpts(s.cfg.Kafka, s.logger)
	if err != nil {
		return fmt.Errorf("kafka options: %w", err)
	}
	opts = append(opts,
		kafka.Metrics(s.reg, "mxwarden_enforcer"),
		kgo.ConsumeTopics(s.cfg.Kafka.Topics.Bans),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		// Never apply a ban of an aborted transaction; keep the control
		// records so the catch-up sees the offsets of commit markers.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
	)
	opts = append(opts, s.kopts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	for _, w := range s.writers {
		if err := w.Connect(ctx); err != nil {
			return fmt.Errorf("connect map %s: %w", w.Path(), err)
		}
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
		defer cancel()
		for _, w := range s.writers {
			_ = w.Close(cctx)
		}
	}()

	g, gctx := errgroup.WithContext(ctx)
	caughtUp := make(chan struct{})
	s.startHistory(gctx, g)
	if s.http != nil {
		g.Go(func() error { return s.http.Run(gctx) })
	}
	g.Go(func() error { return s.consume(gctx, cl, caughtUp) })
	g.Go(func() error {
		select {
		case <-caughtUp:
		case <-gctx.Done():
			return nil
		}
		return s.serve(gctx, g)
	})
	err = g.Wait()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	if err == nil {
		s.logger.Info("enforcer stopped")
	}
	return err
}

// serve runs once caught up: first map write, policy server, readiness,
// then the map loop.
func (s *Service) serve(ctx context.Context, g *errgroup.Group) error {
	loop := newMapLoop(s)
	loop.flush(ctx, false)
	if s.policy != nil {
		if err := s.policy.Listen(); err != nil {
			return err
		}
		g.Go(func() error { return s.policy.Serve(ctx) })
	}
	if s.http != nil {
		s.http.SetReady(true)
	}
	s.m.caughtUp.Set(1)
	close(s.ready)
	s.logger.Info("enforcer ready", "bans", s.set.Len(), "policy_addr", s.PolicyAddr())
	return loop.run(ctx)
}
