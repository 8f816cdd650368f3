package rules

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeInvalidRecipients is the code of the invalid_recipients rule.
const CodeInvalidRecipients = "invalid_recipients"

// InvalidRecipientsConfig configures invalid_recipients: a sender whose
// recent mail hard-bounces as "user unknown" at a share providers suspend
// accounts for is mailing a bought, scraped or stale list.
//
// Defaults (research/thresholds.md §1 and §7): Amazon SES reviews an
// account at 5 % hard bounces and may pause it at 10 %, Brevo suspends
// above 2 % over a day of campaigns; cPanel pairs a share with a minimum
// count (5); Exim's BlockCracking freezes an authenticated user at 100
// failed recipients an hour ("honest users are very unlikely to attempt
// to send to 100 nonexistent email addresses in one hour"). So: 10 %
// of the attempts over 1 h, never on fewer than 10 distinct unknown
// recipients, and always at 100.
type InvalidRecipientsConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span of event time counted. A multiple of
	// state.bucket_width. Default 1h.
	Window time.Duration `koanf:"window"`
	// Ratio is the share of attempts answered "user unknown" (distinct
	// recipients) at or above which the rule fires, in (0, 1]. Default 0.10.
	Ratio float64 `koanf:"ratio"`
	// MinUnknown is the fewest distinct recipients answered "user
	// unknown" in the window before the share counts. Default 10.
	MinUnknown int `koanf:"min_unknown"`
	// MinAttempts is the fewest attempts with a final outcome (sent,
	// bounced, rejected) in the window before the share counts. Default 10.
	MinAttempts int `koanf:"min_attempts"`
	// AlwaysUnknown fires whatever the share once this many distinct
	// recipients in the window were unknown; 0 disables. Default 100.
	AlwaysUnknown int `koanf:"always_unknown"`
}

// Default implements Section.
func (InvalidRecipientsConfig) Default() Section {
	return InvalidRecipientsConfig{
		On:            true,
		Window:        time.Hour,
		Ratio:         0.10,
		MinUnknown:    10,
		MinAttempts:   10,
		AlwaysUnknown: 100,
	}
}

// Enabled implements Section.
func (c InvalidRecipientsConfig) Enabled() bool { return c.On }

func (c InvalidRecipientsConfig) validate() error {
	var errs []error
	if !(c.Ratio > 0 && c.Ratio <= 1) { // also refuses NaN
		errs = append(errs, fmt.Errorf("ratio %v: must be in (0, 1]", c.Ratio))
	}
	if c.MinUnknown < 1 {
		errs = append(errs, fmt.Errorf("min_unknown %d: must be at least 1", c.MinUnknown))
	}
	if c.MinAttempts < 1 {
		errs = append(errs, fmt.Errorf("min_attempts %d: must be at least 1", c.MinAttempts))
	}
	if c.AlwaysUnknown < 0 {
		errs = append(errs, fmt.Errorf("always_unknown %d: must not be negative", c.AlwaysUnknown))
	}
	return errors.Join(errs...)
}

// Build implements Section.
func (c InvalidRecipientsConfig) Build(env Env) (Rule, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindSender)
	r := &invalidRecipients{cfg: c}
	var err error
	if r.counts, err = l.Counters(c.Window, 2); err != nil {
		return nil, err
	}
	if r.unknown, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your sending address has been blocked by admins: you recently sent too many emails to invalid recipients (%d of %d in " +
		FormatWindow(c.Window) + "). Open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(r.message(math.MaxUint64, math.MaxUint64)); err != nil {
		return nil, err
	}
	return r, nil
}

// Counters of the rule's block.
const (
	irAttempts = iota // attempts with a final outcome
	irUnknown         // of which answered "user unknown" (not distinct)
)

// invalidRecipients: per envelope sender (the null sender has no key),
// over the window, the attempts with a final outcome (deferred and
// expired do not count) and, as a distinct count, the recipients bounced
// or rejected as "user unknown" (event.ReasonUserUnknown: permanent 5.1.x,
// the hard bounces SES counts; a deferral saying "user unknown" is not one).
type invalidRecipients struct {
	cfg       InvalidRecipientsConfig
	counts    state.Counters
	unknown   state.Distinct
	first     state.Mark
	msgFormat string
	sums      [2]uint64
}

func (r *invalidRecipients) Info() Info {
	return Info{
		Code: CodeInvalidRecipients, Stage: StageSender, Kind: event.KindSender,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

func (r *invalidRecipients) message(unknown, attempts uint64) string {
	return fmt.Sprintf(r.msgFormat, unknown, attempts)
}

func (r *invalidRecipients) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" {
		return false
	}
	switch ev.Status {
	case event.StatusSent, event.StatusBounced, event.StatusRejected:
		return true
	}
	return false
}

func hardUnknown(ev *event.DeliveryEvent) bool {
	return ev.Reason == event.ReasonUserUnknown && (ev.Status == event.StatusBounced || ev.Status == event.StatusRejected)
}

func (r *invalidRecipients) Update(in *Input, rec state.Record) {
	ev := in.Event
	if !rec.Add(r.counts, irAttempts, 1) {
		return
	}
	if hardUnknown(ev) {
		rec.Add(r.counts, irUnknown, 1)
		rec.AddDistinct(r.unknown, state.Hash(strings.ToLower(ev.Recipient)))
		rec.MarkFirst(r.first, ev.ID)
	}
}

func (r *invalidRecipients) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	if !hardUnknown(in.Event) {
		return Crossing{}, false // only a new unknown can cross
	}
	rec.Sums(r.counts, r.sums[:])
	attempts := r.sums[irAttempts]
	unknown := min(rec.Distinct(r.unknown), r.sums[irUnknown], attempts)
	always := r.cfg.AlwaysUnknown > 0 && unknown >= uint64(r.cfg.AlwaysUnknown)
	if !always && (unknown < uint64(r.cfg.MinUnknown) || attempts < uint64(r.cfg.MinAttempts) ||
		float64(unknown) < r.cfg.Ratio*float64(attempts)) {
		return Crossing{}, false
	}
	ratio := float64(unknown) / float64(attempts)
	return Crossing{
		Message: r.message(unknown, attempts),
		Evidence: map[string]float64{
			"attempts":        float64(attempts),
			"user_unknown":    float64(unknown),
			"ratio":           math.Round(ratio*1e4) / 1e4,
			"threshold_ratio": r.cfg.Ratio,
			"min_unknown":     float64(r.cfg.MinUnknown),
			"min_attempts":    float64(r.cfg.MinAttempts),
			"always_unknown":  float64(r.cfg.AlwaysUnknown),
			"window_seconds":  r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
