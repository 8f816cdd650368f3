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

// CodeBulkMarketing is the code of the bulk_marketing rule.
const CodeBulkMarketing = "bulk_marketing"

// BulkMarketingConfig configures bulk_marketing: "You sent marketing
// emails. We do not allow marketing emails to be sent from our platform"
// (the policy page). One campaign (one subject fingerprint) to many
// distinct recipients, marked as bulk by the headers the MTA logged
// (event Headers; README, Logging headers): a one-click
// List-Unsubscribe-Post (RFC 8058), or Precedence: bulk with a
// List-Unsubscribe (RFC 2369), or a mass mailer's X-Mailer.
//
// Defaults (research/thresholds.md §3 and §7): the markers are exactly
// what Gmail and Yahoo demand of marketing senders; >= 50 distinct
// recipients of marked mail with one fingerprint in 24 h. Mailing lists
// (Precedence: list, a List-Unsubscribe without one-click) and
// transactional mail (PHPMailer's X-Mailer marks scripts, not marketing)
// are not marked. Without logged headers nothing is marked and the rule
// stays silent unless fingerprint_only_recipients is set.
type BulkMarketingConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted; a multiple of state.bucket_width. Default 24h.
	Window time.Duration `koanf:"window"`
	// MinRecipients is the fewest distinct recipients of bulk-marked mail,
	// and the fewest marked messages with one subject fingerprint, in the
	// window. Default 50.
	MinRecipients int `koanf:"min_recipients"`
	// Mailers are X-Mailer value prefixes of mass mailers
	// (case-insensitive). Default "phplist" (phpList writes "X-Mailer:
	// PHPlist v...", thresholds.md §3).
	Mailers []string `koanf:"mailers"`
	// FingerprintOnlyRecipients, when > 0, also fires without any bulk
	// marker once one subject fingerprint of a sender reached this many
	// distinct recipients in the window: for MTAs that log no headers,
	// at the risk of banning a large transactional stream (a reset burst
	// is one fingerprint to many recipients too). Default 0 (off).
	FingerprintOnlyRecipients int `koanf:"fingerprint_only_recipients"`
}

// Default implements Section.
func (BulkMarketingConfig) Default() Section {
	return BulkMarketingConfig{On: true, Window: 24 * time.Hour, MinRecipients: 50, Mailers: []string{"phplist"}}
}

// Enabled implements Section.
func (c BulkMarketingConfig) Enabled() bool { return c.On }

func (c BulkMarketingConfig) validate() error {
	var errs []error
	if c.MinRecipients < 1 {
		errs = append(errs, fmt.Errorf("min_recipients %d: must be at least 1", c.MinRecipients))
	}
	if c.FingerprintOnlyRecipients < 0 {
		errs = append(errs, fmt.Errorf("fingerprint_only_recipients %d: must not be negative", c.FingerprintOnlyRecipients))
	}
	for _, m := range c.Mailers {
		if strings.TrimSpace(m) == "" {
			errs = append(errs, errors.New("mailers: empty entry"))
		}
	}
	return errors.Join(errs...)
}

// Build implements Section.
func (c BulkMarketingConfig) Build(env Env) (Rule, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindSender)
	r := &bulkMarketing{cfg: c}
	for _, m := range c.Mailers {
		r.mailers = append(r.mailers, strings.ToLower(strings.TrimSpace(m)))
	}
	var err error
	if r.rcpts, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.fps, err = l.Fingerprints(c.Window, 4); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your sending address has been blocked by admins: you sent marketing emails (%d recipients of one campaign in " +
		FormatWindow(c.Window) + "). We do not allow marketing emails from our platform: use a bulk mail provider, and open a ticket at " +
		strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint64(math.MaxUint64))); err != nil {
		return nil, err
	}
	return r, nil
}

// Bulk markers found in an event's headers.
type bulkMarks struct{ oneClick, precBulk, mailer bool }

