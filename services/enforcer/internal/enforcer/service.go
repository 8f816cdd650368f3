package enforcer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/pkg/metrics"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/history"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/mta"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/policy"
)

// shutdownTimeout bounds closing the writers after Run's components stopped.
const shutdownTimeout = 5 * time.Second

// SnapshotFile is the name of the ban set snapshot inside state.dir.
const SnapshotFile = "banset.snapshot"

// Component is a long-running part started by Run once the ban set is
// served (e.g. the history writer); it returns when ctx ends.
type Component struct {
	Name string
	Run  func(ctx context.Context) error
}

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
	policy  *policy.Server  // nil when policy.addr and policy.unix are ""
	writers []*mta.FileWriter
	printer *Printer        // nil when print_bans is false
	local   *api.Local      // nil without API tokens (or in agent mode)
	desk    deskHook        // the abuse desk (desk.go)
	hist    *history.Runner // nil unless history.path or history.dsn (history.go)
	comps   []Component

	pos            positions
	loadedFromDisk bool
	live           atomic.Bool  // caught up: records apply to the served set
	synced         atomic.Int64 // unix nanoseconds the set was last in sync with Kafka (0: never)
	snapshotSynced atomic.Int64 // Synced of the snapshot on disk (0: none)
	snapshotDirty  atomic.Bool  // the set changed since the snapshot was last written

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

// WithComponent adds a component Run starts in server mode once the ban
// set is served (the history writer's hook). Its error stops the service.
func WithComponent(c Component) Option {
	return func(s *Service) { s.comps = append(s.comps, c) }
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
		pos:     positions{next: map[tp]int64{}},
	}
	for _, o := range opts {
		o(s)
	}
	s.set = banset.New(s.now)
	s.m = newServiceMetrics(reg, s.set, s.snapshotAge)
	if cfg.PrintBans {
		s.printer = NewPrinter(s.stdout)
	}
	if cfg.HTTP.Addr != "" {
		s.http = metrics.NewServer(cfg.HTTP.Addr, reg, logger.With("component", "http"))
	}
	s.buildHistory()
	if cfg.Mode == ModeServer {
		if err := s.buildAPI(); err != nil {
			return nil, err
		}
		if err := s.buildDesk(); err != nil {
			return nil, err
		}
		if cfg.Rspamd.Enabled && s.http != nil {
			s.http.Handle(mta.RspamdPrefix, mta.NewRspamdHandler(s.set, logger, reg))
		}
	}
	if cfg.Policy.Addr != "" || cfg.Policy.Unix != "" {
		mode, _ := strconv.ParseUint(cfg.Policy.UnixMode, 8, 32)
		p, err := policy.New(policy.Config{
			Addr:          cfg.Policy.Addr,
			MaxConns:      cfg.Policy.MaxConns,
			ReadTimeout:   cfg.Policy.ReadTimeout,
			Unix:          cfg.Policy.Unix,
			UnixMode:      os.FileMode(mode),
			Deadline:      cfg.Policy.Deadline,
			DefaultAction: strings.ToUpper(strings.TrimSpace(cfg.Policy.DefaultAction)),
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
			name        string
			format      mta.Format
			side        mta.Side
			command     []string
			rules, exce []string
		}{
			{cfg.Maps.PostfixSender, mta.Postfix, mta.SideSender, postmap, nil, nil},
			{cfg.Maps.PostfixRecipient, mta.Postfix, mta.SideRecipient, postmap, nil, nil},
			{cfg.Maps.EximSender, mta.Exim, mta.SideSender, nil, nil, nil},
			{cfg.Maps.EximRecipient, mta.Exim, mta.SideRecipient, nil, nil, nil},
			{cfg.Maps.EximSenderList, mta.EximList, mta.SideSender, nil, nil, nil},
			{cfg.Maps.EximRecipientList, mta.EximList, mta.SideRecipient, nil, nil, cfg.Maps.OverquotaRules},
			{cfg.Maps.EximOverquotaList, mta.EximList, mta.SideRecipient, nil, cfg.Maps.OverquotaRules, nil},
		} {
			if f.name == "" || f.rules != nil && len(f.rules) == 0 {
				continue
			}
			s.writers = append(s.writers, mta.NewFileWriter(mta.FileConfig{
				Format:      f.format,
				Side:        f.side,
				Path:        cfg.Maps.Path(f.name),
				Command:     f.command,
				Rules:       f.rules,
				ExceptRules: f.exce,
			}, logger, mm))
		}
	}
	return s, nil
}

