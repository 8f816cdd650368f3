package ban

import (
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func TestTTLAt(t *testing.T) {
	c := Config{TTL: 24 * time.Hour, MaxTTL: 30 * 24 * time.Hour}
	for _, tt := range []struct {
		level int
		want  time.Duration
	}{
		{0, 24 * time.Hour}, {1, 24 * time.Hour}, {2, 48 * time.Hour}, {3, 96 * time.Hour},
		{5, 384 * time.Hour}, {6, 720 * time.Hour}, {1000, 720 * time.Hour},
	} {
		if got := c.TTLAt(tt.level); got != tt.want {
			t.Errorf("TTLAt(%d) = %s, want %s", tt.level, got, tt.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []Config{{0, time.Hour}, {-time.Hour, time.Hour}, {2 * time.Hour, time.Hour}} {
		if c.Validate() == nil {
			t.Errorf("%+v validated", c)
		}
	}
}

func verdict(rule, subject string, ts time.Time, shadow bool) *event.Verdict {
	v := &event.Verdict{
		Rule: rule, SubjectKind: event.KindSender, Subject: subject, TS: ts,
		Action: event.ActionBan, Evidence: map[string]float64{"n": 1},
	}
	if shadow {
		v.Action, v.Shadow = event.ActionFlag, true
	}
	return v
}

func TestLedgerEscalation(t *testing.T) {
	l := NewLedger(Config{TTL: time.Hour, MaxTTL: 3 * time.Hour})
	steps := []struct {
		at         time.Duration
		suppressed bool
		level      int
		ttl        time.Duration
	}{
		{0, false, 1, time.Hour},
		{30 * time.Minute, true, 0, 0},
		{59 * time.Minute, true, 0, 0},
		{time.Hour, false, 2, 2 * time.Hour},             // expired: banned again, one level up
		{2 * time.Hour, true, 0, 0},                      // in force until 3h
		{3 * time.Hour, false, 3, 3 * time.Hour},         // capped at max_ttl
		{6 * time.Hour, false, 4, 3 * time.Hour},         // last ban expired at 6h: remembered
		{9*time.Hour + 3*time.Hour, false, 1, time.Hour}, // expired at 9h, forgotten at 9h+max_ttl
	}
	for i, s := range steps {
		ts := t0.Add(s.at)
		l.Advance(ts)
		if got := l.Suppressed("r", event.KindSender, "a@b", ts); got != s.suppressed {
			t.Fatalf("step %d: suppressed %v, want %v", i, got, s.suppressed)
		}
		if s.suppressed {
			continue
		}
		v := verdict("r", "a@b", ts, false)
		b, ok := l.Apply(v)
		if !ok {
			t.Fatalf("step %d: no ban", i)
		}
		if b.Level != s.level || b.Expires.Sub(ts) != s.ttl || !v.Expires.Equal(b.Expires.Time) || b.Source != SourceRule {
			t.Fatalf("step %d: level %d ttl %s source %q, want level %d ttl %s", i, b.Level, b.Expires.Sub(ts), b.Source, s.level, s.ttl)
		}
	}
	if got := l.SuppressedTotal("r"); got != 3 {
		t.Fatalf("suppressed total %d, want 3", got)
	}
}

func TestLedgerRepeatsEvidence(t *testing.T) {
	l := NewLedger(Config{TTL: time.Hour, MaxTTL: time.Hour})
	v := verdict("r", "a@b", t0, false)
	l.Apply(v)
	if _, ok := v.Evidence["repeats"]; ok {
		t.Fatal("first verdict has repeats")
	}
	for i := range 3 {
		if !l.Suppressed("r", event.KindSender, "a@b", t0.Add(time.Duration(i+1)*time.Minute)) {
			t.Fatal("not suppressed")
		}
	}
	if l.Repeats("r", event.KindSender, "a@b") != 3 {
		t.Fatal("repeats not counted")
	}
	v = verdict("r", "a@b", t0.Add(2*time.Hour), false)
	b, _ := l.Apply(v)
	if v.Evidence["repeats"] != 3 || b.Evidence["repeats"] != 3 {
		t.Fatalf("evidence %v / %v", v.Evidence, b.Evidence)
	}
	b.Evidence["x"] = 1
	if _, ok := v.Evidence["x"]; ok {
		t.Fatal("ban shares the verdict's evidence map")
	}
}

func TestLedgerShadowAndRulesApart(t *testing.T) {
	l := NewLedger(Config{TTL: time.Hour, MaxTTL: 10 * time.Hour})
	// A shadow rule gets would-be expiries and levels of its own, no bans.
	for i, want := range []time.Duration{time.Hour, 2 * time.Hour} {
		ts := t0.Add(time.Duration(i) * 5 * time.Hour)
		v := verdict("shadowy", "a@b", ts, true)
		if _, ok := l.Apply(v); ok {
			t.Fatal("shadow verdict made a ban")
		}
		if got := v.Expires.Sub(ts); got != want {
			t.Fatalf("shadow %d: ttl %s, want %s", i, got, want)
		}
	}
	// An enforced rule on the same subject starts at level 1.
	b, ok := l.Apply(verdict("real", "a@b", t0.Add(11*time.Hour), false))
	if !ok || b.Level != 1 {
		t.Fatalf("enforced after shadow: ok %v level %d", ok, b.Level)
	}
	// Holds are per rule: "real" holding a@b does not silence "other".
	ts := t0.Add(11*time.Hour + time.Minute)
	if !l.Suppressed("real", event.KindSender, "a@b", ts) || l.Suppressed("other", event.KindSender, "a@b", ts) {
		t.Fatal("holds are not per rule")
	}
	// A second enforced rule escalates the same subject's ban.
	b, _ = l.Apply(verdict("other", "a@b", ts, false))
	if b.Level != 2 {
		t.Fatalf("second rule: level %d, want 2", b.Level)
	}
}

func TestLedgerForgets(t *testing.T) {
	l := NewLedger(Config{TTL: time.Hour, MaxTTL: 2 * time.Hour})
	l.Apply(verdict("r", "a@b", t0, false))
	l.Advance(t0.Add(2 * time.Hour))
	if l.Len() != 1 {
		t.Fatal("forgotten too early")
	}
	l.Advance(t0.Add(4 * time.Hour)) // expired at 1h, forgotten at 3h
	if l.Len() != 0 || len(l.holds) != 0 {
		t.Fatalf("not forgotten: %d levels, %d holds", l.Len(), len(l.holds))
	}
}
