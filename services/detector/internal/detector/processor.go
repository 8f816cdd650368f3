package detector

import (
	"fmt"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/ban"
	"github.com/mxwarden/mxwarden/services/detector/internal/dedup"
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

// DedupSlack is added to the longest rule window to get how long (in
// event time, behind the watermark) a Processor remembers an event id. A
// repeat older than the longest window is late for every rule, so it could
// not be counted twice anyway; the slack is only a margin.
const DedupSlack = 5 * time.Minute

// Processor runs the rules and the ban ledger over one ordered stream of
// events: a partition in `detector run`, the whole input in `detector
// replay`. Its state lives in memory only: persisting it across restarts
// (a changelog or a checkpoint holding the input offset) is a later
// issue, so a restarted detector rebuilds its windows from the events it
// consumes after the committed offsets.
//
// Deduplication. Delivery into mail.events is at least once: after a
// crash, ingest produces some events again, with the same id. A Processor
// ignores an event whose (non-empty) id it has already processed, within
// the bounds of dedup.max_ids and the longest rule window plus DedupSlack
// (see package dedup). The bounds depend only on the input order, so a
// replay drops the same repeats.
//
// A Processor is not safe for concurrent use.
type Processor struct {
	rules  []rules.Rule
	ledger *ban.Ledger
	seen   *dedup.Set // nil when dedup.max_ids is 0

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
	p := &Processor{rules: rs, ledger: ledger, now: now, maxFuture: cfg.MaxFutureSkew}
	if cfg.Dedup.MaxIDs > 0 {
		if p.seen, err = dedup.New(cfg.Dedup.MaxIDs, cfg.Rules.MaxWindow()+DedupSlack); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Rules returns the enabled rules, in evaluation order.
func (p *Processor) Rules() []rules.Rule { return p.rules }

// Watermark is the latest event time processed.
func (p *Processor) Watermark() time.Time { return p.watermark }

// Process runs ev through every rule, in order, and appends the verdicts
// and the bans they make to out. It returns false, and changes nothing,
// for a repeat of an event already processed (same non-empty id), and
// ErrFutureEvent (changing nothing either) for an event too far ahead of
// the wall clock.
func (p *Processor) Process(ev *event.DeliveryEvent, out *Output) (bool, error) {
	if p.maxFuture > 0 && ev.TS.After(p.horizon) {
		// now only moves forward, so the horizon computed at the last
		// read is a safe lower bound and most events skip the clock.
		p.horizon = p.now().Add(p.maxFuture)
		if ev.TS.After(p.horizon) {
			return false, fmt.Errorf("%w: %s is more than %s ahead of the clock", ErrFutureEvent, ev.TS.UTC().Format(time.RFC3339), p.maxFuture)
		}
	}
	if p.seen != nil && p.seen.Seen(ev.ID, ev.TS) {
		// The first time it was processed it moved the watermark to
		// at least its time: skipping it leaves nothing behind.
		return false, nil
	}
	if ev.TS.After(p.watermark) {
		p.watermark = ev.TS
		if p.seen != nil {
			p.seen.Expire(p.watermark)
		}
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
	return true, nil
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

// Dedup returns the id memory's size and totals (zero when deduplication
// is off).
func (p *Processor) Dedup() dedup.Stats {
	if p.seen == nil {
		return dedup.Stats{}
	}
	return p.seen.Stats()
}