// buildAPI mounts the operator API when tokens are configured.
func (s *Service) buildAPI() error {
	tokens := append([]api.Token(nil), s.cfg.API.Tokens...)
	if s.cfg.API.TokensFile != "" {
		more, err := api.LoadTokenFile(s.cfg.API.TokensFile)
		if err != nil {
			return fmt.Errorf("api.tokens_file: %w", err)
		}
		tokens = append(tokens, more...)
	}
	if len(tokens) == 0 || s.http == nil {
		return nil
	}
	auth, err := api.NewAuthenticator(tokens)
	if err != nil {
		return fmt.Errorf("api tokens: %w", err)
	}
	s.local = &api.Local{
		Set:     s.set,
		Topics:  api.Topics{Bans: s.cfg.Kafka.Topics.Bans, Allowlist: s.cfg.Kafka.Topics.Allowlist},
		Timeout: s.cfg.API.ProduceTimeout,
	}
	if s.printer != nil {
		s.local.Applied = func(c banset.Change) { s.printer.Change(c, s.now()) }
	}
	s.http.Handle(api.Prefix, api.NewHandler(s.local, auth, s.logger, s.reg))
	return nil
}

// Set returns the ban set the service maintains.
func (s *Service) Set() *banset.Set { return s.set }

// API returns the in-process operator API (nil when it is not enabled):
// what the abuse desk calls. Its changes are produced to Kafka once Run
// has connected.
func (s *Service) API() *api.Local { return s.local }

// Started is closed once Run bound the HTTP server (HTTPAddr is valid).
func (s *Service) Started() <-chan struct{} { return s.started }

// Ready is closed once the policy server answers and the maps were
// written: after the catch-up with Kafka, or at once from the local
// snapshot when there is one.
func (s *Service) Ready() <-chan struct{} { return s.ready }

// HTTPAddr returns the metrics server's address ("" when disabled).
func (s *Service) HTTPAddr() string {
	if s.http == nil {
		return ""
	}
	return s.http.Addr()
}

// PolicyAddr returns the policy server's TCP address ("" when disabled).
func (s *Service) PolicyAddr() string {
	if s.policy == nil {
		return ""
	}
	return s.policy.Addr()
}

func (s *Service) snapshotPath() string {
	if s.cfg.State.Dir == "" {
		return ""
	}
	return filepath.Join(s.cfg.State.Dir, SnapshotFile)
}

// snapshotSource identifies the topics the set is read from.
func (s *Service) snapshotSource() string {
	return "bans=" + s.cfg.Kafka.Topics.Bans + " allowlist=" + s.cfg.Kafka.Topics.Allowlist
}

func (s *Service) snapshotAge() float64 {
	t := s.snapshotSynced.Load()
	if t == 0 {
		return -1
	}
	return s.now().Sub(time.Unix(0, t)).Seconds()
}

// loadSnapshot loads the local snapshot into the set; it reports whether
// there was a usable one.
func (s *Service) loadSnapshot() bool {
	path := s.snapshotPath()
	if path == "" {
		return false
	}
	start := time.Now()
	st, h, err := banset.LoadSnapshot(path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.logger.Error("ban set snapshot not loaded: waiting for kafka", "path", path, "err", err)
		}
		return false
	}
	if h.Source != s.snapshotSource() {
		s.logger.Warn("ban set snapshot is of other topics, not loaded: waiting for kafka", "path", path,
			"snapshot_source", strconv.QuoteToASCII(h.Source), "source", s.snapshotSource())
		return false
	}
	s.set.Load(st)
	took := time.Since(start)
	s.m.snapshotLoad.Set(took.Seconds())
	s.snapshotSynced.Store(h.Synced.UnixNano())
	s.logger.Info("ban set loaded from snapshot", "path", path, "bans", len(st.Bans), "allowlist", len(st.Allow),
		"synced", h.Synced.Format(time.RFC3339), "took", took.Round(time.Millisecond).String())
	return true
}

