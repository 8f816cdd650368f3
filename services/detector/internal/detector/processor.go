package detector

import (
	"fmt"
	"slices"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/ban"
	"github.com/mxwarden/mxwarden/services/detector/internal/dedup"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// Output collects what processing produced, in order.
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
// event time, behind the watermark) a Processor remembers an event id.
const DedupSlack = 5 * time.Minute

// Processor runs one stage's rules over one ordered stream of inputs: a
// partition in `detector run`, the whole input in `detector replay`. It
// owns what every rule shares:
//
//   - the clock: the watermark is the newest event time seen; tables sweep
//     idle keys on it. A rule's windows run on its key's own newest event,
//     so a key's verdicts do not depend on which other keys share the
//     partition (1 or 6 partitions give the same bans).
//   - the state: one state.Table per key kind holding every rule's slots
//     for that kind.
//   - deduplication of repeated event ids (delivery into mail.events is at
//     least once), within dedup.max_ids and the longest window plus DedupSlack.
//   - the allowlist (config and the mail.allowlist topic), which always wins.
//   - the ban ledger: silence while a verdict is in force, TTL, escalation.
//   - shadow mode, and building the verdict (id, window, event ids, evidence).
//   - lookups rules await (Crossing.Await): started without blocking,
//     answered through Resolve.
//
// A Processor is not safe for concurrent use.
type Processor struct {
	stage  rules.Stage
	runs   []ruleRun
	kinds  []event.SubjectKind // one table per kind, in first-declared order
	tables []*state.Table      // nil for a kind whose rules declare no slots
	byKind [][]int             // runs per table, in registry order

	ledger   *ban.Ledger
	seen     *dedup.Set // nil when dedup.max_ids is 0
	allow    Allowlist
	resolver rules.Resolver
	pending  map[rules.Lookup][]pending

	now       func() time.Time
	maxFuture time.Duration
	horizon   time.Time
	maxLate   time.Duration // longest window plus DedupSlack
	watermark time.Time
	persist   bool

	restoredMeta []byte      // see Restore
	in           rules.Input // the input being processed
}

type ruleRun struct {
	r       rules.Rule
	info    rules.Info
	keyer   rules.Keyer
	awaiter rules.Awaiter
	table   int
	stats   RuleStats
}

type pending struct {
	run int
	key string
	ts  time.Time
	id  string
	ev  *event.DeliveryEvent
}

// Options are the parts of a Processor that come from outside its input.
type Options struct {
	// Now is the wall clock, read only to refuse events from the future.
	Now func() time.Time
	// Allow is the allowlist; nil means the configuration's entries only.
	Allow Allowlist
	// Resolver starts the lookups rules await; nil answers every lookup
	// at once with result "error" (no outside access).
	Resolver rules.Resolver
	// Persist makes the tables record changed keys for Flush (the
	// service's changelog); replay leaves it off.
	Persist bool

	extra []rules.Section // tests: rules outside the registry, built after it
}

// NewProcessor builds stage's enabled rules of cfg over fresh state.
func NewProcessor(cfg Config, stage rules.Stage, opts Options) (*Processor, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	p := &Processor{
		stage: stage, ledger: ban.NewLedger(cfg.Ban), now: opts.Now, maxFuture: cfg.MaxFutureSkew,
		allow: opts.Allow, resolver: opts.Resolver, pending: map[rules.Lookup][]pending{}, persist: opts.Persist,
	}
	if opts.Persist {
		p.ledger.Track()
	}
	if p.allow == nil {
		a, err := NewAllow(cfg.Allowlist)
		if err != nil {
			return nil, err
		}
		p.allow = a
	}
	layouts := map[event.SubjectKind]*state.Layout{}
	var lerr error
	env := rules.Env{TicketURL: cfg.TicketURL, Layout: func(k event.SubjectKind) *state.Layout {
		if l, ok := layouts[k]; ok {
			return l
		}
		l, err := state.NewLayout(cfg.State.BucketWidth)
		if err != nil {
			lerr = err
			l, _ = state.NewLayout(state.MinWidth)
		}
		layouts[k] = l
		if !slices.Contains(p.kinds, k) {
			p.kinds = append(p.kinds, k)
		}
		return l
	}}
	rs, err := rules.New(cfg.Rules, env, cfg.State.BucketWidth)
	if err != nil {
		return nil, fmt.Errorf("build rules: %w", err)
	}
	for _, sec := range opts.extra {
		r, err := sec.Build(env)
		if err != nil {
			return nil, err
		}
		rs = append(rs, r)
	}
	if lerr != nil {
		return nil, lerr
	}
	var maxWindow time.Duration
	for _, r := range rs {
		info := r.Info()
		maxWindow = max(maxWindow, info.Window)
		if info.Stage != stage {
			continue
		}
		if !slices.Contains(p.kinds, info.Kind) {
			p.kinds = append(p.kinds, info.Kind)
		}
		run := ruleRun{r: r, info: info, table: slices.Index(p.kinds, info.Kind)}
		run.stats.Rule = info.Code
		run.keyer, _ = r.(rules.Keyer)
		run.awaiter, _ = r.(rules.Awaiter)
		p.runs = append(p.runs, run)
	}
	p.tables = make([]*state.Table, len(p.kinds))
	p.byKind = make([][]int, len(p.kinds))
	for i, k := range p.kinds {
		if l := layouts[k]; l != nil && !l.Empty() {
			p.tables[i] = state.NewTable(l, opts.Persist)
		}
	}
	for i := range p.runs {
		p.byKind[p.runs[i].table] = append(p.byKind[p.runs[i].table], i)
	}
	p.maxLate = maxWindow + DedupSlack
	if cfg.Dedup.MaxIDs > 0 && stage == rules.StageSender {
		if p.seen, err = dedup.New(cfg.Dedup.MaxIDs, maxWindow+DedupSlack); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Codes returns the codes of the processor's rules, in evaluation order.
func (p *Processor) Codes() []string {
	out := make([]string, len(p.runs))
	for i := range p.runs {
		out[i] = p.runs[i].info.Code
	}
	return out
}

// Watermark is the latest event time processed.
func (p *Processor) Watermark() time.Time { return p.watermark }

// Process runs ev through the stage's rules and appends the verdicts and
// bans they make to out. It returns false, changing nothing, for a repeat
// of an event already processed (same non-empty id); ErrFutureEvent for an
// event too far ahead of the wall clock and ErrLateEvent for one more than
// the longest window plus DedupSlack behind the watermark (changing
// nothing either).
func (p *Processor) Process(ev *event.DeliveryEvent, out *Output) (bool, error) {
	if p.maxFuture > 0 && ev.TS.After(p.horizon) {
		// now only moves forward, so the horizon computed at the last
		// read is a safe lower bound and most events skip the clock.
		p.horizon = p.now().Add(p.maxFuture)
		if ev.TS.After(p.horizon) {
			return false, fmt.Errorf("%w: %s is more than %s ahead of the clock", ErrFutureEvent, ev.TS.UTC().Format(time.RFC3339), p.maxFuture)
		}
	}
	if !p.watermark.IsZero() && ev.TS.Before(p.watermark.Add(-p.maxLate)) {
		// Late for every window, and older than any id deduplication
		// still remembers: it could change nothing, so it is refused
		// (dead-lettered as "late") rather than dropped unseen.
		return false, fmt.Errorf("%w: %s is more than %s behind the partition's newest event (%s)", ErrLateEvent,
			ev.TS.UTC().Format(time.RFC3339), p.maxLate, p.watermark.UTC().Format(time.RFC3339))
	}
	if p.seen != nil && p.seen.Seen(ev.ID, ev.TS) {
		return false, nil
	}
	// One Input reused: rules get a pointer to it, which would otherwise
	// cost an allocation per event.
	p.in = rules.Input{Event: ev}
	p.input(&p.in, out)
	p.in.Event = nil
	return true, nil
}

// ProcessQueue runs a queue sample through the stage's rules.
func (p *Processor) ProcessQueue(q *event.QueueSample, out *Output) {
	p.in = rules.Input{Queue: q}
	p.input(&p.in, out)
	p.in.Queue = nil
}

func (p *Processor) input(in *rules.Input, out *Output) {
	ts := in.TS()
	if ts.After(p.watermark) {
		p.watermark = ts
		if p.seen != nil {
			p.seen.Expire(ts)
		}
		for _, t := range p.tables {
			if t != nil {
				t.Advance(ts)
			}
		}
	}
	p.ledger.Advance(p.watermark)
	for ti, runs := range p.byKind {
		kind := p.kinds[ti]
		t := p.tables[ti]
		var (
			rec      state.Record
			recKey   string
			have     bool
			kindKey  string
			kindDone bool
		)
		for _, ri := range runs {
			run := &p.runs[ri]
			if !run.r.Filter(in) {
				continue
			}
			var key string
			switch {
			case run.keyer != nil:
				key = run.keyer.Key(in)
			case in.Event != nil:
				if !kindDone {
					kindKey, kindDone = rules.KeyOf(kind, in.Event), true
				}
				key = kindKey
			}
			if key == "" {
				continue
			}
			if !have || key != recKey {
				if t == nil {
					rec = state.Stateless(key, ts)
				} else {
					var ok bool
					if rec, ok = t.Touch(key, ts); !ok {
						have = false
						run.stats.Late++
						continue
					}
				}
				recKey, have = key, true
			}
			run.r.Update(in, rec)
			c, ok := run.r.Threshold(in, rec)
			if !ok {
				continue
			}
			p.cross(ri, rec, c, in, ts, in.ID(), in.Event, out)
		}
	}
}

// cross turns a crossing into a verdict and, when enforced, a ban; or,
// for one that awaits a lookup, parks it (in is nil when a lookup's answer
// is being delivered).
func (p *Processor) cross(ri int, rec state.Record, c rules.Crossing, in *rules.Input, ts time.Time, id string, ev *event.DeliveryEvent, out *Output) {
	run := &p.runs[ri]
	info := &run.info
	subject, kind := c.Subject, c.Kind
	if subject == "" {
		subject = rec.Key()
	}
	if kind == "" {
		kind = info.Kind
	}
	if p.allowed(kind, subject, ev, ts) {
		run.stats.Allowlisted++
		return
	}
	if p.ledger.Suppressed(info.Code, kind, subject, ts) {
		run.stats.Suppressed++
		return
	}
	if c.Await != nil {
		if in != nil {
			p.await(ri, rec.Key(), *c.Await, in)
		}
		return
	}
	action := info.Action
	if c.Action != "" {
		action = c.Action
	}
	if action == "" {
		action = event.ActionBan
	}
	if info.Shadow {
		action = event.ActionFlag
	}
	if action != event.ActionFlag && p.bannedByOther(ri, kind, subject, ts) {
		// Silence while banned holds for the subject, not only the rule:
		// another rule's ban of the same subject is in force. A defer
		// would replace that ban on the compacted bans topic (one record
		// per subject), and a second ban would escalate one offence twice.
		run.stats.Suppressed++
		return
	}
	v := event.Verdict{
		V:            event.SchemaVersion,
		TS:           ts,
		Rule:         info.Code,
		SubjectKind:  kind,
		Subject:      subject,
		Action:       action,
		Message:      c.Message,
		Evidence:     c.Evidence,
		WindowEnd:    ts,
		FirstEventID: c.FirstEventID,
		LastEventID:  id,
		Shadow:       info.Shadow,
	}
	if p.tables[run.table] != nil {
		v.WindowStart = rec.WindowStart(info.Window)
	} else {
		v.WindowStart = ts
	}
	if err := v.Validate(); err != nil {
		// A subject a rule derived that no map could take (hostile input
		// that passed event validation): never a verdict.
		run.stats.Invalid++
		return
	}
	v.ID = rules.VerdictID(&v)
	if c.TTL > 0 {
		v.Expires = event.OptTime{Time: ts.Add(c.TTL)} // the ledger keeps a preset expiry
	}
	out.Verdicts = append(out.Verdicts, v)
	if b, ok := p.ledger.Apply(&out.Verdicts[len(out.Verdicts)-1]); ok {
		out.Bans = append(out.Bans, b)
	}
}

// bannedByOther reports whether another rule that bans holds a ban on the
// subject at ts.
func (p *Processor) bannedByOther(ri int, kind event.SubjectKind, subject string, ts time.Time) bool {
	for i := range p.runs {
		in := &p.runs[i].info
		if i == ri || in.Shadow || (in.Action != event.ActionBan && in.Action != "") {
			continue
		}
		if p.ledger.Holds(in.Code, kind, subject, ts) {
			return true
		}
	}
	return false
}

// await parks a crossing until its lookup's answer arrives.
func (p *Processor) await(ri int, key string, l rules.Lookup, in *rules.Input) {
	for _, w := range p.pending[l] {
		if w.run == ri && w.key == key {
			return // already waiting
		}
	}
	first := len(p.pending[l]) == 0
	p.pending[l] = append(p.pending[l], pending{run: ri, key: key, ts: in.TS(), id: in.ID(), ev: in.Event})
	p.runs[ri].stats.Awaiting++
	if first && p.resolver != nil {
		p.resolver.Start(l)
	}
}

// Pending lists the lookups awaited and not yet answered, in no order.
func (p *Processor) Pending() []rules.Lookup {
	out := make([]rules.Lookup, 0, len(p.pending))
	for l := range p.pending {
		out = append(out, l)
	}
	return out
}

// Resolve delivers a lookup's answer to the rules that awaited it, and
// appends what they decide to out. Call it on the processor's goroutine.
func (p *Processor) Resolve(l rules.Lookup, a rules.Answer, out *Output) {
	ws := p.pending[l]
	delete(p.pending, l)
	for _, w := range ws {
		run := &p.runs[w.run]
		run.stats.Awaiting--
		if run.awaiter == nil {
			continue
		}
		var rec state.Record
		if t := p.tables[run.table]; t != nil {
			var ok bool
			if rec, ok = t.Lookup(w.key); !ok {
				continue // evicted while waiting: the evidence is gone
			}
		} else {
			rec = state.Stateless(w.key, w.ts)
		}
		if c, ok := run.awaiter.Resolved(l, a, rec); ok {
			p.cross(w.run, rec, c, nil, w.ts, w.id, w.ev, out)
		}
	}
}

// allowed reports whether an allowlist entry covers the subject: the
// subject itself, its domain, either side of a pair, or the account the
// event came from.
func (p *Processor) allowed(kind event.SubjectKind, subject string, ev *event.DeliveryEvent, ts time.Time) bool {
	a := p.allow
	if a.Allowed(kind, subject, ts) {
		return true
	}
	switch kind {
	case event.KindSender:
		if a.Allowed(event.KindSenderDomain, event.Domain(subject), ts) {
			return true
		}
	case event.KindRecipient:
		if a.Allowed(event.KindRecipientDomain, event.Domain(subject), ts) {
			return true
		}
	case event.KindSenderRecipient:
		if s, r, ok := event.SplitPair(subject); ok &&
			(a.Allowed(event.KindSender, s, ts) || a.Allowed(event.KindSenderDomain, event.Domain(s), ts) ||
				a.Allowed(event.KindRecipient, r, ts) || a.Allowed(event.KindRecipientDomain, event.Domain(r), ts)) {
			return true
		}
	}
	if ev != nil && !kind.RecipientSide() && kind != event.KindAccount {
		if acct := ev.Account(); acct != "" && a.Allowed(event.KindAccount, acct, ts) {
			return true
		}
	}
	return false
}

// RuleStats are one rule's totals in one Processor.
type RuleStats struct {
	Rule        string
	Late        uint64 // inputs older than every window of the rule's table
	Suppressed  uint64 // crossings silenced by a verdict in force
	Allowlisted uint64 // crossings on an allowlisted subject
	Invalid     uint64 // crossings whose verdict would not validate
	Awaiting    int    // crossings waiting for a lookup now
}

// Stats returns each rule's totals, in rule order.
func (p *Processor) Stats() []RuleStats {
	out := make([]RuleStats, len(p.runs))
	for i := range p.runs {
		out[i] = p.runs[i].stats
	}
	return out
}

// TableStats is one key kind's state size.
type TableStats struct {
	Kind event.SubjectKind
	state.Stats
}

// Tables returns the state size per key kind (kinds whose rules keep no
// state are left out).
func (p *Processor) Tables() []TableStats {
	var out []TableStats
	for i, t := range p.tables {
		if t != nil {
			out = append(out, TableStats{Kind: p.kinds[i], Stats: t.Stats()})
		}
	}
	return out
}

// Dedup returns the id memory's size and totals (zero when off).
func (p *Processor) Dedup() dedup.Stats {
	if p.seen == nil {
		return dedup.Stats{}
	}
	return p.seen.Stats()
}