func (m bulkMarks) any() bool { return m.oneClick || m.precBulk || m.mailer }

// headerValue splits a logged "Name: value" line.
func headerValue(h string) (name, value string) {
	n, v, ok := strings.Cut(h, ":")
	if !ok {
		return "", ""
	}
	return strings.TrimSpace(n), strings.TrimSpace(v)
}

func (r *bulkMarketing) marks(ev *event.DeliveryEvent) bulkMarks {
	var m bulkMarks
	var lu, bulk bool
	for _, h := range ev.Headers {
		n, v := headerValue(h)
		switch {
		case strings.EqualFold(n, "List-Unsubscribe-Post"):
			m.oneClick = m.oneClick || strings.EqualFold(strings.ReplaceAll(v, " ", ""), "List-Unsubscribe=One-Click")
		case strings.EqualFold(n, "List-Unsubscribe"):
			lu = true
		case strings.EqualFold(n, "Precedence"):
			bulk = bulk || strings.EqualFold(v, "bulk")
		case strings.EqualFold(n, "X-Mailer"):
			lv := strings.ToLower(v)
			for _, p := range r.mailers {
				if strings.HasPrefix(lv, p) {
					m.mailer = true
				}
			}
		}
	}
	m.precBulk = lu && bulk
	return m
}

// bulkMarketing: per envelope sender, over the window, the distinct
// recipients of its bulk-marked messages and their commonest subject
// fingerprints (a fingerprint's count restarts when it was unseen for a
// whole window). No counters: only senders of marked mail cost state.
type bulkMarketing struct {
	cfg       BulkMarketingConfig
	mailers   []string
	rcpts     state.Distinct
	fps       state.Fingerprints
	first     state.Mark
	msgFormat string
	cur       bulkMarks
}

func (r *bulkMarketing) Info() Info {
	return Info{
		Code: CodeBulkMarketing, Stage: StageSender, Kind: event.KindSender,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

func (r *bulkMarketing) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" || ev.Recipient == "" || ev.Status == event.StatusAuthFailed {
		return false
	}
	r.cur = r.marks(ev)
	return r.cur.any() || r.cfg.FingerprintOnlyRecipients > 0
}

func (r *bulkMarketing) Update(in *Input, rec state.Record) {
	ev := in.Event
	rec.AddDistinct(r.rcpts, state.Hash(strings.ToLower(ev.Recipient)))
	rec.AddFingerprint(r.fps, state.Fingerprint(ev.Subject))
	rec.MarkFirst(r.first, ev.ID)
}

func (r *bulkMarketing) Threshold(_ *Input, rec state.Record) (Crossing, bool) {
	_, top := rec.TopFingerprint(r.fps)
	rcpts := rec.Distinct(r.rcpts)
	need := uint64(r.cfg.MinRecipients)
	byMarks := r.cur.any() && uint64(top) >= need && rcpts >= need
	fpOnly := r.cfg.FingerprintOnlyRecipients > 0 && uint64(top) >= uint64(r.cfg.FingerprintOnlyRecipients) &&
		rcpts >= uint64(r.cfg.FingerprintOnlyRecipients)
	if !byMarks && !fpOnly {
		return Crossing{}, false
	}
	return Crossing{
		Message: fmt.Sprintf(r.msgFormat, rcpts),
		Evidence: map[string]float64{
			"recipients":                  float64(rcpts),
			"top_fingerprint_messages":    float64(top),
			"one_click_unsubscribe":       b01(r.cur.oneClick),
			"precedence_bulk_unsubscribe": b01(r.cur.precBulk),
			"bulk_mailer":                 b01(r.cur.mailer),
			"min_recipients":              float64(r.cfg.MinRecipients),
			"fingerprint_only_recipients": float64(r.cfg.FingerprintOnlyRecipients),
			"window_seconds":              r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}

// b01 is a flag as evidence: 1 or 0.
func b01(ok bool) float64 {
	if ok {
		return 1
	}
	return 0
}