// saveSnapshot writes the set to the local snapshot.
func (s *Service) saveSnapshot() {
	path := s.snapshotPath()
	synced := s.synced.Load()
	if path == "" || synced == 0 {
		return
	}
	s.snapshotDirty.Store(false) // changes from now on make it dirty again
	if err := banset.SaveSnapshotSource(path, s.set.State(), time.Unix(0, synced), s.now(), s.snapshotSource()); err != nil {
		s.m.snapshotWrites.WithLabelValues("error").Inc()
		s.logger.Error("write ban set snapshot", "path", path, "err", err)
		return
	}
	s.m.snapshotWrites.WithLabelValues("written").Inc()
	s.snapshotSynced.Store(synced)
	s.snapshotDirty.Store(false)
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
		kgo.ConsumeTopics(s.cfg.Kafka.Topics.Bans, s.cfg.Kafka.Topics.Allowlist),
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
	if s.local != nil {
		s.local.Producer = api.KafkaProducer{Client: cl}
	}

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

	s.loadedFromDisk = s.loadSnapshot()
	if s.loadedFromDisk {
		s.m.fromDisk.Set(1)
	}

	g, gctx := errgroup.WithContext(ctx)
	caughtUp := make(chan struct{})
	s.startHistory(gctx, g)
	if s.http != nil {
		g.Go(func() error { return s.http.Run(gctx) })
	}
	g.Go(func() error { return s.consume(gctx, cl, caughtUp) })
	g.Go(func() error { return s.probeLag(gctx, cl) })
	g.Go(func() error {
		if !s.loadedFromDisk {
			select {
			case <-caughtUp:
			case <-gctx.Done():
				return nil
			}
		}
		return s.serve(gctx, g, caughtUp)
	})
	err = g.Wait()
	if err != nil && ctx.Err() != nil && errors.Is(err, context.Canceled) {
		err = nil
	}
	if s.snapshotDirty.Load() || s.snapshotSynced.Load() == 0 {
		s.saveSnapshot()
	}
	if err == nil {
		s.logger.Info("enforcer stopped")
	}
	return err
}

// serve runs once the set is worth answering from (caught up, or loaded
// from disk): first map write, policy server, readiness, components, then
// the map and snapshot loops.
func (s *Service) serve(ctx context.Context, g *errgroup.Group, caughtUp <-chan struct{}) error {
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
	close(s.ready)
	s.logger.Info("enforcer ready", "bans", s.set.Len(), "policy_addr", s.PolicyAddr(), "from_snapshot", s.loadedFromDisk)
	g.Go(func() error {
		select {
		case <-caughtUp:
		case <-ctx.Done():
			return nil
		}
		s.m.caughtUp.Set(1)
		s.m.fromDisk.Set(0)
		return s.snapshotLoop(ctx)
	})
	if s.cfg.Mode == ModeServer {
		for _, c := range s.comps {
			g.Go(func() error {
				if err := c.Run(ctx); err != nil && ctx.Err() == nil {
					return fmt.Errorf("%s: %w", c.Name, err)
				}
				return nil
			})
		}
	}
	return loop.run(ctx)
}

// snapshotLoop writes the local snapshot once caught up, then at most
// every state.snapshot_interval while the set changes (and Run writes it
// at shutdown).
func (s *Service) snapshotLoop(ctx context.Context) error {
	if s.snapshotPath() == "" {
		return nil
	}
	notify, cancel := s.set.Subscribe()
	defer cancel()
	s.saveSnapshot()
	t := time.NewTicker(s.cfg.State.SnapshotInterval)
	defer t.Stop()
	var lastTook time.Duration
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-notify:
			s.snapshotDirty.Store(true)
		case <-t.C:
			// A large set takes a while to write: spend at most a quarter
			// of the time writing snapshots.
			dirty := s.snapshotDirty.Load()
			if dirty && time.Since(last) >= 4*lastTook {
				start := time.Now()
				s.saveSnapshot()
				last, lastTook = time.Now(), time.Since(start)
			} else if !dirty && s.snapshotSynced.Load() != 0 {
				// Nothing changed since the last write: the snapshot on
				// disk is as current as the set.
				s.snapshotSynced.Store(s.synced.Load())
			}
		}
	}
}
