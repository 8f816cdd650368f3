package detector

import (
	"fmt"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// probe is a test rule: it fires on every event whose recipient is
// "fire@..." for its key kind, with the given action; with await it first
// asks for a lookup of the recipient's domain.
type probe struct {
	code   string
	kind   event.SubjectKind
	action event.Action
	await  bool
	n      state.Counters
	stless bool
}

func (p probe) Default() rules.Section { return p }
func (p probe) Enabled() bool          { return true }
func (p probe) Build(env rules.Env) (rules.Rule, error) {
	r := p
	if !p.stless {
		var err error
		if r.n, err = env.Layout(p.kind).Counters(time.Hour, 1); err != nil {
			return nil, err
		}
	}
	return &r, nil
}
func (p *probe) Info() rules.Info {
	return rules.Info{Code: p.code, Stage: rules.StageSender, Kind: p.kind, Window: time.Hour, Action: p.action}
}
func (p *probe) Filter(in *rules.Input) bool { return in.Event != nil }
func (p *probe) Update(in *rules.Input, rec state.Record) {
	if !p.stless {
		rec.Add(p.n, 0, 1)
	}
}
func (p *probe) Threshold(in *rules.Input, rec state.Record) (rules.Crossing, bool) {
	if event.Domain(in.Event.Recipient) == "" || in.Event.Recipient[:5] != "fire@" {
		return rules.Crossing{}, false
	}
	if p.await {
		return rules.Crossing{Await: &rules.Lookup{Kind: "mx", Name: event.Domain(in.Event.Recipient)}}, true
	}
	return rules.Crossing{Message: "blocked " + rec.Key(), Evidence: map[string]float64{"n": 1}}, true
}
func (p *probe) Resolved(l rules.Lookup, a rules.Answer, rec state.Record) (rules.Crossing, bool) {
	if a.Result != "nxdomain" {
		return rules.Crossing{}, false
	}
	return rules.Crossing{Message: "no such domain " + l.Name, Evidence: a.Facts}, true
}

type startLog []rules.Lookup

func (s *startLog) Start(l rules.Lookup) { *s = append(*s, l) }

func probeEvent(i int, sender, rcpt, sasl string) *event.DeliveryEvent {
	return &event.DeliveryEvent{ID: fmt.Sprint("e", i), TS: at(time.Duration(i) * time.Second), Sender: sender,
		Recipient: rcpt, SASLUser: sasl, Status: event.StatusSent}
}

func TestProcessorAllowlistDeferAwait(t *testing.T) {
	cfg := Default()
	onlyRules(t, &cfg)
	cfg.Allowlist = []string{"sender_domain:trusted.example", "account:vip"}
	var started startLog
	p, err := NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow, Resolver: &started, extra: []rules.Section{
		probe{code: "probe_ban", kind: event.KindSender, action: event.ActionBan},
		probe{code: "probe_defer", kind: event.KindAccount, action: event.ActionDefer, stless: true},
		probe{code: "probe_await", kind: event.KindSenderDomain, action: event.ActionBan, await: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var out Output
	run := func(ev *event.DeliveryEvent) {
		out.Reset()
		if _, err := p.Process(ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	// Allowlisted by the sender's domain and by the account: nothing.
	run(probeEvent(1, "a@trusted.example", "fire@x.example", "someone"))
	run(probeEvent(2, "b@other.example", "fire@x.example", "vip"))
	if len(out.Verdicts) != 0 {
		t.Fatalf("allowlisted subject got %+v", out.Verdicts)
	}
	st := p.Stats()
	if st[0].Allowlisted != 2 || st[1].Allowlisted != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Not allowlisted: a ban, a defer (a ban record with action defer, its
	// own level), and an awaited lookup.
	run(probeEvent(3, "c@other.example", "fire@gone.example", "cust"))
	if len(out.Verdicts) != 2 || len(out.Bans) != 2 || out.Bans[0].Action != event.ActionBan ||
		out.Bans[1].Action != event.ActionDefer || out.Bans[1].Subject != "cust" || out.Bans[1].SubjectKind != event.KindAccount {
		t.Fatalf("verdicts %+v bans %+v", out.Verdicts, out.Bans)
	}
	if len(started) != 1 || started[0] != (rules.Lookup{Kind: "mx", Name: "gone.example"}) || len(p.Pending()) != 1 {
		t.Fatalf("lookups started %v pending %v", started, p.Pending())
	}
	// Silence while banned: the same crossings again make nothing, and the
	// lookup in flight is not started twice.
	run(probeEvent(4, "c@other.example", "fire@gone.example", "cust"))
	if len(out.Verdicts) != 0 || len(started) != 1 {
		t.Fatalf("repeat: %+v, %d lookups", out.Verdicts, len(started))
	}
	out.Reset()
	p.Resolve(rules.Lookup{Kind: "mx", Name: "gone.example"}, rules.Answer{Result: "nxdomain", Facts: map[string]float64{"nxdomain": 1}}, &out)
	if len(out.Verdicts) != 1 || out.Verdicts[0].Rule != "probe_await" || out.Verdicts[0].Evidence["nxdomain"] != 1 ||
		out.Verdicts[0].LastEventID != "e3" || len(out.Bans) != 1 || len(p.Pending()) != 0 {
		t.Fatalf("resolved: %+v", out.Verdicts)
	}
}

func TestProcessorShadowAndKinds(t *testing.T) {
	cfg := Default()
	onlyRules(t, &cfg, "invalid_recipients")
	cfg.Rules.InvalidRecipients.Shadow = true
	cfg.Rules.InvalidRecipients.MinUnknown, cfg.Rules.InvalidRecipients.MinAttempts = 2, 2
	p, err := NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var out Output
	for i := range 3 {
		ev := unknownEvent(fmt.Sprint("u", i), at(time.Duration(i)*time.Second))
		if _, err := p.Process(ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	if len(out.Verdicts) != 1 || out.Verdicts[0].Action != event.ActionFlag || !out.Verdicts[0].Shadow || len(out.Bans) != 0 {
		t.Fatalf("shadow: %+v", out)
	}
	if tb := p.Tables(); len(tb) != 1 || tb[0].Kind != event.KindSender || tb[0].Keys != 1 {
		t.Fatalf("tables %+v", tb)
	}
	// A recipient-stage processor has no sender-side rule.
	r, err := NewProcessor(cfg, rules.StageRecipient, Options{Now: fixedNow})
	if err != nil || len(r.Codes()) != 0 {
		t.Fatalf("recipient stage: %v %v", r.Codes(), err)
	}
}
