package rules

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeNonexistentRecipient is the code of the nonexistent_recipient rule.
const CodeNonexistentRecipient = "nonexistent_recipient"

// NonexistentRecipientConfig configures nonexistent_recipient: one
// recipient address that answers "user unknown" (a hard 5.1.x bounce or
// rejection) again and again, whoever sends to it, and never accepts a
// message, is dead: the platform stops relaying to it instead of
// collecting bounces (the policy page: "You kept sending to an invalid
// recipient, one that doesn't even exist").
//
// Defaults (research/thresholds.md §7, "nonexistent recipient"): at least
// 3 hard bounces of the same recipient with no delivery over 7 days
// (Gmail's "multiple bounced messages" guidance; MXroute keeps such
// addresses in its spam_recipients list). A deferral saying "user unknown"
// does not count; one delivery in the window clears it.
type NonexistentRecipientConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span of event time counted (a multiple of
	// state.bucket_width). Default 168h (7 days).
	Window time.Duration `koanf:"window"`
	// MinBounces is the fewest hard "user unknown" answers in the window. Default 3.
	MinBounces int `koanf:"min_bounces"`
	// MinSenders is the fewest distinct senders among them. Default 1.
	MinSenders int `koanf:"min_senders"`
}

// Default implements Section.
func (NonexistentRecipientConfig) Default() Section {
	return NonexistentRecipientConfig{On: true, Window: 7 * 24 * time.Hour, MinBounces: 3, MinSenders: 1}
}

// Enabled implements Section.
func (c NonexistentRecipientConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c NonexistentRecipientConfig) Build(env Env) (Rule, error) {
	var errs []error
	if c.MinBounces < 1 {
		errs = append(errs, fmt.Errorf("min_bounces %d: must be at least 1", c.MinBounces))
	}
	if c.MinSenders < 1 {
		errs = append(errs, fmt.Errorf("min_senders %d: must be at least 1", c.MinSenders))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindRecipient)
	r := &nonexistentRecipient{cfg: c}
	var err error
	if r.counts, err = l.Counters(c.Window, 2); err != nil {
		return nil, err
	}
	if r.senders, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your recipient address has been blocked by admins: it does not exist (%d hard bounces in " +
		FormatWindow(c.Window) + ", none delivered). Open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint64(1<<63))); err != nil {
		return nil, err
	}
	return r, nil
}

const (
	nrUnknown   = iota // hard "user unknown" answers
	nrDelivered        // deliveries
)

type nonexistentRecipient struct {
	cfg       NonexistentRecipientConfig
	counts    state.Counters
	senders   state.Distinct
	first     state.Mark
	msgFormat string
	sums      [2]uint64
}

func (r *nonexistentRecipient) Info() Info {
	return Info{Code: CodeNonexistentRecipient, Stage: StageRecipient, Kind: event.KindRecipient,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow}
}

func (r *nonexistentRecipient) Filter(in *Input) bool {
	ev := in.Event
	return ev != nil && ev.Recipient != "" && (ev.Status == event.StatusSent || hardUnknown(ev))
}

func (r *nonexistentRecipient) Update(in *Input, rec state.Record) {
	ev := in.Event
	if ev.Status == event.StatusSent {
		rec.Add(r.counts, nrDelivered, 1)
		return
	}
	if rec.Add(r.counts, nrUnknown, 1) {
		rec.AddDistinct(r.senders, state.Hash(strings.ToLower(ev.Sender)))
		rec.MarkFirst(r.first, ev.ID)
	}
}

func (r *nonexistentRecipient) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	if in.Event.Status == event.StatusSent {
		return Crossing{}, false
	}
	rec.Sums(r.counts, r.sums[:])
	unknown, delivered := r.sums[nrUnknown], r.sums[nrDelivered]
	senders := min(rec.Distinct(r.senders), unknown)
	if delivered > 0 || unknown < uint64(r.cfg.MinBounces) || senders < uint64(r.cfg.MinSenders) {
		return Crossing{}, false
	}
	return Crossing{
		Message: fmt.Sprintf(r.msgFormat, unknown),
		Evidence: map[string]float64{
			"user_unknown": float64(unknown), "delivered": 0, "senders": float64(senders),
			"min_bounces": float64(r.cfg.MinBounces), "min_senders": float64(r.cfg.MinSenders),
			"window_seconds": r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
