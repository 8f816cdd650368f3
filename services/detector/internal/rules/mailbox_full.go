package rules

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeMailboxFull is the code of the mailbox_full rule.
const CodeMailboxFull = "mailbox_full"

// MailboxFullConfig configures mailbox_full: a recipient whose mailbox is
// over quota (4.2.2 / 5.2.2, event.ReasonMailboxFull) across a day or more,
// for several senders, with no delivery in between, is kept full on
// purpose or abandoned; the platform stops bouncing for it (the policy
// page: "you keep its quota full and make us bounce every message").
//
// Defaults (research/thresholds.md §7, "always-full mailbox", after
// MXroute's quotamitigation.sh / check_overquota.sh): at least 5 over-quota
// answers and no delivery, from at least 2 senders, the answers spanning a
// day: some older than 24 h and some newer, within a 48 h window. A
// mailbox full for an hour (or a morning) is never banned.
//
// Recheck and lift: mail already queued for the recipient stays in the
// MTA's queue and is retried while the ban keeps new mail out; each retry
// is an outcome again. The first delivery to the recipient while the ban
// is in force lifts it (a tombstone on the bans topic), so a mailbox
// emptied by its owner gets mail again at the next retry, long before the
// ban expires. A recipient still full when the ban expires is banned again
// at the next answer (escalated).
type MailboxFullConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted (a multiple of state.bucket_width, at
	// least twice Span). Default 48h.
	Window time.Duration `koanf:"window"`
	// Span is how long the mailbox must have been full: answers older and
	// newer than Span before the latest one are both needed. Default 24h.
	Span time.Duration `koanf:"span"`
	// MinAnswers is the fewest over-quota answers in the window. Default 5.
	MinAnswers int `koanf:"min_answers"`
	// MinSenders is the fewest distinct senders among them. Default 2.
	MinSenders int `koanf:"min_senders"`
}

// Default implements Section.
func (MailboxFullConfig) Default() Section {
	return MailboxFullConfig{On: true, Window: 48 * time.Hour, Span: 24 * time.Hour, MinAnswers: 5, MinSenders: 2}
}

// Enabled implements Section.
func (c MailboxFullConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c MailboxFullConfig) Build(env Env) (Rule, error) {
	var errs []error
	if c.Span <= 0 || c.Window < 2*c.Span {
		errs = append(errs, fmt.Errorf("span %s, window %s: want 0 < span and window >= 2 x span", c.Span, c.Window))
	}
	if c.MinAnswers < 1 {
		errs = append(errs, fmt.Errorf("min_answers %d: must be at least 1", c.MinAnswers))
	}
	if c.MinSenders < 1 {
		errs = append(errs, fmt.Errorf("min_senders %d: must be at least 1", c.MinSenders))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindRecipient)
	r := &mailboxFull{cfg: c}
	var err error
	if r.all, err = l.Counters(c.Window, 2); err != nil {
		return nil, err
	}
	if r.recent, err = l.Counters(c.Span, 1); err != nil {
		return nil, err
	}
	if r.senders, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your recipient address has been blocked by admins: its mailbox has been full for over " +
		FormatWindow(c.Span) + " (%d messages refused). Open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint64(1<<63))); err != nil {
		return nil, err
	}
	return r, nil
}

const (
	mfFull = iota
	mfDelivered
)

type mailboxFull struct {
	cfg       MailboxFullConfig
	all       state.Counters // full, delivered over the window
	recent    state.Counters // full over the span
	senders   state.Distinct
	first     state.Mark
	msgFormat string
	sums      [2]uint64
	rsum      [1]uint64
}

func (r *mailboxFull) Info() Info {
	return Info{Code: CodeMailboxFull, Stage: StageRecipient, Kind: event.KindRecipient,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow}
}

func overQuota(ev *event.DeliveryEvent) bool {
	return ev.Reason == event.ReasonMailboxFull &&
		(ev.Status == event.StatusDeferred || ev.Status == event.StatusBounced || ev.Status == event.StatusRejected || ev.Status == event.StatusExpired)
}

func (r *mailboxFull) Filter(in *Input) bool {
	ev := in.Event
	return ev != nil && ev.Recipient != "" && (ev.Status == event.StatusSent || overQuota(ev))
}

func (r *mailboxFull) Update(in *Input, rec state.Record) {
	ev := in.Event
	if ev.Status == event.StatusSent {
		rec.Add(r.all, mfDelivered, 1)
		return
	}
	if rec.Add(r.all, mfFull, 1) {
		rec.Add(r.recent, 0, 1)
		rec.AddDistinct(r.senders, state.Hash(strings.ToLower(ev.Sender)))
		rec.MarkFirst(r.first, ev.ID)
	}
}

func (r *mailboxFull) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	if in.Event.Status == event.StatusSent {
		// Accepted again: take back a ban in force (no-op without one).
		return Crossing{Lift: true}, true
	}
	rec.Sums(r.all, r.sums[:])
	rec.Sums(r.recent, r.rsum[:])
	full, delivered, recent := r.sums[mfFull], r.sums[mfDelivered], r.rsum[0]
	older := full - min(full, recent)
	senders := min(rec.Distinct(r.senders), full)
	if delivered > 0 || full < uint64(r.cfg.MinAnswers) || senders < uint64(r.cfg.MinSenders) || older == 0 || recent == 0 {
		return Crossing{}, false
	}
	return Crossing{
		Message: fmt.Sprintf(r.msgFormat, full),
		Evidence: map[string]float64{
			"over_quota": float64(full), "over_quota_older_than_span": float64(older), "delivered": 0,
			"senders": float64(senders), "min_answers": float64(r.cfg.MinAnswers), "min_senders": float64(r.cfg.MinSenders),
			"span_seconds": r.cfg.Span.Seconds(), "window_seconds": r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
