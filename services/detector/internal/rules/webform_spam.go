package rules

import (
	_ "embed"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeWebformSpam is the code of the webform_spam rule.
const CodeWebformSpam = "webform_spam"

// freemailList is willwhite/freemail's data/free.txt (data/freemail.txt,
// ISC: data/freemail.LICENSE).
//
//go:embed data/freemail.txt
var freemailList string

// freemailDomains is the parsed list, shared by every processor.
var freemailDomains = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 4500)
	for l := range strings.SplitSeq(freemailList, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = struct{}{}
		}
	}
	return m
})

// WebformSpamConfig configures webform_spam: "Your Wordpress contact form
// was being used to send spam to third party email services with which we
// would like to maintain a highly positive reputation (Gmail, Hotmail,
// Yahoo, etc)" (the policy page). A form sender (WordPress' default
// wordpress@<site>, noreply@, www-data, or anything PHP submits on the
// host itself) mailing many distinct free-mail recipients while those
// providers refuse it as spam or rate-limit it.
//
// Defaults (research/thresholds.md §7): >= 20 distinct free-mail
// recipients in 1 h (cPanel's 500 unique an hour is far too lax for a
// form, which mails its owner); and, so a password-reset or order burst
// to many free-mail customers does not ban, the providers' verdict on it:
// >= 5 spam or rate-limit refusals that are >= 5 % of those recipients
// (Gmail wants a spam rate under 0.3 % and never 0.3 %, §1; a healthy
// transactional stream draws a few refusals per thousand).
type WebformSpamConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted; a multiple of state.bucket_width. Default 1h.
	Window time.Duration `koanf:"window"`
	// MinRecipients is the fewest distinct free-mail recipients in the window. Default 20.
	MinRecipients int `koanf:"min_recipients"`
	// MinRejections is the fewest distinct recipients refused as spam
	// (spam_content) or for rate (rate_limited) by free-mail providers,
	// bounced or deferred. Default 5.
	MinRejections int `koanf:"min_rejections"`
	// RejectionRatio is the share of refusals per distinct free-mail
	// recipient at or above which the rule fires, in (0, 1]. Default 0.05.
	RejectionRatio float64 `koanf:"rejection_ratio"`
	// FormLocalParts are the sender local parts of web forms and scripts
	// (case-insensitive). A sender with one, or any sender of mail
	// submitted on the host itself without a login (PHP mail(),
	// sendmail), is a form sender. Default wordpress, noreply, no-reply,
	// donotreply, do-not-reply, www-data, apache, nginx, nobody, webmaster.
	FormLocalParts []string `koanf:"form_local_parts"`
	// ExtraFreemail adds domains to the built-in free-mail list. Default none.
	ExtraFreemail []string `koanf:"extra_freemail"`
}

// Default implements Section.
func (WebformSpamConfig) Default() Section {
	return WebformSpamConfig{
		On: true, Window: time.Hour, MinRecipients: 20, MinRejections: 5, RejectionRatio: 0.05,
		FormLocalParts: []string{"wordpress", "noreply", "no-reply", "donotreply", "do-not-reply", "www-data",
			"apache", "nginx", "nobody", "webmaster"},
	}
}

// Enabled implements Section.
func (c WebformSpamConfig) Enabled() bool { return c.On }

func (c WebformSpamConfig) validate() error {
	var errs []error
	if c.MinRecipients < 1 {
		errs = append(errs, fmt.Errorf("min_recipients %d: must be at least 1", c.MinRecipients))
	}
	if c.MinRejections < 1 {
		errs = append(errs, fmt.Errorf("min_rejections %d: must be at least 1", c.MinRejections))
	}
	if !(c.RejectionRatio > 0 && c.RejectionRatio <= 1) {
		errs = append(errs, fmt.Errorf("rejection_ratio %v: must be in (0, 1]", c.RejectionRatio))
	}
	for _, lp := range c.FormLocalParts {
		if lp == "" || strings.ContainsAny(lp, "@ \t\r\n") {
			errs = append(errs, fmt.Errorf("form_local_parts: %q is not a local part", lp))
		}
	}
	for _, d := range c.ExtraFreemail {
		if badDomainSyntax(strings.ToLower(d)) != "" || !strings.Contains(d, ".") {
			errs = append(errs, fmt.Errorf("extra_freemail: %q is not a domain", d))
		}
	}
	return errors.Join(errs...)
}

