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

// CodeSPFRejections is the code of the spf_rejections rule.
const CodeSPFRejections = "spf_rejections"

// SPFRejectionsConfig configures spf_rejections: third-party servers
// rejecting a sender domain's mail because it fails SPF / DKIM / DMARC —
// typically because the customer did not add the platform to the domain's
// SPF record. Every such rejection costs the platform's IPs reputation at
// the receiver, so the domain is stopped until it is fixed ("We saw a
// significant number of rejected emails from your domain to third party
// services, because you didn't add us to your SPF record. Fix your SPF and
// open a support ticket.").
//
// Defaults (research/thresholds.md §7, "SPF/auth rejects at 3rd parties"):
// at least 5 authentication rejections and at least 20 % of the domain's
// attempts at third parties in 1 h — the count-and-share shape of cPanel's
// defer/fail protection (minimum 5), with the codes Gmail, Microsoft and
// Yahoo use: 5.7.26 (unauthenticated, DMARC), 5.7.27 (SPF), 5.7.23 (SPF
// fail), 5.7.25 (PTR), 5.7.9 / 5.7.8 (authentication), 5.7.515 (Outlook's
// required authentication level) and 5.7.1 when the text names SPF, DKIM
// or DMARC.
//
// It bans the sender domain: SPF is a property of the domain, every
// address of it fails the same way, and the fix (the SPF record) is the
// domain owner's. Temporary rejections (4.7.26, 4.7.27) count as well:
// Gmail sends them first for the same cause.
type SPFRejectionsConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted. Default 1h.
	Window time.Duration `koanf:"window"`
	// MinRejections is the fewest authentication rejections in the window. Default 5.
	MinRejections int `koanf:"min_rejections"`
	// Ratio is the share of the domain's third-party attempts rejected
	// for authentication at or above which the rule fires, in (0, 1]. Default 0.2.
	Ratio float64 `koanf:"ratio"`
}

// Default implements Section.
func (SPFRejectionsConfig) Default() Section {
	return SPFRejectionsConfig{On: true, Window: time.Hour, MinRejections: 5, Ratio: 0.2}
}

// Enabled implements Section.
func (c SPFRejectionsConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c SPFRejectionsConfig) Build(env Env) (Rule, error) {
	var errs []error
	if c.MinRejections < 1 {
		errs = append(errs, fmt.Errorf("min_rejections %d: must be at least 1", c.MinRejections))
	}
	if !(c.Ratio > 0 && c.Ratio <= 1) {
		errs = append(errs, fmt.Errorf("ratio %v: must be in (0, 1]", c.Ratio))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindSenderDomain)
	r := &spfRejections{cfg: c}
	var err error
	if r.counts, err = l.Counters(c.Window, 2); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your sending domain has been blocked by admins: third-party servers rejected %d of %d of its messages in " +
		FormatWindow(c.Window) + " for failing SPF/DMARC. Add our servers to your SPF record and open a ticket at " +
		strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint64(math.MaxUint64), uint64(math.MaxUint64))); err != nil {
		return nil, err
	}
	return r, nil
}

const (
	spfAttempts = iota // attempts at third-party servers
	spfRejected        // of which rejected for authentication
)

type spfRejections struct {
	cfg       SPFRejectionsConfig
	counts    state.Counters
	first     state.Mark
	msgFormat string
	sums      [2]uint64
}

func (r *spfRejections) Info() Info {
	return Info{
		Code: CodeSPFRejections, Stage: StageSender, Kind: event.KindSenderDomain,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

// thirdParty reports whether the attempt went to another organisation's
// server: a relay was named, and it is neither local delivery (local,
// virtual, an LMTP socket) nor a content filter on loopback.
func thirdParty(ev *event.DeliveryEvent) bool {
	r := strings.ToLower(ev.Relay)
	switch r {
	case "", "local", "virtual", "dovecot", "lmtp", "none", "pipe":
		return false
	}
	return !strings.Contains(r, "[private/") && !strings.Contains(r, "[127.") && !strings.Contains(r, "[::1]")
}

func (r *spfRejections) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" || !thirdParty(ev) {
		return false
	}
	switch ev.Status {
	case event.StatusSent, event.StatusBounced, event.StatusDeferred:
		return true
	}
	return false
}

// authRejection reports whether a reply refuses the mail for the sender
// domain's authentication (SPF, DKIM, DMARC), as opposed to an SMTP AUTH
// demand or a block list, which ReasonAuthFailure also covers.
func authRejection(ev *event.DeliveryEvent) bool {
	if ev.Status == event.StatusSent || ev.Reason != event.ReasonAuthFailure {
		return false
	}
	switch ev.DSN {
	case "5.7.26", "4.7.26", "5.7.27", "4.7.27", "5.7.23", "4.7.23", "5.7.25", "5.7.9", "5.7.8", "5.7.515":
		return true
	}
	t := strings.ToLower(ev.ReplyText)
	return strings.Contains(t, "spf") || strings.Contains(t, "dmarc") || strings.Contains(t, "dkim")
}

func (r *spfRejections) Update(in *Input, rec state.Record) {
	if !rec.Add(r.counts, spfAttempts, 1) {
		return
	}
	if authRejection(in.Event) {
		rec.Add(r.counts, spfRejected, 1)
		rec.MarkFirst(r.first, in.Event.ID)
	}
}

func (r *spfRejections) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	if !authRejection(in.Event) {
		return Crossing{}, false
	}
	rec.Sums(r.counts, r.sums[:])
	attempts, rejected := r.sums[spfAttempts], r.sums[spfRejected]
	if rejected < uint64(r.cfg.MinRejections) || float64(rejected) < r.cfg.Ratio*float64(attempts) {
		return Crossing{}, false
	}
	return Crossing{
		Message: fmt.Sprintf(r.msgFormat, rejected, attempts),
		Evidence: map[string]float64{
			"auth_rejections": float64(rejected),
			"attempts":        float64(attempts),
			"ratio":           math.Round(float64(rejected)/float64(attempts)*1e4) / 1e4,
			"threshold_ratio": r.cfg.Ratio,
			"min_rejections":  float64(r.cfg.MinRejections),
			"window_seconds":  r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
