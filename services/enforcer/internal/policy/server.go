package policy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/metrics"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/mta"
)

// Protocol limits.
const (
	// MaxLineLen bounds one request line, without its newline, in bytes.
	MaxLineLen = 4096
	// MaxAttrs bounds the attributes of one request. Postfix 3.7 sends
	// about 30.
	MaxAttrs = 100
	// writeTimeout bounds writing one answer.
	writeTimeout = 10 * time.Second
)

// Decisions: the values of the decision label.
const (
	DecisionReject   = "reject"
	DecisionDefer    = "defer"
	DecisionDunno    = "dunno"
	DecisionDeadline = "deadline" // answered DefaultAction: the lookup did not finish within Deadline
	DecisionError    = "error"
)

// Errors that end a connection.
var (
	// ErrLineTooLong: a request line exceeded MaxLineLen.
	ErrLineTooLong = errors.New("policy request line too long")
	// ErrTooManyAttrs: a request held more than MaxAttrs attributes.
	ErrTooManyAttrs = errors.New("too many policy request attributes")
	// ErrMalformed: a request line without '='.
	ErrMalformed = errors.New("malformed policy request line")
)

// Matcher finds the ban that applies to a request; *banset.Set is one.
// TryMatch is Match when it can run without waiting for a lock (locked
// reports whether it did).
type Matcher interface {
	Match(banset.Query) (event.Ban, bool)
	TryMatch(banset.Query) (b event.Ban, ok, locked bool)
}

// Config configures the server.
type Config struct {
	// Addr is the TCP listen address, e.g. "127.0.0.1:10031" (":0" picks a port).
	Addr string
	// MaxConns bounds the connections served at once (>= 1).
	MaxConns int
	// ReadTimeout bounds each read, including the wait for the next
	// request on an idle connection (> 0).
	ReadTimeout time.Duration
	// Unix is a unix-domain socket path served as well ("" none). A stale
	// socket file left by a crash is replaced; any other file there is an error.
	Unix string
	// UnixMode is the socket's permission bits (0 means 0666).
	UnixMode os.FileMode
	// Deadline bounds the time from a request's end to its answer; a
	// lookup still waiting for the ban set's lock then is answered with
	// DefaultAction (0 means 100ms).
	Deadline time.Duration
	// DefaultAction is that answer's action ("" means DUNNO).
	DefaultAction string
}

// Server is the policy server. Listen, then Serve.
type Server struct {
	cfg     Config
	matcher Matcher
	logger  *slog.Logger

	requests *prometheus.CounterVec
	latency  prometheus.Histogram
	conns    prometheus.Gauge
	closed   *prometheus.CounterVec

	lns   []net.Listener
	mu    sync.Mutex
	live  map[net.Conn]struct{}
	wg    sync.WaitGroup
	slots chan struct{}
}

// New builds a server answering from m, with its metrics in reg.
func New(cfg Config, m Matcher, logger *slog.Logger, reg prometheus.Registerer) (*Server, error) {
	if cfg.MaxConns < 1 {
		return nil, fmt.Errorf("policy max_conns %d < 1", cfg.MaxConns)
	}
	if cfg.ReadTimeout <= 0 {
		return nil, fmt.Errorf("policy read_timeout %s <= 0", cfg.ReadTimeout)
	}
	if cfg.Addr == "" && cfg.Unix == "" {
		return nil, errors.New("policy: neither a TCP address nor a unix socket")
	}
	if cfg.UnixMode == 0 {
		cfg.UnixMode = 0o666
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 100 * time.Millisecond
	}
	if cfg.DefaultAction == "" {
		cfg.DefaultAction = "DUNNO"
	}
	f := promauto.With(reg)
	s := &Server{
		cfg:     cfg,
		matcher: m,
		logger:  logger.With("component", "policy"),
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_policy_requests_total",
			Help: "Policy delegation requests, by decision (reject, defer, dunno, deadline, error).",
		}, []string{"decision"}),
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name:    "mxwarden_enforcer_policy_request_duration_seconds",
			Help:    "Time from a request's first line to its answer written.",
			Buckets: []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .1, 1},
		}),
		conns: f.NewGauge(prometheus.GaugeOpts{
			Name: "mxwarden_enforcer_policy_connections",
			Help: "Policy connections being served.",
		}),
		closed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "mxwarden_enforcer_policy_connections_closed_total",
			Help: "Policy connections closed, by reason (eof, timeout, too_long, too_many_attrs, malformed, shutdown, network, other).",
		}, []string{"reason"}),
		live:  make(map[net.Conn]struct{}),
		slots: make(chan struct{}, cfg.MaxConns),
	}
	for _, d := range []string{DecisionReject, DecisionDefer, DecisionDunno, DecisionDeadline, DecisionError} {
		s.requests.WithLabelValues(d)
	}
	return s, nil
}

