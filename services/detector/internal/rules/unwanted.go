package rules

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeUnwanted is the code of the unwanted rule.
const CodeUnwanted = "unwanted"

// UnwantedConfig configures unwanted: a recipient that keeps refusing one
// sender's mail by its own policy (event.ReasonRecipientBlock: "blocked by
// user", "rejected by recipient's policy", the sender on its block list)
// while it accepts mail from others does not want that sender's mail: the
// pair sender→recipient is banned (event.KindSenderRecipient), so the
// sender gets a direct error next time and everyone else's mail to the
// recipient still flows (the policy page: "You kept sending email to
// someone who didn't want it").
//
// Defaults: 3 refusals of one sender by one recipient within 7 days, with
// no delivery of that sender's mail to it and at least one delivery from
// another sender: the "at least 3, same recipient, none delivered" shape
// of research/thresholds.md §7 (nonexistent recipient, after Gmail's
// "multiple bounced messages"); no provider publishes a number for it.
type UnwantedConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted (a multiple of state.bucket_width). Default 168h.
	Window time.Duration `koanf:"window"`
	// MinRefusals is the fewest refusals of one sender. Default 3.
	MinRefusals int `koanf:"min_refusals"`
	// MinAcceptedOthers is the fewest deliveries to the recipient from
	// other senders in the window. Default 1.
	MinAcceptedOthers int `koanf:"min_accepted_others"`
}

// Default implements Section.
func (UnwantedConfig) Default() Section {
	return UnwantedConfig{On: true, Window: 7 * 24 * time.Hour, MinRefusals: 3, MinAcceptedOthers: 1}
}

// Enabled implements Section.
func (c UnwantedConfig) Enabled() bool { return c.On }

// unwantedSenders is how many refusing and accepted senders a recipient
// keeps (the most counted recent ones).
const unwantedSenders = 16

// Build implements Section.
func (c UnwantedConfig) Build(env Env) (Rule, error) {
	var errs []error
	if c.MinRefusals < 1 {
		errs = append(errs, fmt.Errorf("min_refusals %d: must be at least 1", c.MinRefusals))
	}
	if c.MinAcceptedOthers < 0 {
		errs = append(errs, fmt.Errorf("min_accepted_others %d: must not be negative", c.MinAcceptedOthers))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Keyed by recipient (which one sender it refuses needs the
	// recipient's other deliveries too); the verdict is about the pair.
	l := env.Layout(event.KindRecipient)
	r := &unwanted{cfg: c}
	var err error
	if r.refused, err = l.Fingerprints(c.Window, unwantedSenders); err != nil {
		return nil, err
	}
	if r.accepted, err = l.Fingerprints(c.Window, unwantedSenders); err != nil {
		return nil, err
	}
	if r.delivered, err = l.Counters(c.Window, 1); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your recipient address has been blocked by admins: this recipient does not want your mail (refused %d times in " +
		FormatWindow(c.Window) + "). Open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint32(1<<31))); err != nil {
		return nil, err
	}
	return r, nil
}

type unwanted struct {
	cfg       UnwantedConfig
	refused   state.Fingerprints // sender hashes refused, with counts
	accepted  state.Fingerprints // sender hashes delivered, with counts
	delivered state.Counters
	first     state.Mark
	msgFormat string
	sum       [1]uint64
}

func (r *unwanted) Info() Info {
	return Info{Code: CodeUnwanted, Stage: StageRecipient, Kind: event.KindRecipient,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow}
}

func refusedByRecipient(ev *event.DeliveryEvent) bool {
	return ev.Reason == event.ReasonRecipientBlock && (ev.Status == event.StatusBounced || ev.Status == event.StatusRejected)
}

func (r *unwanted) Filter(in *Input) bool {
	ev := in.Event
	return ev != nil && ev.Sender != "" && ev.Recipient != "" && (ev.Status == event.StatusSent || refusedByRecipient(ev))
}

func (r *unwanted) Update(in *Input, rec state.Record) {
	ev := in.Event
	h := state.Hash(strings.ToLower(ev.Sender))
	if ev.Status == event.StatusSent {
		if rec.Add(r.delivered, 0, 1) {
			rec.AddFingerprint(r.accepted, h)
		}
		return
	}
	rec.AddFingerprint(r.refused, h)
	rec.MarkFirst(r.first, ev.ID)
}

func (r *unwanted) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	ev := in.Event
	if ev.Status == event.StatusSent {
		return Crossing{}, false
	}
	h := state.Hash(strings.ToLower(ev.Sender))
	refused := rec.FingerprintCount(r.refused, h)
	if refused < uint32(r.cfg.MinRefusals) {
		return Crossing{}, false
	}
	own := uint64(rec.FingerprintCount(r.accepted, h))
	rec.Sums(r.delivered, r.sum[:])
	others := r.sum[0] - min(r.sum[0], own)
	if own > 0 || others < uint64(r.cfg.MinAcceptedOthers) {
		return Crossing{}, false
	}
	return Crossing{
		Kind:    event.KindSenderRecipient,
		Subject: event.PairSubject(strings.ToLower(ev.Sender), rec.Key()),
		Message: fmt.Sprintf(r.msgFormat, refused),
		Evidence: map[string]float64{
			"refusals": float64(refused), "delivered_from_sender": 0, "delivered_from_others": float64(others),
			"min_refusals": float64(r.cfg.MinRefusals), "min_accepted_others": float64(r.cfg.MinAcceptedOthers),
			"window_seconds": r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
