package history

import (
	"context"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/kafka"
)

// Runner is the history component of the enforcer: it opens the store,
// migrates it, runs the Writer and serves QueryPath. Nothing it does
// blocks enforcement: a store that is down or refuses is retried with
// backoff in the background while the rest of the enforcer serves.
type Runner struct {
	cfg    Config
	logger *slog.Logger
	writer *Writer
	store  atomic.Pointer[storeBox]
	opened chan struct{}
}

type storeBox struct{ Store }

// NewRunner builds the component; Run starts it.
func NewRunner(cfg Config, kcfg kafka.Config, logger *slog.Logger, reg prometheus.Registerer, kopts ...kgo.Opt) *Runner {
	logger = logger.With("component", "history")
	r := &Runner{cfg: cfg, logger: logger, opened: make(chan struct{})}
	r.writer = NewWriter(cfg, kcfg, nil, logger, reg, kopts...)
	return r
}

// Opened is closed once the store is open and migrated.
func (r *Runner) Opened() <-chan struct{} { return r.opened }

// Run opens and migrates the store (retrying), then writes until ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	backoff := r.cfg.RetryMin
	var s Store
	for s == nil {
		st, err := Open(ctx, r.cfg, false)
		if err == nil {
			if _, err = Migrate(ctx, st, r.cfg.TTL, r.logger); err != nil {
				_ = st.Close()
			} else {
				s = st
				break
			}
		}
		r.writer.m.errors.Inc()
		r.logger.Warn("history store unavailable; retrying", "backoff", backoff.String(), "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, r.cfg.RetryMax)
	}
	defer func() {
		r.store.Store(nil) // readers see "not open" rather than a closed store
		_ = s.Close()
	}()
	r.store.Store(&storeBox{s})
	close(r.opened)
	r.writer.store = s
	for {
		err := r.writer.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		r.logger.Warn("history writer stopped; restarting", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(r.cfg.RetryMax):
		}
	}
}

// Store returns the open store, or nil until Run opened and migrated it.
// It is the one store of the process (the writer's), for the read side.
func (r *Runner) Store() Store {
	if b := r.store.Load(); b != nil {
		return b.Store
	}
	return nil
}

// Reader returns the read side over the runner's store.
func (r *Runner) Reader() *Reader {
	return &Reader{Store: r.Store, RO: ReadOnly{Timeout: r.cfg.QueryTimeout, MaxRows: r.cfg.QueryMaxRows}}
}

// Handler serves QueryPath (503 until the store is open).
func (r *Runner) Handler() http.Handler {
	ro := ReadOnly{Timeout: r.cfg.QueryTimeout, MaxRows: r.cfg.QueryMaxRows}
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b := r.store.Load()
		if b == nil {
			http.Error(w, "history store not open yet", http.StatusServiceUnavailable)
			return
		}
		Handler(b.Store, ro).ServeHTTP(w, req)
	})
}