// Listen binds the TCP address and the unix socket; Addr is valid afterwards.
func (s *Server) Listen() error {
	if len(s.lns) > 0 {
		return nil
	}
	if s.cfg.Addr != "" {
		ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", s.cfg.Addr, err)
		}
		s.lns = append(s.lns, ln)
	}
	if s.cfg.Unix != "" {
		ln, err := listenUnix(s.cfg.Unix, s.cfg.UnixMode)
		if err != nil {
			for _, l := range s.lns {
				_ = l.Close()
			}
			s.lns = nil
			return err
		}
		s.lns = append(s.lns, ln)
	}
	return nil
}

// listenUnix binds a unix socket at path, replacing a stale socket file.
func listenUnix(path string, mode os.FileMode) (net.Listener, error) {
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("listen unix %s: a file that is not a socket is in the way", path)
		}
		if c, err := (&net.Dialer{Timeout: time.Second}).DialContext(context.Background(), "unix", path); err == nil {
			_ = c.Close()
			return nil, fmt.Errorf("listen unix %s: another process serves it", path)
		}
		_ = os.Remove(path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("listen unix %s: %w", path, err)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen unix %s: %w", path, err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, mode); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}

// Addr returns the bound TCP address, or the configured one before Listen.
func (s *Server) Addr() string {
	for _, ln := range s.lns {
		if ln.Addr().Network() == "tcp" {
			return ln.Addr().String()
		}
	}
	return s.cfg.Addr
}

// UnixPath returns the unix socket's path ("" when none).
func (s *Server) UnixPath() string { return s.cfg.Unix }

// Serve accepts connections until ctx ends, then closes the listeners and
// every connection and waits for their goroutines. It returns nil on a
// clean shutdown. It calls Listen when that was not done.
func (s *Server) Serve(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	for _, ln := range s.lns {
		s.logger.Info("policy server listening", "network", ln.Addr().Network(), "addr", ln.Addr().String())
	}
	stop := context.AfterFunc(ctx, func() {
		for _, ln := range s.lns {
			_ = ln.Close()
		}
		s.mu.Lock()
		for c := range s.live {
			_ = c.Close()
		}
		s.mu.Unlock()
	})
	defer stop()
	defer s.wg.Wait()
	errc := make(chan error, len(s.lns))
	for _, ln := range s.lns {
		go func() { errc <- s.accept(ctx, ln) }()
	}
	var first error
	for range s.lns {
		if err := <-errc; err != nil && first == nil {
			first = err
			for _, ln := range s.lns {
				_ = ln.Close()
			}
		}
	}
	return first
}

// accept serves one listener; the connection slots are shared.
func (s *Server) accept(ctx context.Context, ln net.Listener) error {
	for {
		// Take a slot before accepting: past MaxConns, connections wait in
		// the kernel's backlog instead of being accepted and dropped.
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return nil
		}
		c, err := ln.Accept()
		if err != nil {
			<-s.slots
			if ctx.Err() != nil {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			return fmt.Errorf("accept policy connection: %w", err)
		}
		s.mu.Lock()
		if ctx.Err() != nil {
			s.mu.Unlock()
			_ = c.Close()
			<-s.slots
			return nil
		}
		s.live[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() { <-s.slots }()
			s.serveConn(ctx, c)
		}()
	}
}

func (s *Server) serveConn(ctx context.Context, c net.Conn) {
	s.conns.Inc()
	defer s.conns.Dec()
	defer func() {
		s.mu.Lock()
		delete(s.live, c)
		s.mu.Unlock()
		_ = c.Close()
	}()
	// One byte more than MaxLineLen for the '\n': ReadSlice fails with
	// ErrBufferFull on a longer line, so a line is never held whole.
	r := bufio.NewReaderSize(c, MaxLineLen+1)
	for {
		q, start, err := s.readRequest(c, r)
		if err != nil {
			reason := closeReason(ctx, err)
			s.closed.WithLabelValues(reason).Inc()
			if start != (time.Time{}) {
				// A request had begun: it gets no answer.
				s.requests.WithLabelValues(DecisionError).Inc()
			}
			switch reason {
			case "too_long", "too_many_attrs", "malformed":
				// Not something Postfix sends: a misconfigured or hostile client.
				s.logger.Warn("policy connection closed", "remote", c.RemoteAddr().String(), "reason", reason, "err", err)
			case "eof", "shutdown":
			default:
				s.logger.Debug("policy connection closed", "remote", c.RemoteAddr().String(), "reason", reason, "err", err)
			}
			return
		}
		answer, decision := s.decide(q)
		_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
		if _, err := io.WriteString(c, answer); err != nil {
			s.requests.WithLabelValues(DecisionError).Inc()
			s.closed.WithLabelValues(closeReason(ctx, err)).Inc()
			return
		}
		s.requests.WithLabelValues(decision).Inc()
		s.latency.Observe(time.Since(start).Seconds())
	}
}

// readRequest reads one request. start is when its first bytes arrived
// (zero if none did).
func (s *Server) readRequest(c net.Conn, r *bufio.Reader) (q banset.Query, start time.Time, err error) {
	attrs := 0
	// The wait for a request's first line, and then the whole rest of the
	// request, each get ReadTimeout: a client trickling bytes cannot hold
	// a connection longer than that per request.
	_ = c.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			if len(line) > 0 && start.IsZero() {
				start = time.Now() // a request had begun
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				err = ErrLineTooLong
			} else if errors.Is(err, io.EOF) && (len(line) > 0 || attrs > 0) {
				err = io.ErrUnexpectedEOF
			}
			return q, start, err
		}
		if start.IsZero() {
			start = time.Now()
			_ = c.SetReadDeadline(start.Add(s.cfg.ReadTimeout))
		}
		line = bytes.TrimSuffix(line[:len(line)-1], []byte{'\r'})
		if len(line) == 0 {
			if attrs == 0 {
				// A stray empty line before any attribute: not a request.
				start = time.Time{}
				_ = c.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
				continue
			}
			return q, start, nil
		}
		attrs++
		if attrs > MaxAttrs {
			return q, start, ErrTooManyAttrs
		}
		name, value, ok := bytes.Cut(line, []byte{'='})
		if !ok {
			return q, start, ErrMalformed
		}
		switch string(name) {
		case "sender":
			q.Sender = normalize(value)
		case "sasl_username":
			q.Account = strings.ToLower(string(value))
		case "client_address":
			q.ClientIP = strings.ToLower(string(value))
		case "recipient":
			q.Recipient = normalize(value)
		}
	}
}

