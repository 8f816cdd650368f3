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

// CodeLimitEvasion is the code of the limit_evasion rule.
const CodeLimitEvasion = "limit_evasion"

// LimitEvasionConfig configures limit_evasion: one account sending the same
// campaign from several rotated sender addresses (sender1@, sender2@,
// sender3@ …) so that each address stays under the hourly limit while
// their sum is over it — the policy page's "intentionally circumventing the
// 300 outbound per hour limit by sending the same email campaign from
// additional addresses".
//
// Defaults (research/thresholds.md §7, "limit evasion"): at least 3 sender
// addresses sharing one content fingerprint, summing more than 300
// deliveries in 1 h (MXroute's 300/h per address, the limit being evaded).
//
// The key is the account and the campaign's fingerprint together, so an
// account's other mail never dilutes or inflates a campaign's count. The
// fingerprint is the logged subject's (state.Fingerprint: digits, dates,
// hex ids, host names folded, so "Offer #1234 for bob" and "Offer #98 for
// ann" are one campaign). The rule needs logged subjects (Postfix
// header_checks INFO, Exim +subject): without them, a busy account's three
// role addresses (sales@, billing@, info@) at 600 an hour look exactly like
// a rotated campaign, so by default mail without a subject is left alone.
// SizeBucket > 0 makes messages of the same size to within that many bytes
// stand in for one campaign (evidence "by_size" = 1), for platforms that
// cannot log subjects and accept that risk.
//
// It bans the account: the addresses are the rotating part, so banning one
// stops nothing; the account is the one customer doing it.
type LimitEvasionConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted. Default 1h.
	Window time.Duration `koanf:"window"`
	// Limit: more deliveries of one campaign than this in the window, summed
	// over the account's addresses, fire. Default 300.
	Limit int `koanf:"limit"`
	// MinSenders is the fewest distinct sender addresses carrying the
	// campaign in the window. Default 3.
	MinSenders int `koanf:"min_senders"`
	// SizeBucket is the size granularity, in bytes, that stands in for a
	// fingerprint when no subject is logged; 0 ignores mail without a
	// subject. Default 0.
	SizeBucket int64 `koanf:"size_bucket"`
}

// Default implements Section.
func (LimitEvasionConfig) Default() Section {
	return LimitEvasionConfig{On: true, Window: time.Hour, Limit: 300, MinSenders: 3}
}

// Enabled implements Section.
func (c LimitEvasionConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c LimitEvasionConfig) Build(env Env) (Rule, error) {
	var errs []error
	if c.Limit < 1 {
		errs = append(errs, fmt.Errorf("limit %d: must be at least 1", c.Limit))
	}
	if c.MinSenders < 2 {
		errs = append(errs, fmt.Errorf("min_senders %d: must be at least 2 (one address is rate_limit's)", c.MinSenders))
	}
	if c.SizeBucket < 0 {
		errs = append(errs, fmt.Errorf("size_bucket %d: must not be negative", c.SizeBucket))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindAccount)
	r := &limitEvasion{cfg: c}
	var err error
	if r.count, err = l.Counters(c.Window, 1); err != nil {
		return nil, err
	}
	if r.senders, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your account has been blocked by admins: you were circumventing the %d outbound per hour limit by sending the same campaign from %d addresses (%d messages in " +
		FormatWindow(c.Window) + "). Open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, math.MaxInt32, uint64(math.MaxUint64), uint64(math.MaxUint64))); err != nil {
		return nil, err
	}
	return r, nil
}

type limitEvasion struct {
	cfg       LimitEvasionConfig
	count     state.Counters
	senders   state.Distinct
	first     state.Mark
	msgFormat string
	sums      [1]uint64
	key       []byte
}

func (r *limitEvasion) Info() Info {
	return Info{
		Code: CodeLimitEvasion, Stage: StageSender, Kind: event.KindAccount,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

func (r *limitEvasion) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" || ev.Account() == ev.Sender {
		// Without a login the account is the sender itself: nothing rotates.
		return false
	}
	if ev.Subject == "" && r.cfg.SizeBucket == 0 {
		return false
	}
	switch ev.Status {
	case event.StatusSent, event.StatusBounced, event.StatusExpired:
		return true
	}
	return false
}

// Key implements Keyer: the account and the campaign's fingerprint.
func (r *limitEvasion) Key(in *Input) string {
	ev := in.Event
	r.key = append(r.key[:0], strings.ToLower(ev.Account())...)
	if ev.Subject != "" {
		r.key = append(r.key, "|fp:"...)
		r.key = strconv.AppendUint(r.key, state.Fingerprint(ev.Subject), 16)
	} else {
		r.key = append(r.key, "|size:"...)
		r.key = strconv.AppendInt(r.key, ev.Size/r.cfg.SizeBucket, 10)
	}
	return string(r.key)
}

func (r *limitEvasion) Update(in *Input, rec state.Record) {
	if rec.Add(r.count, 0, 1) {
		rec.AddDistinct(r.senders, state.Hash(strings.ToLower(in.Event.Sender)))
		rec.MarkFirst(r.first, in.Event.ID)
	}
}

func (r *limitEvasion) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	rec.Sums(r.count, r.sums[:])
	n := r.sums[0]
	if n <= uint64(r.cfg.Limit) {
		return Crossing{}, false
	}
	senders := rec.Distinct(r.senders)
	if senders < uint64(r.cfg.MinSenders) {
		return Crossing{}, false
	}
	bySize := 0.0
	if in.Event.Subject == "" {
		bySize = 1
	}
	return Crossing{
		Subject: strings.ToLower(in.Event.Account()),
		Kind:    event.KindAccount,
		Message: fmt.Sprintf(r.msgFormat, r.cfg.Limit, senders, n),
		Evidence: map[string]float64{
			"campaign_count": float64(n),
			"senders":        float64(senders),
			"limit":          float64(r.cfg.Limit),
			"min_senders":    float64(r.cfg.MinSenders),
			"by_size":        bySize,
			"window_seconds": r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
