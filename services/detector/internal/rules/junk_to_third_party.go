package rules

import (
	"fmt"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeJunkToThirdParty is the code of the junk_to_third_party rule.
const CodeJunkToThirdParty = "junk_to_third_party"

// JunkToThirdPartyConfig configures junk_to_third_party: one sender
// flooding one third-party recipient with automated mail of one kind, the
// "600 cron job notifications in your Gmail inbox every day" of the policy
// page, accepted or not: the pair sender→recipient is banned.
//
// Defaults (research/thresholds.md §7, "junk to 3rd party"): at least 100
// messages from one sender to one external recipient with one subject
// fingerprint (state.Fingerprint folds digits, dates, ids and host names,
// so "Cron <root@web1> /usr/bin/php backup.php" repeats as one; mail
// without a logged subject counts as one kind) within 24 h. A per-minute
// cron job reaches it in under two hours; a person mailing a colleague
// every day does not in a year. Deferrals are retries of a message and do
// not count; recipients in the sender's own domain (or a parent or
// subdomain of it: monitoring mail to the customer's own ops address) and
// in local_domains (mail that stays on the platform) are not third parties.
type JunkToThirdPartyConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted (a multiple of state.bucket_width). Default 24h.
	Window time.Duration `koanf:"window"`
	// MinMessages is the fewest messages of one fingerprint. Default 100.
	MinMessages int `koanf:"min_messages"`
	// LocalDomains are the platform's own recipient domains (not third
	// parties). Default none.
	LocalDomains []string `koanf:"local_domains"`
}

// Default implements Section.
func (JunkToThirdPartyConfig) Default() Section {
	return JunkToThirdPartyConfig{On: true, Window: 24 * time.Hour, MinMessages: 100}
}

// Enabled implements Section.
func (c JunkToThirdPartyConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c JunkToThirdPartyConfig) Build(env Env) (Rule, error) {
	if c.MinMessages < 1 {
		return nil, fmt.Errorf("min_messages %d: must be at least 1", c.MinMessages)
	}
	l := env.Layout(event.KindSenderRecipient)
	r := &junkToThirdParty{cfg: c, local: map[string]bool{}}
	for _, d := range c.LocalDomains {
		r.local[strings.ToLower(strings.TrimSpace(d))] = true
	}
	var err error
	if r.fps, err = l.Fingerprints(c.Window, 4); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your recipient address has been blocked by admins: you were sending automated junk to this third-party address (%d messages of one kind in " +
		FormatWindow(c.Window) + "). Open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint32(1<<31))); err != nil {
		return nil, err
	}
	return r, nil
}

type junkToThirdParty struct {
	cfg       JunkToThirdPartyConfig
	local     map[string]bool
	fps       state.Fingerprints
	first     state.Mark
	msgFormat string
	last      uint32 // count of the fingerprint Update just counted
}

func (r *junkToThirdParty) Info() Info {
	return Info{Code: CodeJunkToThirdParty, Stage: StageRecipient, Kind: event.KindSenderRecipient,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow}
}

func (r *junkToThirdParty) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" || ev.Recipient == "" {
		return false
	}
	switch ev.Status {
	case event.StatusSent, event.StatusBounced, event.StatusRejected:
	default:
		return false
	}
	rd := strings.ToLower(event.Domain(ev.Recipient))
	if sameOrg(strings.ToLower(event.Domain(ev.Sender)), rd) {
		return false // the sender's own organisation is no third party
	}
	return len(r.local) == 0 || !r.local[rd]
}

// sameOrg reports whether two domains are one or one is under the other
// (web1.shop.example and shop.example): mail within an organisation.
func sameOrg(a, b string) bool {
	return a == b || strings.HasSuffix(a, "."+b) || strings.HasSuffix(b, "."+a)
}

func (r *junkToThirdParty) Update(in *Input, rec state.Record) {
	r.last = rec.AddFingerprint(r.fps, state.Fingerprint(in.Event.Subject))
	rec.MarkFirst(r.first, in.Event.ID)
}

func (r *junkToThirdParty) Threshold(_ *Input, rec state.Record) (Crossing, bool) {
	if r.last < uint32(r.cfg.MinMessages) {
		return Crossing{}, false
	}
	return Crossing{
		Message: fmt.Sprintf(r.msgFormat, r.last),
		Evidence: map[string]float64{
			"messages_one_fingerprint": float64(r.last), "min_messages": float64(r.cfg.MinMessages),
			"window_seconds": r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}, true
}
