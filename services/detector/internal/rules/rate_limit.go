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

// The codes of the rate-limit rules: one per envelope sender, one per
// authenticated account.
const (
	CodeRateLimit        = "rate_limit"
	CodeAccountRateLimit = "account_rate_limit"
)

// RateLimitConfig configures rate_limit (per envelope sender) and
// account_rate_limit (per SASL login): the plain hourly and daily ceiling.
// While a subject is over it, the verdict asks for a temporary refusal
// (action defer: Postfix DEFER_IF_PERMIT, a 4xx) for one bucket of the
// window, after which the count is looked at again; far over it — "your
// sending behavior is violating policy and not just by a little" — it
// bans.
//
// Defaults (research/thresholds.md §1, §2, §7): MXroute's public limit is
// 300 messages an hour per address and its policy page names "the 300
// outbound per hour limit" (its deployed Exim ACL allows 400/h per login);
// DirectAdmin's per-address daily limit as MXroute sets it is 9600; a ban
// at 3× the hourly ceiling follows Kolab's shape (block at the limit,
// suspend at 2.5×), rounded up so a burst that a defer would have smoothed
// never bans. policyd-rate-limit answers defer_if_permit when a limit is
// exceeded, as here.
//
// A mailing list's distribution (List-Id or "Precedence: list" logged) is
// deferred over the ceiling but never banned for volume: one post fans out
// to every member.
//
// What counts: recipient deliveries with a final outcome at a remote or
// local server (sent, bounced, expired), the unit Exim's ratelimit counts
// in the RCPT ACL. Mail refused at our own SMTP time (status rejected,
// which includes our own defers) and deferrals do not count, so a client
// that retries after a defer is not pushed further over by the retry.
type RateLimitConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without refusing. Default false.
	Shadow bool `koanf:"shadow"`
	// Hourly is the ceiling per hour; above it mail is deferred. Default 300.
	Hourly int `koanf:"hourly"`
	// Daily is the ceiling per 24 h; above it mail is deferred. 0 disables. Default 9600.
	Daily int `koanf:"daily"`
	// BanFactor: at Hourly × BanFactor within the hour the verdict is a
	// ban instead of a defer. 0 disables the ban. Default 3.
	BanFactor float64 `koanf:"ban_factor"`
	// Overrides sets another hourly ceiling for named subjects, as
	// "subject=ceiling" (e.g. "newsletter@bigcustomer.example=2000"); the
	// daily ceiling and the ban scale with it. Default none.
	Overrides []string `koanf:"overrides"`
}

// AccountRateLimitConfig is RateLimitConfig for account_rate_limit: the
// same ceilings per authenticated login (SASL user), summed over every
// sender address it uses. Events without a login are left to rate_limit.
type AccountRateLimitConfig RateLimitConfig

func defaultRateLimit() RateLimitConfig {
	return RateLimitConfig{On: true, Hourly: 300, Daily: 9600, BanFactor: 3}
}

// Default implements Section.
func (RateLimitConfig) Default() Section { return defaultRateLimit() }

// Enabled implements Section.
func (c RateLimitConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c RateLimitConfig) Build(env Env) (Rule, error) {
	return buildRateLimit(c, env, CodeRateLimit, event.KindSender, "Your sending address")
}

// Default implements Section.
func (AccountRateLimitConfig) Default() Section { return AccountRateLimitConfig(defaultRateLimit()) }

// Enabled implements Section.
func (c AccountRateLimitConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c AccountRateLimitConfig) Build(env Env) (Rule, error) {
	return buildRateLimit(RateLimitConfig(c), env, CodeAccountRateLimit, event.KindAccount, "Your account")
}

func (c RateLimitConfig) validate() (map[string]int, error) {
	var errs []error
	if c.Hourly < 1 {
		errs = append(errs, fmt.Errorf("hourly %d: must be at least 1", c.Hourly))
	}
	if c.Daily < 0 {
		errs = append(errs, fmt.Errorf("daily %d: must not be negative", c.Daily))
	}
	if c.BanFactor != 0 && !(c.BanFactor > 1 && c.BanFactor <= 100) { // also refuses NaN
		errs = append(errs, fmt.Errorf("ban_factor %v: must be 0 (off) or in (1, 100]", c.BanFactor))
	}
	over := map[string]int{}
	for _, o := range c.Overrides {
		subj, n, ok := strings.Cut(o, "=")
		v, err := strconv.Atoi(strings.TrimSpace(n))
		subj = strings.ToLower(strings.TrimSpace(subj))
		if !ok || err != nil || v < 1 || subj == "" || event.CheckToken(subj) != nil {
			errs = append(errs, fmt.Errorf("overrides %q: want subject=ceiling with a ceiling of at least 1", o))
			continue
		}
		over[subj] = v
	}
	return over, errors.Join(errs...)
}

