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

// CodeAuthFailures is the code of the auth_failures rule.
const CodeAuthFailures = "auth_failures"

// AuthFailuresConfig configures auth_failures: SASL brute force against
// submission from one client IP — password guessing on one login, or
// credential stuffing across many. It reads the auth_failed events ingest
// makes of Postfix "SASL … authentication failed" and Exim "authenticator
// failed" lines; those events are keyed by client IP (event.Account), so
// all of one IP's failures meet in one partition.
//
// Defaults: fail2ban's stock jail.conf bans after maxretry = 5 failures
// within findtime = 10m (fail2ban/fail2ban: config/jail.conf, the
// postfix-sasl jail uses the defaults). A ban here refuses the IP at every
// MTA of the platform, and a customer's mail client with a stale saved
// password retries on its own, so the plain count is doubled: 10 failures
// in 10 minutes, or 5 failures naming at least 3 different logins (no
// stale client tries several logins).
//
// What it lets through: a distributed attack on one login from many IPs
// (each IP stays under the count; events are keyed by IP, so per-login
// state would be split across partitions) — the platform's MTA-side
// limits (Postfix smtpd_client_auth_rate_limit, anvil) cover that.
type AuthFailuresConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted. A multiple of state.bucket_width. Default 10m.
	Window time.Duration `koanf:"window"`
	// MaxFailures in the window from one IP fire. Default 10.
	MaxFailures int `koanf:"max_failures"`
	// MinLogins: this many distinct logins tried from one IP, with at
	// least MinLoginFailures failures, fire too; 0 disables. Default 3.
	MinLogins int `koanf:"min_logins"`
	// MinLoginFailures is the fewest failures for MinLogins to count. Default 5.
	MinLoginFailures int `koanf:"min_login_failures"`
}

// Default implements Section.
func (AuthFailuresConfig) Default() Section {
	return AuthFailuresConfig{On: true, Window: 10 * time.Minute, MaxFailures: 10, MinLogins: 3, MinLoginFailures: 5}
}

// Enabled implements Section.
func (c AuthFailuresConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c AuthFailuresConfig) Build(env Env) (Rule, error) {
	var errs []error
	if c.MaxFailures < 1 {
		errs = append(errs, fmt.Errorf("max_failures %d: must be at least 1", c.MaxFailures))
	}
	if c.MinLogins < 0 || c.MinLogins == 1 {
		errs = append(errs, fmt.Errorf("min_logins %d: must be 0 (off) or at least 2", c.MinLogins))
	}
	if c.MinLoginFailures < 1 {
		errs = append(errs, fmt.Errorf("min_login_failures %d: must be at least 1", c.MinLoginFailures))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindClientIP)
	r := &authFailures{cfg: c}
	var err error
	if r.count, err = l.Counters(c.Window, 1); err != nil {
		return nil, err
	}
	if r.logins, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your IP address has been blocked by admins: %d failed logins (%d accounts tried) in " +
		FormatWindow(c.Window) + ". Check your mail client's password, or open a ticket at " +
		strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint64(math.MaxUint64), uint64(math.MaxUint64))); err != nil {
		return nil, err
	}
	return r, nil
}

type authFailures struct {
	cfg       AuthFailuresConfig
	count     state.Counters
	logins    state.Distinct
	first     state.Mark
	msgFormat string
	sums      [1]uint64
}

func (r *authFailures) Info() Info {
	return Info{
		Code: CodeAuthFailures, Stage: StageSender, Kind: event.KindClientIP,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

func (r *authFailures) Filter(in *Input) bool {
	ev := in.Event
	return ev != nil && ev.Status == event.StatusAuthFailed && ev.ClientIP != ""
}

func (r *authFailures) Update(in *Input, rec state.Record) {
	if !rec.Add(r.count, 0, 1) {
		return
	}
	if u := in.Event.SASLUser; u != "" {
		rec.AddDistinct(r.logins, state.Hash(strings.ToLower(u)))
	}
	rec.MarkFirst(r.first, in.Event.ID)
}

func (r *authFailures) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	rec.Sums(r.count, r.sums[:])
	n := r.sums[0]
	logins := rec.Distinct(r.logins)
	byCount := n >= uint64(r.cfg.MaxFailures)
	byLogins := r.cfg.MinLogins > 0 && logins >= uint64(r.cfg.MinLogins) && n >= uint64(r.cfg.MinLoginFailures)
	if !byCount && !byLogins {
		return Crossing{}, false
	}
	return Crossing{
		Message: fmt.Sprintf(r.msgFormat, n, logins),
		Evidence: map[string]float64{
			"failures":           float64(n),
			"logins":             float64(logins),
			"max_failures":       float64(r.cfg.MaxFailures),
			"min_logins":         float64(r.cfg.MinLogins),
			"min_login_failures": float64(r.cfg.MinLoginFailures),
			"window_seconds":     r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
