// Package ban turns verdicts into bans: it keeps, per subject, the ban in
// force and the escalation level, and it is the rules' Gate that keeps a
// rule from firing again on a subject whose verdict is still in force.
//
// Escalation. A subject's first ban lasts TTL; each further ban while the
// subject is remembered is one level higher and lasts twice as long, up to
// MaxTTL. A subject is forgotten (back to level 1) once MaxTTL has passed
// since its last ban expired. Levels of enforced bans are kept per subject
// (every rule escalates the same ban); a shadow rule keeps its own
// would-be levels, so shadow verdicts show the expiry the ban would have
// had, and never escalate a real ban.
//
// Time is event time throughout: the verdict's TS, and Advance. The ledger
// is per partition, like the rules' state, and is not safe for concurrent
// use.
package ban

import (
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// SourceRule is the Source of bans the detector makes.
const SourceRule = "rule"

// Config is the ban section of the detector's configuration.
type Config struct {
	// TTL is how long a first ban lasts. Default 24h.
	TTL time.Duration `koanf:"ttl"`
	// MaxTTL caps the doubling of repeat bans, and is how long a subject's
	// level is remembered after its last ban expired. Default 720h (30 days).
	MaxTTL time.Duration `koanf:"max_ttl"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{TTL: 24 * time.Hour, MaxTTL: 30 * 24 * time.Hour}
}

// Validate checks the section.
func (c Config) Validate() error {
	var errs []error
	if c.TTL <= 0 {
		errs = append(errs, fmt.Errorf("ttl %s: must be positive", c.TTL))
	}
	if c.MaxTTL < c.TTL {
		errs = append(errs, fmt.Errorf("max_ttl %s: must be at least ttl (%s)", c.MaxTTL, c.TTL))
	}
	return errors.Join(errs...)
}

// TTLAt returns the duration of a ban at level (1 for a first ban).
func (c Config) TTLAt(level int) time.Duration {
	d := c.TTL
	for i := 1; i < level && d < c.MaxTTL; i++ {
		d *= 2
	}
	return min(d, c.MaxTTL)
}

// subjectKey names a subject within a namespace: "" for enforced bans,
// the rule code for a shadow rule's would-be bans.
type subjectKey struct {
	ns      string
	kind    event.SubjectKind
	subject string
}

// holdKey names one rule's hold on one subject.
type holdKey struct {
	rule    string
	kind    event.SubjectKind
	subject string
}

type level struct {
	n      int
	forget time.Time // when the subject goes back to level 1
}

type hold struct {
	until   time.Time // the rule stays silent on the subject before this
	forget  time.Time // when the record is dropped
	repeats int       // crossings suppressed since the last verdict
}

// sweepEvery is how much event time passes between two sweeps of
// forgotten subjects.
const sweepEvery = time.Hour

// Ledger keeps the bans' escalation state and the rules' holds.
type Ledger struct {
	cfg       Config
	levels    map[subjectKey]*level
	holds     map[holdKey]*hold
	nextSweep time.Time
	// suppressed counts suppressed crossings by rule, for metrics.
	suppressed map[string]uint64

	// Changes since the last Flush (see persist.go), kept when tracking.
	track       bool
	dirtyLevels map[subjectKey]struct{}
	dirtyHolds  map[holdKey]struct{}
}

// NewLedger builds an empty ledger; cfg must be valid.
func NewLedger(cfg Config) *Ledger {
	return &Ledger{
		cfg:        cfg,
		levels:     map[subjectKey]*level{},
		holds:      map[holdKey]*hold{},
		suppressed: map[string]uint64{},
	}
}

// Suppressed implements rules.Gate: it reports whether rule's last verdict
// on the subject still holds at ts, and counts the repeat if so.
func (l *Ledger) Suppressed(rule string, kind event.SubjectKind, subject string, ts time.Time) bool {
	h, ok := l.holds[holdKey{rule, kind, subject}]
	if !ok || !ts.Before(h.until) {
		return false
	}
	h.repeats++
	l.suppressed[rule]++
	l.touchHold(holdKey{rule, kind, subject})
	return true
}

// Holds reports whether rule's last verdict on the subject still holds at
// ts, without counting a repeat.
func (l *Ledger) Holds(rule string, kind event.SubjectKind, subject string, ts time.Time) bool {
	h, ok := l.holds[holdKey{rule, kind, subject}]
	return ok && ts.Before(h.until)
}

// SuppressedTotal is how many crossings of rule were suppressed so far.
func (l *Ledger) SuppressedTotal(rule string) uint64 { return l.suppressed[rule] }

// Repeats returns how many crossings of rule on the subject were
// suppressed since its last verdict.
func (l *Ledger) Repeats(rule string, kind event.SubjectKind, subject string) int {
	if h, ok := l.holds[holdKey{rule, kind, subject}]; ok {
		return h.repeats
	}
	return 0
}

// Apply records a verdict the rules emitted: it picks the escalation
// level, sets v.Expires to v.TS plus that level's TTL, puts a hold on the
// rule and subject until then, and, for an enforced verdict (action ban
// or defer, not shadow), returns the Ban to publish. When the previous hold had
// suppressed repeats, their number is added to v.Evidence as "repeats".
func (l *Ledger) Apply(v *event.Verdict) (event.Ban, bool) {
	enforced := (v.Action == event.ActionBan || v.Action == event.ActionDefer) && !v.Shadow
	sk := subjectKey{kind: v.SubjectKind, subject: v.Subject}
	if !enforced || v.Action == event.ActionDefer {
		// Shadow verdicts and temporary refusals keep their rule's own
		// levels: neither escalates a real ban.
		sk.ns = v.Rule
	}
	n := 1
	if lv, ok := l.levels[sk]; ok && v.TS.Before(lv.forget) {
		n = lv.n + 1
	}
	expires := v.TS.Add(l.cfg.TTLAt(n))
	if !v.Expires.IsZero() {
		// The rule set its own duration (Crossing.TTL): a temporary
		// refusal, not escalated.
		expires = v.Expires.Time
	}
	forget := expires.Add(l.cfg.MaxTTL)
	l.levels[sk] = &level{n: n, forget: forget}
	l.touchLevel(sk)

	hk := holdKey{v.Rule, v.SubjectKind, v.Subject}
	if h, ok := l.holds[hk]; ok && h.repeats > 0 {
		if v.Evidence == nil {
			v.Evidence = map[string]float64{}
		}
		v.Evidence["repeats"] = float64(h.repeats)
	}
	l.holds[hk] = &hold{until: expires, forget: forget}
	l.touchHold(hk)

	v.Expires = event.OptTime{Time: expires}
	if !enforced {
		return event.Ban{}, false
	}
	b := event.Ban{Verdict: *v, Source: SourceRule, Level: n}
	b.Evidence = maps.Clone(v.Evidence)
	return b, true
}

// Advance drops the subjects forgotten by event time ts. It is cheap to
// call on every event: the sweep runs once per hour of event time.
func (l *Ledger) Advance(ts time.Time) {
	if ts.Before(l.nextSweep) {
		return
	}
	l.nextSweep = ts.Add(sweepEvery)
	for k, lv := range l.levels {
		if !ts.Before(lv.forget) {
			delete(l.levels, k)
			l.touchLevel(k)
		}
	}
	for k, h := range l.holds {
		if !ts.Before(h.forget) {
			delete(l.holds, k)
			l.touchHold(k)
		}
	}
}

// Len is the number of subjects the ledger remembers.
func (l *Ledger) Len() int { return len(l.levels) }
