package rules

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeCronFlood is the code of the cron_flood rule.
const CodeCronFlood = "cron_flood"

// CronFloodConfig configures cron_flood: "You send an email for every
// cron job that executes every minute" (the policy page). One sender
// repeating one subject at regular intervals to the same few recipients,
// marked as cron mail: a cronie/Vixie "Cron <user@host> command" subject,
// cron's X-Cron-Env header where logged, or (local_submission) mail
// submitted on the host itself.
//
// Defaults (research/thresholds.md §4 and §7): a per-minute job sends 60
// messages an hour; §7 recommends >= 30 messages of one sender and subject
// with regular spacing in 1 h: here >= 30 in a row, none more than the
// window apart, at a mean rate of at least 30 per window. Regular means a coefficient of variation
// of the gaps of at most 0.5: a clock-driven job's gaps vary by a few
// seconds (CV near 0), people and web traffic arrive at random (CV near
// 1). Cron mail goes to the job's MAILTO, so at most 5 distinct
// recipients: a throttled mailer sending one message every 30 s to many
// recipients is regular too, and is not a cron job.
type CronFloodConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted; a multiple of state.bucket_width. Default 1h.
	Window time.Duration `koanf:"window"`
	// MinMessages is the fewest messages with one sender and subject
	// fingerprint in a row (no gap longer than the window), at a mean rate
	// of at least MinMessages per window. Default 30.
	MinMessages int `koanf:"min_messages"`
	// MaxCV is the largest coefficient of variation (stddev / mean) of the
	// gaps between those messages that still counts as regular. Default 0.5.
	MaxCV float64 `koanf:"max_cv"`
	// MaxRecipients is the most distinct recipients those messages may
	// have in the window. Default 5.
	MaxRecipients int `koanf:"max_recipients"`
	// LocalSubmission also counts mail submitted on the host itself
	// without a login (sendmail, pickup: Postfix "from local", Exim
	// P=local) as cron-marked, for MTAs that log no subjects. It costs
	// state for every sender of locally submitted mail. Default false.
	LocalSubmission bool `koanf:"local_submission"`
}

// Default implements Section.
func (CronFloodConfig) Default() Section {
	return CronFloodConfig{On: true, Window: time.Hour, MinMessages: 30, MaxCV: 0.5, MaxRecipients: 5}
}

// Enabled implements Section.
func (c CronFloodConfig) Enabled() bool { return c.On }

func (c CronFloodConfig) validate() error {
	var errs []error
	if c.MinMessages < 3 {
		errs = append(errs, fmt.Errorf("min_messages %d: must be at least 3 (regularity needs gaps)", c.MinMessages))
	}
	if !(c.MaxCV > 0) || math.IsInf(c.MaxCV, 0) {
		errs = append(errs, fmt.Errorf("max_cv %v: must be positive", c.MaxCV))
	}
	if c.MaxRecipients < 1 {
		errs = append(errs, fmt.Errorf("max_recipients %d: must be at least 1", c.MaxRecipients))
	}
	return errors.Join(errs...)
}

// Build implements Section.
func (c CronFloodConfig) Build(env Env) (Rule, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindSender)
	r := &cronFlood{cfg: c}
	var err error
	if r.rcpts, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.gaps, err = l.Regularity(c.Window); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your sending address has been blocked by admins: ENOUGH with the cron job spam: %d messages with one subject in " +
		FormatWindow(c.Window) + ", one every %s, flooding our queue. Set MAILTO=\"\" or mail only output someone needs to read, " +
		"and open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(r.message(math.MaxUint32, 1e9)); err != nil {
		return nil, err
	}
	return r, nil
}

// cronFlood keeps its state per sender and subject fingerprint (the key
// "sender fingerprint" in the sender table; the sender's own record when
// no subject is logged): the regularity of one job's mail, not of
// everything the sender sends. Only events with a cron mark and a final
// outcome are looked at (a deferral is a retry of a message already
// counted, and would break the spacing); the verdict is about the sender.
// It declares no counters (they would cost every tracked sender): the run
// of messages is the regularity slot's, which restarts after a gap longer
// than the window.
type cronFlood struct {
	cfg       CronFloodConfig
	rcpts     state.Distinct
	gaps      state.Regularity
	first     state.Mark
	msgFormat string
	last      state.Gaps
	key       []byte
}

