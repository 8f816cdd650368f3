package rules

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// Config is the registry: one field per rule, in evaluation order, and
// nothing else. The field's koanf tag is the rule's code and its config
// section (rules.<code>.*); its type is the rule's Section. Adding a rule
// is adding one line here (see doc.go).
type Config struct {
	InvalidRecipients InvalidRecipientsConfig `koanf:"invalid_recipients"`
	InvalidSender     InvalidSenderConfig     `koanf:"invalid_sender"`
	CronFlood         CronFloodConfig         `koanf:"cron_flood"`
	BannedSoftware    BannedSoftwareConfig    `koanf:"banned_software"`
	WebformSpam       WebformSpamConfig       `koanf:"webform_spam"`
	BulkMarketing     BulkMarketingConfig     `koanf:"bulk_marketing"`
	AutomatedMail     AutomatedMailConfig     `koanf:"automated_mail"`
	RateLimit         RateLimitConfig         `koanf:"rate_limit"`
	AccountRateLimit  AccountRateLimitConfig  `koanf:"account_rate_limit"`
	LimitEvasion      LimitEvasionConfig      `koanf:"limit_evasion"`
	SPFRejections     SPFRejectionsConfig     `koanf:"spf_rejections"`
	Spoofing          SpoofingConfig          `koanf:"spoofing"`
	AuthFailures      AuthFailuresConfig      `koanf:"auth_failures"`
}

// Section is a rule's configuration section: the type of its field in
// Config. Its value receiver methods must work on the defaults.
type Section interface {
	// Default returns the section's defaults (called on the zero value).
	Default() Section
	// Enabled reports whether the rule runs.
	Enabled() bool
	// Build validates the section and builds the rule, declaring its
	// slots on env.Layout(kind). It is called for disabled rules too
	// (against throw-away layouts), so a mistake shows at start.
	Build(env Env) (Rule, error)
}

// sections returns the fields of c as Sections, with their codes.
func (c *Config) sections() ([]string, []reflect.Value) {
	v := reflect.ValueOf(c).Elem()
	t := v.Type()
	codes := make([]string, t.NumField())
	vals := make([]reflect.Value, t.NumField())
	for i := range t.NumField() {
		codes[i] = t.Field(i).Tag.Get("koanf")
		vals[i] = v.Field(i)
	}
	return codes, vals
}

// DefaultConfig returns every rule's defaults.
func DefaultConfig() Config {
	var c Config
	_, vals := c.sections()
	for _, f := range vals {
		f.Set(reflect.ValueOf(f.Interface().(Section).Default()))
	}
	return c
}

// Codes lists the registered rules' codes, in evaluation order.
func Codes() []string {
	var c Config
	codes, _ := c.sections()
	return codes
}

// Check builds every section, enabled or not, against throw-away layouts
// of the given bucket width, so turning a rule on never reveals an old
// mistake, and a ticket URL too long for some message fails at start.
func (c Config) Check(ticketURL string, width time.Duration) error {
	_, err := c.build(Env{TicketURL: ticketURL}, width, false)
	return err
}

// New builds the enabled rules of every stage in registry order, declaring
// their slots on layout(kind). Disabled rules are built against
// throw-away layouts (so their mistakes and too-long messages still fail).
func New(c Config, env Env, width time.Duration) ([]Rule, error) {
	if env.Layout == nil {
		return nil, errors.New("rules: env without layouts")
	}
	return c.build(env, width, true)
}

func (c Config) build(env Env, width time.Duration, keep bool) ([]Rule, error) {
	codes, vals := c.sections()
	var out []Rule
	var errs []error
	for i, f := range vals {
		sec := f.Interface().(Section)
		e := env
		if !keep || !sec.Enabled() {
			scratch := map[event.SubjectKind]*state.Layout{}
			e.Layout = func(k event.SubjectKind) *state.Layout {
				if l, ok := scratch[k]; ok {
					return l
				}
				l, err := state.NewLayout(width)
				if err != nil {
					l, _ = state.NewLayout(state.MinWidth)
				}
				scratch[k] = l
				return l
			}
		}
		r, err := sec.Build(e)
		if err != nil {
			errs = append(errs, fmt.Errorf("rules.%s: %w", codes[i], err))
			continue
		}
		if info := r.Info(); info.Code != codes[i] {
			errs = append(errs, fmt.Errorf("rules.%s: rule calls itself %q", codes[i], info.Code))
		} else if !info.Stage.KindAllowed(info.Kind) {
			errs = append(errs, fmt.Errorf("rules.%s: key kind %s is not co-located in the %s stage", codes[i], info.Kind, info.Stage))
		}
		if keep && sec.Enabled() {
			out = append(out, r)
		}
	}
	return out, errors.Join(errs...)
}
