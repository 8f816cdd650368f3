package enforcer

import (
	"context"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/services/enforcer/internal/mta"
)

// Retry pauses after a failed map write.
const (
	minWriteRetry = time.Second
	maxWriteRetry = 30 * time.Second
)

// mapLoop rewrites the map files when the ban set changes (debounced) and
// when a ban expires, and retries failed writes with backoff. It also
// sweeps expired bans out of the set and prints them.
type mapLoop struct {
	s       *Service
	notify  <-chan struct{}
	cancel  func()
	backoff time.Duration
	retry   bool // the last flush failed
	// reloadDue: the Postfix reload is owed (it failed, or came too soon
	// after the last one); reloadIn is when to try again.
	reloadDue  bool
	reloadIn   time.Duration
	lastReload time.Time
}

// minReloadInterval is the shortest time between two runs of maps.postfix_reload.
const minReloadInterval = time.Second

func newMapLoop(s *Service) *mapLoop {
	notify, cancel := s.set.Subscribe()
	return &mapLoop{s: s, notify: notify, cancel: cancel}
}

// flush sweeps expired bans, then writes a snapshot to every writer.
// announce says whether to print the swept bans: not at the first flush,
// whose sweep removes bans that expired before this process started.
func (l *mapLoop) flush(ctx context.Context, announce bool) {
	s := l.s
	for _, c := range s.set.Expire() {
		if announce && s.printer != nil {
			s.printer.Expired(c)
		}
	}
	// Drain the pending notification before the snapshot: a change after
	// this point notifies again and is written by the next flush.
	select {
	case <-l.notify:
	default:
	}
	if len(s.writers) == 0 {
		return
	}
	snap := s.set.Snapshot()
	failed, postfixChanged := false, false
	for _, w := range s.writers {
		gen := w.Generation()
		if err := w.Write(ctx, snap); err != nil {
			if ctx.Err() != nil {
				return
			}
			failed = true
			s.logger.Error("write map", "component", "map_writer", "path", w.Path(), "err", err)
		}
		if w.Generation() != gen && w.Format() == mta.Postfix {
			postfixChanged = true
		}
	}
	if reload := strings.Fields(s.cfg.Maps.PostfixReload); len(reload) > 0 && (postfixChanged || l.reloadDue) {
		// A reload restarts Postfix's daemons: at most one per
		// minReloadInterval, the rest folded into the next.
		if wait := minReloadInterval - time.Since(l.lastReload); wait > 0 {
			l.reloadDue = true
			l.retry = failed
			l.reloadIn = wait
			return
		}
		l.reloadDue, l.lastReload = false, time.Now()
		if err := mta.RunCommand(ctx, reload, ""); err != nil && ctx.Err() == nil {
			failed, l.reloadDue = true, true
			s.logger.Error("reload postfix after a map change", "component", "map_writer", "err", err)
		}
	}
	l.retry = failed
}

// run loops until ctx ends; the first flush has been done by the caller.
func (l *mapLoop) run(ctx context.Context) error {
	defer l.cancel()
	s := l.s
	var debounce, expiry, retry *time.Timer
	stop := func(t *time.Timer) {
		if t != nil {
			t.Stop()
		}
	}
	defer func() { stop(debounce); stop(expiry); stop(retry) }()
	c := func(t *time.Timer) <-chan time.Time {
		if t == nil {
			return nil
		}
		return t.C
	}
	after := func() {
		// Re-arm the expiry and retry timers from the state after a flush.
		stop(expiry)
		expiry = nil
		if next, ok := s.set.NextExpiry(); ok {
			expiry = time.NewTimer(max(next.Sub(s.now()), 0))
		}
		stop(retry)
		retry = nil
		reloadIn := l.reloadIn
		l.reloadIn = 0
		if reloadIn > 0 && !l.retry {
			retry = time.NewTimer(reloadIn)
		} else if l.retry {
			l.backoff = min(max(2*l.backoff, minWriteRetry), maxWriteRetry)
			retry = time.NewTimer(l.backoff)
		} else {
			l.backoff = 0
		}
	}
	after()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-l.notify:
			if s.cfg.Maps.Debounce <= 0 {
				l.flush(ctx, true)
				after()
			} else if debounce == nil {
				// Not reset by later changes: a steady stream of bans
				// still gets written every Debounce.
				debounce = time.NewTimer(s.cfg.Maps.Debounce)
			}
		case <-c(debounce):
			debounce = nil
			l.flush(ctx, true)
			after()
		case <-c(expiry):
			expiry = nil
			l.flush(ctx, true)
			after()
		case <-c(retry):
			retry = nil
			l.flush(ctx, true)
			after()
		}
	}
}
