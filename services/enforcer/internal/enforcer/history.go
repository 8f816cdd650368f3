package enforcer

import (
	"context"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/desk"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/history"
)

// buildHistory makes the history component when history.path or
// history.dsn is set (New, before the desk: the desk reads through it).
func (s *Service) buildHistory() {
	if s.cfg.History.Enabled() {
		s.hist = history.NewRunner(s.cfg.History, s.cfg.Kafka, s.logger, s.reg, s.kopts...)
	}
}

// deskHistory is desk.History on the history store the writer uses (the
// embedded engine allows one store per process: the Runner's).
type deskHistory struct{ r *history.Reader }

func (h deskHistory) Events(ctx context.Context, b event.Ban, limit int) ([]event.DeliveryEvent, error) {
	return h.r.BanEvents(ctx, b, limit)
}

func (h deskHistory) Timeline(ctx context.Context, kind event.SubjectKind, subject string, limit int) ([]desk.TimelineEntry, error) {
	rows, err := h.r.Timeline(ctx, kind, subject, limit)
	if err != nil {
		return nil, err
	}
	out := make([]desk.TimelineEntry, len(rows))
	for i, r := range rows {
		out[i] = desk.TimelineEntry{TS: r.TS, What: r.What, Rule: r.Rule, Actor: r.Actor, Detail: r.Detail}
	}
	return out, nil
}

// deskReadTimeout bounds one staff-view history query (the desk waits at
// most its own 5 s for both).
const deskReadTimeout = 5 * time.Second

// startHistory starts the history writer when history.path or history.dsn
// is set: its own consumer group and goroutine, so ClickHouse being slow
// or down never holds up the ban set, the policy server or the maps.
func (s *Service) startHistory(ctx context.Context, g *errgroup.Group) {
	r := s.hist
	if r == nil {
		return
	}
	if s.http != nil {
		s.http.Handle(history.QueryPath, r.Handler())
	}
	g.Go(func() error { return r.Run(ctx) })
}
