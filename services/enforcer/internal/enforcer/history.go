package enforcer

import (
	"context"

	"golang.org/x/sync/errgroup"

	"github.com/mxwarden/mxwarden/services/enforcer/internal/history"
)

// startHistory starts the history writer when history.path or history.dsn
// is set: its own consumer group and goroutine, so ClickHouse being slow
// or down never holds up the ban set, the policy server or the maps.
func (s *Service) startHistory(ctx context.Context, g *errgroup.Group) {
	if !s.cfg.History.Enabled() {
		return
	}
	r := history.NewRunner(s.cfg.History, s.cfg.Kafka, s.logger, s.reg, s.kopts...)
	if s.http != nil {
		s.http.Handle(history.QueryPath, r.Handler())
	}
	g.Go(func() error { return r.Run(ctx) })
}
