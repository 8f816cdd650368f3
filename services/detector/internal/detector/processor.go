package detector

import (
	"fmt"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/ban"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

// Output collects what processing events produced, in order.
type Output struct {
	Verdicts []event.Verdict
	Bans     []event.Ban
}

// Reset empties o, keeping its capacity.
func (o *Output) Reset() {
	clear(o.Verdicts)
	clear(o.Bans)
	o.Verdicts, o.Bans = o.Verdicts[:0], o.Bans[:0]
}

// Processor runs the rules and the ban ledger over one ordered stream of
// events: a partition in `detector run`, the whole input in `detector
// replay`. Its state lives in memory only: persisting it across restarts
// (a changelog or a checkpoint holding the input offset) is a later
// issue, so a restarted detector rebuilds its windows from the events it
// consumes after the committed offsets.
//
// A Processor is not safe for concurrent use.
type Processor struct {
	rules  []rules.Rule
	ledger *ban.Ledger

	now       func() time.Time
	maxFuture time.Duration
	horizon   time.Time // events up to here pass the future check without reading now
	watermark time.Time
}

// NewProcessor builds the rules of cfg over a fresh ledger. now is the wall
// clock, read only to refuse events from the future (see MaxFutureSkew).
func NewProcessor(cfg Config, now func() time.Time) (*Processor, error) {
	ledger := ban.NewLedger(cfg.Ban)
	rs, err := rules.New(cfg.Rules, rules.Env{TicketURL: cfg.TicketURL, Gate: ledger})
	if err != nil {
		return nil, fmt.Errorf("build rules: %w", err)
	}
	return &Processor{rules: rs, ledger: ledger, now: now, maxFuture: cfg.MaxFutureSkew}, nil
}

// Rules returns the enabled rules, in evaluation order.
func (p *Processor) Rules() []rules.Rule { return p.rules }

// Watermark is the latest event time processed.
func (p *Processor) Watermark() time.Time { return p.watermark }

// Process runs ev through every rule, in order, and appends the verdicts
// and the bans they make to out. It returns ErrFutureEvent (and changes
// nothing) for an event too far ahead of the wall clock.
func (p *Processor) Process(ev *event.DeliveryEvent, out *Output) error {
	if p.maxFuture > 0 && ev.TS.After(p.horizon) {
		// now only moves forward, so the horizon computed at the last
		// read is a safe lower bound and most events skip the clock.
		p.horizon = p.now().Add(p.maxFuture)
		if ev.TS.After(p.horizon) {
			return fmt.Errorf("%w: %s is more than %s ahead of the clock", ErrFutureEvent, ev.TS.UTC().Format(time.RFC3339), p.maxFuture)
		}
	}
	if ev.TS.After(p.watermark) {
		p.watermark = ev.TS
	}
	p.ledger.Advance(p.watermark)
	for _, r := range p.rules {
		n := len(out.Verdicts)
		out.Verdicts = r.Observe(ev, out.Verdicts)
		for i := n; i < len(out.Verdicts); i++ {
			if b, ok := p.ledger.Apply(&out.Verdicts[i]); ok {
				out.Bans = append(out.Bans, b)
			}
		}
	}
	return nil
}

// RuleStats are one rule's totals in one Processor.
type RuleStats struct {
	Rule       string
	Tracked    int    // subjects with state now
	Late       uint64 // events ignored as older than the window, so far
	Suppressed uint64 // crossings suppressed by a verdict in force, so far
}

// Stats returns each rule's totals, in rule order.
func (p *Processor) Stats() []RuleStats {
	out := make([]RuleStats, len(p.rules))
	for i, r := range p.rules {
		s := r.Stats()
		out[i] = RuleStats{Rule: r.Code(), Tracked: s.Tracked, Late: s.Late, Suppressed: p.ledger.SuppressedTotal(r.Code())}
	}
	return out
}
