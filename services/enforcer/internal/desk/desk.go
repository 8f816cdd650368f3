package desk

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
)

//go:embed templates/*.html static/desk.css
var assets embed.FS

// History is the optional read side of ClickHouse history. When the
// enforcer has history configured it passes one; the staff view then
// shows the delivery events behind a ban and the subject's full past.
// Without it the view shows what the ban record itself holds.
type History interface {
	// Events returns up to limit delivery events behind b: of its subject,
	// within its window, from its first to its last event id.
	Events(ctx context.Context, b event.Ban, limit int) ([]event.DeliveryEvent, error)
	// Timeline returns up to limit entries of the subject's past (verdicts,
	// bans, unbans, allowlist changes, disputes), newest first.
	Timeline(ctx context.Context, kind event.SubjectKind, subject string, limit int) ([]TimelineEntry, error)
}

// TimelineEntry is one moment in a subject's past.
type TimelineEntry struct {
	TS time.Time
	// What happened: "verdict", "ban", "unban", "allow", "disallow",
	// "dispute", "window start", "expires".
	What   string
	Rule   string
	Actor  string
	Detail string
}

// Deps is what the desk works with.
type Deps struct {
	// Backend answers lookups and makes changes (api.Local in-process).
	Backend api.Backend
	// Auth checks staff tokens; nil disables the staff view.
	Auth *api.Authenticator
	// History is optional (nil: none).
	History History
	// Kafka is the cluster and topic names (kafka.topics.disputes).
	Kafka kafka.Config
	// KafkaOpts are appended to the client's options (tests).
	KafkaOpts []kgo.Opt
	Logger    *slog.Logger
	Registry  prometheus.Registerer
	// Now is the clock (default time.Now).
	Now func() time.Time
	// ProduceTimeout bounds the wait for Kafka to acknowledge a dispute
	// (default 10s; the enforcer passes api.produce_timeout).
	ProduceTimeout time.Duration
}

// Server is the abuse desk: the public lookup page and the staff view.
type Server struct {
	cfg      Config
	d        Deps
	logger   *slog.Logger
	now      func() time.Time
	trusted  []netip.Prefix
	pages    map[string]*template.Template
	mux      *http.ServeMux
	lookups  *limiter
	filings  *limiter
	disputes *disputes
	sessions *sessions
	m        metrics

	prodMu   sync.RWMutex
	producer api.Producer

	ln      net.Listener
	started chan struct{}
}

type metrics struct {
	requests   *prometheus.CounterVec
	limited    *prometheus.CounterVec
	filed      *prometheus.CounterVec
	changes    *prometheus.CounterVec
	historyErr prometheus.Counter
}

