package rules

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/window"
)

// CodeInvalidRecipients is the code of the invalid_recipients rule.
const CodeInvalidRecipients = "invalid_recipients"

// ReasonUserUnknown is the reply class ingest gives a "no such user" answer.
const ReasonUserUnknown = event.ReasonUserUnknown

// InvalidRecipientsConfig configures invalid_recipients: a sender whose
// recent recipient attempts are mostly to addresses that do not exist is
// sending to a bought or stale list, or mistyping at scale.
type InvalidRecipientsConfig struct {
	// Enabled turns the rule on. Default true.
	Enabled bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span of event time counted. Default 1h.
	Window time.Duration `koanf:"window"`
	// Buckets cuts the window into fixed buckets; the window slides one
	// bucket at a time. Window must be a multiple of it. Default 12 (5m buckets).
	Buckets int `koanf:"buckets"`
	// MinAttempts is the fewest recipient attempts with a final outcome in
	// the window before the rule can fire. Default 20.
	MinAttempts int `koanf:"min_attempts"`
	// Ratio is the share of those attempts answered "user unknown" at or
	// above which the rule fires, in (0, 1]. Default 0.5.
	Ratio float64 `koanf:"ratio"`
}

// DefaultInvalidRecipients returns the rule's defaults.
func DefaultInvalidRecipients() InvalidRecipientsConfig {
	return InvalidRecipientsConfig{
		Enabled:     true,
		Window:      time.Hour,
		Buckets:     12,
		MinAttempts: 20,
		Ratio:       0.5,
	}
}

func (c InvalidRecipientsConfig) window() window.Config {
	return window.Config{Window: c.Window, Buckets: c.Buckets, Counters: irCounters}
}

// Validate checks the section.
func (c InvalidRecipientsConfig) Validate() error {
	var errs []error
	if err := c.window().Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.MinAttempts < 1 {
		errs = append(errs, fmt.Errorf("min_attempts %d: must be at least 1", c.MinAttempts))
	}
	if !(c.Ratio > 0 && c.Ratio <= 1) { // also refuses NaN
		errs = append(errs, fmt.Errorf("ratio %v: must be in (0, 1]", c.Ratio))
	}
	return errors.Join(errs...)
}

// Counters of the invalid_recipients window.
const (
	irAttempts = iota // recipient attempts with a final outcome
	irUnknown         // of which answered "user unknown"
	irCounters
)

// irState is the per-sender payload: the id of the first "user unknown"
// event of the current run of windows holding any (empty while the window
// holds none, so ordinary senders pay nothing for it).
type irState struct{ firstUnknown string }

// InvalidRecipients is the invalid_recipients rule. Per envelope sender
// (the null sender is ignored), over a sliding window, it counts the
// recipient attempts with a final outcome (sent, bounced, rejected;
// deferred and expired do not count) and among them the ones bounced or
// rejected as "user unknown". When attempts >= MinAttempts and
// unknown/attempts >= Ratio it emits a verdict on the sender: action ban,
// or flag in shadow mode.
//
// Senders are compared lower-cased, like ban keys.
type InvalidRecipients struct {
	cfg    InvalidRecipientsConfig
	env    Env
	eng    *window.Engine[irState]
	action event.Action
	// msgFormat is the message with the numbers left as verbs.
	msgFormat string
	sums      [irCounters]uint64
}

// NewInvalidRecipients builds the rule.
func NewInvalidRecipients(cfg InvalidRecipientsConfig, env Env) (*InvalidRecipients, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	eng, err := window.New[irState](cfg.window())
	if err != nil {
		return nil, err
	}
	r := &InvalidRecipients{
		cfg:    cfg,
		env:    env,
		eng:    eng,
		action: event.ActionBan,
		msgFormat: "Your sending address has been blocked by admins: you recently sent too many emails to invalid recipients (%d of %d in " +
			FormatWindow(cfg.Window) + "). Open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%"),
	}
	if cfg.Shadow {
		r.action = event.ActionFlag
	}
	if n := len(r.message(math.MaxUint64, math.MaxUint64)); n > MaxMessageLen {
		return nil, fmt.Errorf("message would be up to %d bytes, more than %d: shorten ticket_url", n, MaxMessageLen)
	}
	return r, nil
}

// Code implements Rule.
func (r *InvalidRecipients) Code() string { return CodeInvalidRecipients }

// Shadow implements Rule.
func (r *InvalidRecipients) Shadow() bool { return r.cfg.Shadow }

// Stats implements Rule.
func (r *InvalidRecipients) Stats() Stats {
	s := r.eng.Stats()
	return Stats{Tracked: s.Keys, Late: s.Late}
}

func (r *InvalidRecipients) message(unknown, attempts uint64) string {
	return fmt.Sprintf(r.msgFormat, unknown, attempts)
}

// Observe implements Rule.
func (r *InvalidRecipients) Observe(ev *event.DeliveryEvent, out []event.Verdict) []event.Verdict {
	// Every event moves the clock, counted or not.
	r.eng.Advance(ev.TS)
	if ev.Sender == "" {
		return out
	}
	unknown := false
	switch ev.Status {
	case event.StatusSent:
	case event.StatusBounced, event.StatusRejected:
		unknown = ev.Reason == ReasonUserUnknown
	default:
		return out
	}
	sender := strings.ToLower(ev.Sender) // no allocation when already lower-case
	ref, ok := r.eng.Touch(sender, ev.TS)
	if !ok {
		return out // late
	}
	ref.Add(irAttempts, 1)
	if unknown {
		ref.Add(irUnknown, 1)
	}
	ref.Sums(r.sums[:])
	attempts, unknowns := r.sums[irAttempts], r.sums[irUnknown]
	st := ref.Value()
	switch {
	case unknowns == 0:
		st.firstUnknown = ""
	case unknown && (unknowns == 1 || st.firstUnknown == ""):
		st.firstUnknown = ev.ID
	}
	if attempts < uint64(r.cfg.MinAttempts) || float64(unknowns) < r.cfg.Ratio*float64(attempts) {
		return out
	}
	ts := r.eng.Watermark()
	if r.env.Gate != nil && r.env.Gate.Suppressed(CodeInvalidRecipients, event.KindSender, sender, ts) {
		return out
	}
	ratio := float64(unknowns) / float64(attempts)
	v := event.Verdict{
		V:           event.SchemaVersion,
		TS:          ts,
		Rule:        CodeInvalidRecipients,
		SubjectKind: event.KindSender,
		Subject:     sender,
		Action:      r.action,
		Message:     r.message(unknowns, attempts),
		Evidence: map[string]float64{
			"attempts":        float64(attempts),
			"user_unknown":    float64(unknowns),
			"ratio":           math.Round(ratio*1e4) / 1e4,
			"threshold_ratio": r.cfg.Ratio,
			"min_attempts":    float64(r.cfg.MinAttempts),
			"window_seconds":  r.cfg.Window.Seconds(),
		},
		WindowStart:  r.eng.WindowStart(),
		WindowEnd:    ts,
		FirstEventID: st.firstUnknown,
		LastEventID:  ev.ID,
		Shadow:       r.cfg.Shadow,
	}
	v.ID = VerdictID(&v)
	return append(out, v)
}
