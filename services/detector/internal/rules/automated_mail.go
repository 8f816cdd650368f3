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

// CodeAutomatedMail is the code of the automated_mail rule.
const CodeAutomatedMail = "automated_mail"

// AutomatedMailConfig configures automated_mail: "Violation of 'Intended
// for human consumption' policy" (the policy page): machine-generated mail
// at volume, one templated subject to the same few recipients around the
// clock. Shadow by default: it flags with evidence for a person to judge
// (an order notification to a shop owner looks alike); the recipient
// stage's junk_to_third_party covers the one-recipient case with a ban.
//
// Only mail with a mark of automation is looked at: an Auto-Submitted
// (other than "no") or X-Cron-Env header where the MTA logs headers
// (cronie writes both, research/thresholds.md §4), a monitoring or alert
// subject, or a cron subject. Defaults
// (§7, "junk to 3rd party"; the seed's "600 cron job notifications ...
// every day"): >= 100 messages of one subject fingerprint in 24 h, to at
// most 5 distinct recipients, sent in at least 18 distinct hours of the
// day.
type AutomatedMailConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default true.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted; a multiple of state.bucket_width. Default 24h.
	Window time.Duration `koanf:"window"`
	// MinMessages is the fewest marked messages of one subject fingerprint in the window. Default 100.
	MinMessages int `koanf:"min_messages"`
	// MaxRecipients is the most distinct recipients of the sender's marked mail. Default 5.
	MaxRecipients int `koanf:"max_recipients"`
	// MinHours is the fewest distinct hours of the day (UTC) the marked
	// mail was sent in, within the window: "around the clock". Default 18.
	MinHours int `koanf:"min_hours"`
	// AlertSubjects are subject prefixes (case-insensitive, after leading
	// white space and "Re:"-less) of monitoring and alert mail. Default:
	// "[FIRING" and "[RESOLVED" (Alertmanager), "** PROBLEM" and
	// "** RECOVERY" (Nagios, Icinga), "Problem:" and "Resolved" (Zabbix),
	// "monit alert", "[ALERT]", "ALERT:", "Logwatch for", "Cron <".
	AlertSubjects []string `koanf:"alert_subjects"`
}

// Default implements Section.
func (AutomatedMailConfig) Default() Section {
	return AutomatedMailConfig{
		On: true, Shadow: true, Window: 24 * time.Hour, MinMessages: 100, MaxRecipients: 5, MinHours: 18,
		AlertSubjects: []string{"[FIRING", "[RESOLVED", "** PROBLEM", "** RECOVERY", "Problem:", "Resolved",
			"monit alert", "[ALERT]", "ALERT:", "Logwatch for", "Cron <"},
	}
}

// Enabled implements Section.
func (c AutomatedMailConfig) Enabled() bool { return c.On }

func (c AutomatedMailConfig) validate() error {
	var errs []error
	if c.MinMessages < 1 {
		errs = append(errs, fmt.Errorf("min_messages %d: must be at least 1", c.MinMessages))
	}
	if c.MaxRecipients < 1 {
		errs = append(errs, fmt.Errorf("max_recipients %d: must be at least 1", c.MaxRecipients))
	}
	if c.MinHours < 1 || c.MinHours > 24 {
		errs = append(errs, fmt.Errorf("min_hours %d: must be between 1 and 24", c.MinHours))
	}
	for _, s := range c.AlertSubjects {
		if strings.TrimSpace(s) == "" {
			errs = append(errs, errors.New("alert_subjects: empty entry"))
		}
	}
	return errors.Join(errs...)
}

// Build implements Section.
func (c AutomatedMailConfig) Build(env Env) (Rule, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	if c.Window < time.Duration(c.MinHours)*time.Hour {
		return nil, fmt.Errorf("window %s: shorter than min_hours %d", c.Window, c.MinHours)
	}
	l := env.Layout(event.KindSender)
	r := &automatedMail{cfg: c}
	for _, s := range c.AlertSubjects {
		r.alerts = append(r.alerts, strings.ToLower(strings.TrimSpace(s)))
	}
	var err error
	if r.rcpts, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.hours, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.fps, err = l.Fingerprints(c.Window, 4); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your sending address has been blocked by admins: violation of the \"Intended for human consumption\" policy " +
		"(%d automated messages with one subject to %d recipients in " + FormatWindow(c.Window) + "). Send only what someone needs to read, " +
		"and open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint64(math.MaxUint32), uint64(math.MaxUint64))); err != nil {
		return nil, err
	}
	return r, nil
}