// New builds the desk; it binds nothing (Run does).
func New(cfg Config, d Deps) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Backend == nil {
		return nil, errors.New("desk: no backend")
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.ProduceTimeout <= 0 {
		d.ProduceTimeout = 10 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Registry == nil {
		d.Registry = prometheus.NewRegistry()
	}
	trusted, _ := parsePrefixes(cfg.TrustedProxies)
	s := &Server{
		cfg: cfg, d: d, logger: d.Logger.With("component", "desk"), now: d.Now, trusted: trusted,
		mux:      http.NewServeMux(),
		lookups:  newLimiter(cfg.LookupsPerMinute/60, cfg.LookupBurst, d.Now),
		filings:  newLimiter(cfg.DisputesPerHour/3600, max(1, int(math.Ceil(cfg.DisputesPerHour))), d.Now),
		sessions: newSessions(cfg.SessionTTL, d.Now),
		started:  make(chan struct{}),
	}
	f := promauto.With(d.Registry)
	s.m = metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_desk_requests_total",
			Help: "Abuse desk requests, by page and status code.",
		}, []string{"page", "code"}),
		limited: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_desk_rate_limited_total",
			Help: "Abuse desk requests refused with 429 because their client IP was over its rate, by what was limited (lookup, dispute, login).",
		}, []string{"what"}),
		filed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_desk_disputes_total",
			Help: "Dispute form submissions, by result (filed, refused: invalid input or nothing to dispute, unavailable: Kafka did not acknowledge).",
		}, []string{"result"}),
		changes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_desk_changes_total",
			Help: "Changes asked for in the staff view, by change (unban, allow, extend, close) and result (done, refused, forbidden, error).",
		}, []string{"change", "result"}),
		historyErr: f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_desk_history_errors_total",
			Help: "History queries of the staff view that failed (the view falls back to the ban's own evidence).",
		}),
	}
	for _, w := range []string{"lookup", "dispute", "login"} {
		s.m.limited.WithLabelValues(w)
	}
	for _, r := range []string{"filed", "refused", "unavailable"} {
		s.m.filed.WithLabelValues(r)
	}
	s.disputes = newDisputes(cfg.MaxOpenDisputes,
		f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_desk_disputes_dropped_total",
			Help: "Open disputes dropped from memory past desk.max_open_disputes (still in Kafka and history).",
		}),
		f.NewCounter(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_desk_dispute_records_rejected_total",
			Help: "Records of the disputes topic that did not decode or validate.",
		}))
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "mxwarden_enforcer_desk_disputes_open",
		Help: "Disputes waiting for staff.",
	}, func() float64 { return float64(s.disputes.openCount()) })
	if err := s.parseTemplates(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

func (s *Server) parseTemplates() error {
	funcs := template.FuncMap{
		"show":     func(n int, v string) string { return Display(v, n) },
		"when":     func(t time.Time) string { return formatTime(t) },
		"whenopt":  func(t event.OptTime) string { return formatTime(t.Time) },
		"duration": humanDuration,
		"lines":    func(s string) []string { return strings.Split(strings.ReplaceAll(s, "\r\n", "\n"), "\n") },
	}
	names, err := fs.Glob(assets, "templates/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(assets, "templates/layout.html", n)
		if err != nil {
			return fmt.Errorf("desk template %s: %w", base, err)
		}
		s.pages[strings.TrimSuffix(base, ".html")] = t
	}
	return nil
}

// Handler returns the desk's HTTP handler.
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP implements http.Handler: security headers, then the routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) routes() {
	page := func(pattern, name string, f http.HandlerFunc) {
		for _, c := range []string{"200", "303", "400", "403", "404", "429", "503"} {
			s.m.requests.WithLabelValues(name, c)
		}
		s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cw := &codeWriter{ResponseWriter: w, code: 200}
			f(cw, r)
			s.m.requests.WithLabelValues(name, fmt.Sprint(cw.code)).Inc()
		}))
	}
	css, _ := assets.ReadFile("static/desk.css")
	s.mux.HandleFunc("GET /static/desk.css", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "public, max-age=3600")
		_, _ = w.Write(css)
	})
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/lookup", http.StatusSeeOther)
	})
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	page("GET /lookup", "lookup", s.lookup)
	page("POST /dispute", "dispute", s.dispute)
	page("GET /staff/login", "login", s.loginForm)
	page("POST /staff/login", "login", s.login)
	page("POST /staff/logout", "logout", s.logout)
	page("GET /staff", "staff", s.staff)
	page("GET /staff/ban", "ban", s.ban)
	page("POST /staff/unban", "change", s.change("unban"))
	page("POST /staff/allow", "change", s.change("allow"))
	page("POST /staff/extend", "change", s.change("extend"))
	page("POST /staff/close", "change", s.change("close"))
}

type codeWriter struct {
	http.ResponseWriter
	code int
}

func (c *codeWriter) WriteHeader(code int) {
	c.code = code
	c.ResponseWriter.WriteHeader(code)
}

// render writes page name with data under code.
func (s *Server) render(w http.ResponseWriter, code int, name string, data any) {
	t := s.pages[name]
	var b strings.Builder
	if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
		s.logger.Error("render page", "page", name, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
}

// Run listens on desk.addr, connects to Kafka (producing disputes and
// reading them back) and serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(ctx); err != nil {
		return err
	}
	opts, err := kafka.BuildOpts(s.d.Kafka, s.logger)
	if err != nil {
		return err
	}
	opts = append(opts,
		kgo.ConsumeTopics(s.d.Kafka.Topics.Disputes),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	)
	opts = append(opts, s.d.KafkaOpts...)
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("desk kafka client: %w", err)
	}
	defer cl.Close()
	s.prodMu.Lock()
	s.producer = api.KafkaProducer{Client: cl}
	s.prodMu.Unlock()

	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 32 << 10}
	errc := make(chan error, 2)
	go func() { errc <- s.disputes.consume(ctx, cl, s.logger) }()
	go func() {
		if err := srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- err
			return
		}
		errc <- nil
	}()
	s.logger.Info("abuse desk listening", "url", s.BaseURL()+"/lookup", "staff", s.BaseURL()+"/staff")
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return err
}

// Listen binds desk.addr (Run calls it when it was not called before).
func (s *Server) Listen(ctx context.Context) error {
	if s.ln != nil {
		return nil
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("desk listen %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	close(s.started)
	return nil
}

// Started is closed once the desk is bound (Addr is valid).
func (s *Server) Started() <-chan struct{} { return s.started }

// Addr returns the bound address ("" before Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// BaseURL is desk.public_url, or http://<bound address>.
func (s *Server) BaseURL() string {
	if s.cfg.PublicURL != "" {
		return strings.TrimSuffix(s.cfg.PublicURL, "/")
	}
	return "http://" + s.Addr()
}

func (s *Server) getProducer() api.Producer {
	s.prodMu.RLock()
	defer s.prodMu.RUnlock()
	return s.producer
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