// Build implements Section.
func (c WebformSpamConfig) Build(env Env) (Rule, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindSender)
	r := &webformSpam{cfg: c, free: freemailDomains(), forms: map[string]struct{}{}}
	for _, lp := range c.FormLocalParts {
		r.forms[strings.ToLower(lp)] = struct{}{}
	}
	if len(c.ExtraFreemail) > 0 {
		r.extra = map[string]struct{}{}
		for _, d := range c.ExtraFreemail {
			r.extra[strings.ToLower(d)] = struct{}{}
		}
	}
	var err error
	if r.refused, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.rcpts, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your sending address has been blocked by admins: your Wordpress contact form was being used to send spam to third party " +
		"email services (%d free-mail recipients in " + FormatWindow(c.Window) + ", %d refused as spam or rate-limited). " +
		"Add a CAPTCHA, stop the form mailing its visitors, and open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint64(math.MaxUint64), uint64(math.MaxUint64))); err != nil {
		return nil, err
	}
	return r, nil
}

// webformSpam: per envelope sender, over the window, the distinct
// free-mail recipients of a form sender's mail and, distinct too, those
// the providers refused as spam or for rate (a deferral retried is one
// refusal). Distinct slots only: nothing is allocated for senders that
// never mail free-mail recipients as a form.
type webformSpam struct {
	cfg         WebformSpamConfig
	free, extra map[string]struct{}
	forms       map[string]struct{}
	refused     state.Distinct
	rcpts       state.Distinct
	first       state.Mark
	msgFormat   string
}

func (r *webformSpam) Info() Info {
	return Info{
		Code: CodeWebformSpam, Stage: StageSender, Kind: event.KindSender,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

// formSender reports whether ev comes from a web form or script.
func (r *webformSpam) formSender(ev *event.DeliveryEvent) bool {
	if localSubmission(ev) {
		return true
	}
	at := strings.LastIndexByte(ev.Sender, '@')
	if at <= 0 {
		return false
	}
	_, ok := r.forms[strings.ToLower(ev.Sender[:at])]
	return ok
}

func (r *webformSpam) freemail(rcpt string) bool {
	d := strings.ToLower(event.Domain(rcpt))
	if _, ok := r.free[d]; ok {
		return true
	}
	_, ok := r.extra[d]
	return ok
}

func (r *webformSpam) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" || ev.Recipient == "" || ev.Status == event.StatusAuthFailed {
		return false
	}
	return r.formSender(ev) && r.freemail(ev.Recipient)
}

// refused reports whether the provider refused ev as spam or for rate.
func refused(ev *event.DeliveryEvent) bool {
	if ev.Reason != event.ReasonSpamContent && ev.Reason != event.ReasonRateLimited {
		return false
	}
	return ev.Status == event.StatusBounced || ev.Status == event.StatusDeferred || ev.Status == event.StatusRejected
}

func (r *webformSpam) Update(in *Input, rec state.Record) {
	ev := in.Event
	h := state.Hash(strings.ToLower(ev.Recipient))
	rec.AddDistinct(r.rcpts, h)
	if refused(ev) {
		rec.AddDistinct(r.refused, h)
	}
	rec.MarkFirst(r.first, ev.ID)
}

func (r *webformSpam) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	rej := rec.Distinct(r.refused)
	if rej < uint64(r.cfg.MinRejections) {
		return Crossing{}, false
	}
	rcpts := rec.Distinct(r.rcpts)
	if rcpts < uint64(r.cfg.MinRecipients) || float64(rej) < r.cfg.RejectionRatio*float64(rcpts) {
		return Crossing{}, false
	}
	local := 0.0
	if localSubmission(in.Event) {
		local = 1
	}
	return Crossing{
		Message: fmt.Sprintf(r.msgFormat, rcpts, rej),
		Evidence: map[string]float64{
			"freemail_recipients":       float64(rcpts),
			"rejections":                float64(rej),
			"rejection_ratio":           math.Round(float64(rej)/float64(rcpts)*1e4) / 1e4,
			"local_submission":          local,
			"min_recipients":            float64(r.cfg.MinRecipients),
			"min_rejections":            float64(r.cfg.MinRejections),
			"threshold_rejection_ratio": r.cfg.RejectionRatio,
			"window_seconds":            r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