func normalize(v []byte) string { return event.NormalizeAddress(string(v)) }

// decide returns the answer to q and its decision label. The lookup runs
// at once when the ban set's read lock is free (the common case); when a
// writer holds it, it runs aside and the answer waits at most Deadline,
// then is DefaultAction.
func (s *Server) decide(q banset.Query) (string, string) {
	b, ok, locked := s.matcher.TryMatch(q)
	if !locked {
		type result struct {
			b  event.Ban
			ok bool
		}
		done := make(chan result, 1)
		go func() {
			b, ok := s.matcher.Match(q)
			done <- result{b, ok}
		}()
		t := time.NewTimer(s.cfg.Deadline)
		select {
		case r := <-done:
			t.Stop()
			b, ok = r.b, r.ok
		case <-t.C:
			return "action=" + s.cfg.DefaultAction + "\n\n", DecisionDeadline
		}
	}
	return Answer(b, ok)
}

// Answer is the policy answer for a match: REJECT <message> for a ban,
// DEFER_IF_PERMIT <message> for a defer, else DUNNO; the message is
// sanitised to one line of printable ASCII (mta.SanitizeMessage).
func Answer(b event.Ban, ok bool) (string, string) {
	if !ok {
		return "action=DUNNO\n\n", DecisionDunno
	}
	if b.Action == event.ActionDefer {
		return "action=DEFER_IF_PERMIT " + mta.SanitizeMessage(b.Message) + "\n\n", DecisionDefer
	}
	return "action=REJECT " + mta.SanitizeMessage(b.Message) + "\n\n", DecisionReject
}

func closeReason(ctx context.Context, err error) string {
	var ne net.Error
	switch {
	case ctx.Err() != nil:
		return "shutdown"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, ErrLineTooLong):
		return "too_long"
	case errors.Is(err, ErrTooManyAttrs):
		return "too_many_attrs"
	case errors.Is(err, ErrMalformed):
		return "malformed"
	case errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	}
	if metrics.ClassifyError(err) == metrics.ErrClassNetwork {
		return "network"
	}
	return "other"
}