type autoMarks struct{ autoSubmitted, cronEnv, alert bool }

func (m autoMarks) any() bool { return m.autoSubmitted || m.cronEnv || m.alert }

// automatedMail: per envelope sender, over the window, the distinct
// recipients of its marked messages, the distinct hours of the day they
// were sent in and their commonest subject fingerprints (a fingerprint's
// count restarts when it was unseen for a whole window). No counters:
// only senders of marked mail cost state.
type automatedMail struct {
	cfg       AutomatedMailConfig
	alerts    []string
	rcpts     state.Distinct
	hours     state.Distinct
	fps       state.Fingerprints
	first     state.Mark
	msgFormat string
	cur       autoMarks
	top       uint32
}

func (r *automatedMail) Info() Info {
	return Info{
		Code: CodeAutomatedMail, Stage: StageSender, Kind: event.KindSender,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

func (r *automatedMail) marks(ev *event.DeliveryEvent) autoMarks {
	var m autoMarks
	for _, h := range ev.Headers {
		n, v := headerValue(h)
		switch {
		case strings.EqualFold(n, "Auto-Submitted"):
			m.autoSubmitted = m.autoSubmitted || (v != "" && !strings.EqualFold(v, "no"))
		case strings.EqualFold(n, "X-Cron-Env"):
			m.cronEnv = true
		}
	}
	if s := strings.TrimSpace(ev.Subject); s != "" {
		for _, p := range r.alerts {
			if len(s) >= len(p) && strings.EqualFold(s[:len(p)], p) {
				m.alert = true
				break
			}
		}
	}
	return m
}

func (r *automatedMail) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" || ev.Recipient == "" {
		return false
	}
	switch ev.Status {
	case event.StatusSent, event.StatusBounced, event.StatusRejected, event.StatusExpired:
	default:
		return false // a deferral is a retry of a message counted at its outcome
	}
	r.cur = r.marks(ev)
	return r.cur.any()
}

func (r *automatedMail) Update(in *Input, rec state.Record) {
	ev := in.Event
	rec.AddDistinct(r.rcpts, state.Hash(strings.ToLower(ev.Recipient)))
	rec.AddDistinct(r.hours, smallValue(uint64(ev.TS.UTC().Hour())))
	r.top = rec.AddFingerprint(r.fps, state.Fingerprint(ev.Subject))
	rec.MarkFirst(r.first, ev.ID)
}

func (r *automatedMail) Threshold(_ *Input, rec state.Record) (Crossing, bool) {
	if r.top < uint32(r.cfg.MinMessages) {
		return Crossing{}, false // only this event's fingerprint can have crossed
	}
	rcpts := rec.Distinct(r.rcpts)
	hours := rec.Distinct(r.hours)
	if rcpts > uint64(r.cfg.MaxRecipients) || hours < uint64(r.cfg.MinHours) {
		return Crossing{}, false
	}
	return Crossing{
		Message: fmt.Sprintf(r.msgFormat, r.top, rcpts),
		Evidence: map[string]float64{
			"fingerprint_messages": float64(r.top),
			"recipients":           float64(rcpts),
			"hours":                float64(hours),
			"auto_submitted":       b01(r.cur.autoSubmitted),
			"x_cron_env":           b01(r.cur.cronEnv),
			"alert_subject":        b01(r.cur.alert),
			"min_messages":         float64(r.cfg.MinMessages),
			"max_recipients":       float64(r.cfg.MaxRecipients),
			"min_hours":            float64(r.cfg.MinHours),
			"window_seconds":       r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}

// smallValue spreads a small number over the 64 bits for a Distinct slot,
// which keeps a value's high bits exactly and hashes them into sketches
// (Fibonacci hashing: distinct inputs stay distinct).
func smallValue(v uint64) uint64 { return (v + 1) * 0x9E3779B97F4A7C15 }