func (r *cronFlood) Info() Info {
	return Info{
		Code: CodeCronFlood, Stage: StageSender, Kind: event.KindSender,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

func (r *cronFlood) message(n uint64, every float64) string {
	return fmt.Sprintf(r.msgFormat, n, FormatWindow(time.Duration(math.Round(every))*time.Second))
}

// cronSubject reports whether a subject is cron's: cronie and Vixie cron
// write "Cron <user@host> command", anacron "Anacron job 'cron.daily' on host".
func cronSubject(s string) bool {
	return strings.HasPrefix(s, "Cron <") || strings.HasPrefix(s, "Anacron job ")
}

func (r *cronFlood) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" {
		return false
	}
	switch ev.Status {
	case event.StatusSent, event.StatusBounced, event.StatusRejected, event.StatusExpired:
	default:
		return false
	}
	// An invalid sender is no mark here: invalid_sender bans it on its
	// first message (and checking it twice per event costs).
	return cronSubject(ev.Subject) || cronHeader(ev) || (r.cfg.LocalSubmission && localSubmission(ev))
}

// cronHeader reports whether cron's X-Cron-Env header was logged.
func cronHeader(ev *event.DeliveryEvent) bool {
	for _, h := range ev.Headers {
		if n, _ := headerValue(h); strings.EqualFold(n, "X-Cron-Env") {
			return true
		}
	}
	return false
}

// Key implements Keyer: the sender and the subject's fingerprint, or the
// sender alone (its own record) when no subject is logged.
func (r *cronFlood) Key(in *Input) string {
	if in.Event.Subject == "" {
		return strings.ToLower(in.Event.Sender)
	}
	r.key = append(r.key[:0], strings.ToLower(in.Event.Sender)...)
	r.key = append(r.key, ' ')
	r.key = strconv.AppendUint(r.key, state.Fingerprint(in.Event.Subject), 16)
	return string(r.key)
}

func (r *cronFlood) Update(in *Input, rec state.Record) {
	ev := in.Event
	rec.AddDistinct(r.rcpts, state.Hash(strings.ToLower(ev.Recipient)))
	rec.MarkFirst(r.first, ev.ID)
	r.last = rec.Arrive(r.gaps)
}

func (r *cronFlood) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	g := r.last
	n := uint64(g.N) + 1 // messages in the run
	// At least MinMessages in a row, as often as MinMessages per window.
	if n < uint64(r.cfg.MinMessages) || g.CV > r.cfg.MaxCV ||
		g.Mean*float64(r.cfg.MinMessages) > r.cfg.Window.Seconds() {
		return Crossing{}, false
	}
	rcpts := rec.Distinct(r.rcpts)
	if rcpts > uint64(r.cfg.MaxRecipients) {
		return Crossing{}, false
	}
	ev := in.Event
	b := func(ok bool) float64 {
		if ok {
			return 1
		}
		return 0
	}
	return Crossing{
		Subject: strings.ToLower(ev.Sender),
		Message: r.message(n, g.Mean),
		Evidence: map[string]float64{
			"messages":         float64(n),
			"cron_subject":     b(cronSubject(ev.Subject)),
			"x_cron_env":       b(cronHeader(ev)),
			"recipients":       float64(rcpts),
			"gaps":             float64(g.N),
			"mean_gap_seconds": math.Round(g.Mean*10) / 10,
			"cv":               math.Round(g.CV*1e4) / 1e4,
			"local_submission": b(localSubmission(ev)),
			"invalid_sender":   b(senderFault(ev.Sender, defaultReservedTLDs) != faultNone),
			"subject_logged":   b(ev.Subject != ""),
			"min_messages":     float64(r.cfg.MinMessages),
			"threshold_cv":     r.cfg.MaxCV,
			"max_recipients":   float64(r.cfg.MaxRecipients),
			"window_seconds":   r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
