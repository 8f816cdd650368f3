package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Rule is one detection.
type Rule interface {
	// Code is the rule's stable name, the "rule" field of its verdicts and
	// a metric label value.
	Code() string
	// Shadow reports whether the rule runs in shadow mode: its verdicts are
	// recorded with action flag and Shadow set, and never become bans.
	Shadow() bool
	// Observe feeds one event, in stream order, and appends the verdicts it
	// causes (usually none) to out. ev is not retained, but its strings
	// may be.
	Observe(ev *event.DeliveryEvent, out []event.Verdict) []event.Verdict
	// Stats reports the rule's state size and late events.
	Stats() Stats
}

// Stats describe a rule's state.
type Stats struct {
	// Tracked is the number of subjects with state.
	Tracked int
	// Late counts events ignored because they were older than the window.
	Late uint64
}

// Gate lets a rule ask whether it may fire for a subject.
type Gate interface {
	// Suppressed reports whether rule's previous verdict on the subject is
	// still in force at ts (event time), in which case the rule must not
	// fire again; the gate counts the repeat.
	Suppressed(rule string, kind event.SubjectKind, subject string, ts time.Time) bool
}

// Env is what the rules share beyond their own configuration.
type Env struct {
	// TicketURL ends every SMTP-time message: where a blocked sender can
	// dispute the block.
	TicketURL string
	// Gate suppresses repeat verdicts; nil lets every crossing fire.
	Gate Gate
}

// Config holds one section per rule.
type Config struct {
	// InvalidRecipients configures the invalid_recipients rule.
	InvalidRecipients InvalidRecipientsConfig `koanf:"invalid_recipients"`
}

// DefaultConfig returns every rule's defaults.
func DefaultConfig() Config {
	return Config{InvalidRecipients: DefaultInvalidRecipients()}
}

// Validate checks every section, enabled or not, so turning a rule on
// never reveals an old mistake.
func (c Config) Validate() error {
	if err := c.InvalidRecipients.Validate(); err != nil {
		return fmt.Errorf("rules.%s: %w", CodeInvalidRecipients, err)
	}
	return nil
}

// MaxWindow is the longest window among the enabled rules, 0 when none is
// enabled: an event older than that behind the watermark is late for
// every rule.
func (c Config) MaxWindow() time.Duration {
	var d time.Duration
	if c.InvalidRecipients.Enabled {
		d = max(d, c.InvalidRecipients.Window)
	}
	return d
}

// MaxMessageLen is the longest SMTP-time message event.Verdict.Validate accepts.
const MaxMessageLen = 400

// New builds the enabled rules, in a fixed order.
func New(cfg Config, env Env) ([]Rule, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := checkTicketURL(env.TicketURL); err != nil {
		return nil, err
	}
	var out []Rule
	// Messages are built even for disabled rules so a ticket URL too long
	// for any of them fails at start.
	ir, err := NewInvalidRecipients(cfg.InvalidRecipients, env)
	if err != nil {
		return nil, fmt.Errorf("rules.%s: %w", CodeInvalidRecipients, err)
	}
	if cfg.InvalidRecipients.Enabled {
		out = append(out, ir)
	}
	return out, nil
}

func checkTicketURL(u string) error {
	if strings.ContainsAny(u, "\r\n\x00") {
		return errors.New("ticket url: holds a line break or NUL")
	}
	return nil
}

// VerdictID derives a verdict's id from what identifies it: rule, subject,
// the event time it fired at, its window and the event that crossed the
// threshold. The same input therefore yields the same id on every replay.
func VerdictID(v *event.Verdict) string {
	h := sha256.New()
	var buf [8]byte
	for _, s := range []string{v.Rule, string(v.SubjectKind), v.Subject, v.LastEventID} {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	for _, t := range []time.Time{v.TS, v.WindowStart} {
		binary.BigEndian.PutUint64(buf[:], uint64(t.UnixNano()))
		h.Write(buf[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// FormatWindow renders a duration the way messages show it: "1h",
// "1h30m", "45m", "90s".
func FormatWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