func buildRateLimit(c RateLimitConfig, env Env, code string, kind event.SubjectKind, who string) (Rule, error) {
	over, err := c.validate()
	if err != nil {
		return nil, err
	}
	l := env.Layout(kind)
	r := &rateLimit{cfg: c, code: code, kind: kind, over: over}
	if r.hour, err = l.Counters(time.Hour, 1); err != nil {
		return nil, err
	}
	if c.Daily > 0 {
		if r.day, err = l.Counters(24*time.Hour, 1); err != nil {
			return nil, err
		}
	}
	if r.first, err = l.Mark(time.Hour); err != nil {
		return nil, err
	}
	// A defer holds for one bucket of the hourly window: by then the
	// oldest bucket has left the window and the count is looked at again.
	r.deferTTL = max(l.Width(), time.Hour/12)
	ticket := strings.ReplaceAll(env.TicketURL, "%", "%%")
	r.deferFormat = who + " is over its sending limit (%d in %s, limit %d): this message is deferred, try again later. To raise the limit open a ticket at " + ticket
	r.banFormat = who + " has been blocked by admins: your sending behavior is violating policy and not just by a little (%d messages in %s, limit %d). Open a ticket at " + ticket
	for _, f := range []string{r.deferFormat, r.banFormat} {
		if err := CheckMessage(fmt.Sprintf(f, uint64(math.MaxUint64), "24h", math.MaxInt32)); err != nil {
			return nil, err
		}
	}
	return r, nil
}

type rateLimit struct {
	cfg         RateLimitConfig
	code        string
	kind        event.SubjectKind
	over        map[string]int
	hour, day   state.Counters
	first       state.Mark
	deferTTL    time.Duration
	deferFormat string
	banFormat   string
	sums        [1]uint64
}

func (r *rateLimit) Info() Info {
	return Info{
		Code: r.code, Stage: StageSender, Kind: r.kind,
		Window: time.Hour, Action: event.ActionDefer, Shadow: r.cfg.Shadow,
	}
}

func (r *rateLimit) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil {
		return false
	}
	if r.kind == event.KindAccount && ev.SASLUser == "" {
		return false // unauthenticated mail: rate_limit counts it per sender
	}
	if r.kind == event.KindSender && ev.Sender == "" {
		return false // the null sender: bounces the platform itself sends
	}
	switch ev.Status {
	case event.StatusSent, event.StatusBounced, event.StatusExpired:
		return true
	}
	return false
}

func (r *rateLimit) Update(in *Input, rec state.Record) {
	if rec.Add(r.hour, 0, 1) {
		rec.MarkFirst(r.first, in.Event.ID)
	}
	if r.cfg.Daily > 0 {
		rec.Add(r.day, 0, 1)
	}
}

func (r *rateLimit) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	hourly, daily := r.cfg.Hourly, r.cfg.Daily
	if v, ok := r.over[rec.Key()]; ok {
		if daily > 0 {
			daily = int(min(int64(daily)*int64(v)/int64(hourly), math.MaxInt32))
		}
		hourly = v
	}
	rec.Sums(r.hour, r.sums[:])
	h := r.sums[0]
	var d uint64
	if r.cfg.Daily > 0 {
		rec.Sums(r.day, r.sums[:])
		d = r.sums[0]
	}
	ev := map[string]float64{
		"hour_count":     float64(h),
		"hourly_limit":   float64(hourly),
		"day_count":      float64(d),
		"daily_limit":    float64(daily),
		"ban_factor":     r.cfg.BanFactor,
		"window_seconds": time.Hour.Seconds(),
	}
	c := Crossing{Evidence: ev, FirstEventID: rec.First(r.first)}
	list := discussionList(in.Event)
	if list {
		ev["discussion_list"] = 1
	}
	switch {
	case r.cfg.BanFactor > 0 && float64(h) >= r.cfg.BanFactor*float64(hourly) && !list:
		c.Action = event.ActionBan
		c.Message = fmt.Sprintf(r.banFormat, h, "1h", hourly)
	case h > uint64(hourly):
		c.Action, c.TTL = event.ActionDefer, r.deferTTL
		c.Message = fmt.Sprintf(r.deferFormat, h, "1h", hourly)
	case daily > 0 && d > uint64(daily):
		c.Action, c.TTL = event.ActionDefer, r.deferTTL
		c.Message = fmt.Sprintf(r.deferFormat, d, "24h", daily)
	default:
		return Crossing{}, false
	}
	return c, true
}

// discussionList reports whether the message is a mailing list's
// distribution (a logged List-Id or "Precedence: list" header): one post
// fans out to every member, so a busy list is deferred over the ceiling
// like anyone, but never banned for its volume alone.
func discussionList(ev *event.DeliveryEvent) bool {
	for _, h := range ev.Headers {
		n, v := headerValue(h)
		if strings.EqualFold(n, "List-Id") || (strings.EqualFold(n, "Precedence") && strings.EqualFold(v, "list")) {
			return true
		}
	}
	return false
}
