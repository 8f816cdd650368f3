// Package metrics holds the Prometheus registry and the small HTTP server
// (/metrics, /healthz, /readyz) every service runs, plus ClassifyError,
// which maps errors onto a fixed set of label values.
//
// Cardinality: no metric carries a per-sender or per-recipient label. Label
// values come from fixed sets (rule codes, line kinds, error classes).
package metrics

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Server serves /metrics, /healthz (the process runs) and /readyz (the
// service said it is ready, see SetReady).
type Server struct {
	addr   string
	mux    *http.ServeMux
	ready  atomic.Bool
	logger *slog.Logger
	ln     net.Listener
}

// NewServer builds a server on addr ("127.0.0.1:9100"; ":0" picks a port).
// Extra handlers can be added with Handle before Run.
func NewServer(addr string, reg *prometheus.Registry, logger *slog.Logger) *Server {
	s := &Server{addr: addr, mux: http.NewServeMux(), logger: logger}
	s.mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	s.mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok\n")
	})
	s.mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !s.ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "ready\n")
	})
	return s
}

// Handle adds a handler to the server's mux.
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// SetReady flips /readyz.
func (s *Server) SetReady(ok bool) { s.ready.Store(ok) }

// Listen binds the address; Addr is valid afterwards. Run calls it if needed.
func (s *Server) Listen() error {
	if s.ln != nil {
		return nil
	}
	// Binding is immediate; there is nothing for a context to bound.
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", s.addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", s.addr, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (after Listen).
func (s *Server) Addr() string {
	if s.ln == nil {
		return s.addr
	}
	return s.ln.Addr().String()
}

// Run serves until ctx ends, then shuts down within 5 s.
func (s *Server) Run(ctx context.Context) error {
	if s.addr == "" {
		<-ctx.Done()
		return nil
	}
	if err := s.Listen(); err != nil {
		return err
	}
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(s.ln) }()
	s.logger.Info("http listening", "addr", s.Addr())
	select {
	case err := <-errc:
		return fmt.Errorf("serve http: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	return nil
}

// Error classes: the only values ClassifyError returns.
const (
	ErrClassNone     = "none"
	ErrClassCanceled = "canceled"
	ErrClassTimeout  = "timeout"
	ErrClassNetwork  = "network"
	ErrClassNotFound = "not_found"
	ErrClassOther    = "other"
)

// ClassifyError maps err onto a bounded label value.
func ClassifyError(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ErrClassNone
	case errors.Is(err, context.Canceled):
		return ErrClassCanceled
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded):
		return ErrClassTimeout
	case errors.Is(err, os.ErrNotExist):
		return ErrClassNotFound
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return ErrClassNetwork
	case errors.As(err, &ne):
		if ne.Timeout() {
			return ErrClassTimeout
		}
		return ErrClassNetwork
	}
	return ErrClassOther
}
