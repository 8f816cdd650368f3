package rules

import (
	_ "embed"
	"errors"
	"fmt"
	"strings"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeSMSGateway is the code of the sms_gateway rule.
const CodeSMSGateway = "sms_gateway"

// smsGateways is the built-in list (data/sms-gateways.txt, see
// data/SOURCES.md: cubiclesoft/email_sms_mms_gateways, MIT or LGPL).
//
//go:embed data/sms-gateways.txt
var smsGateways string

// SMSGatewayConfig configures sms_gateway: mail to an email-to-SMS/MMS
// gateway is forbidden by policy (the policy page: "You tried to send
// email to SMS which we forbid by policy"), so the recipient domain is
// banned on the first message (research/thresholds.md §7: min volume 1).
type SMSGatewayConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Builtin uses the shipped list of 185 gateway domains. Default true.
	Builtin bool `koanf:"builtin"`
	// Domains are gateway domains added to the list. Default none.
	Domains []string `koanf:"domains"`
	// Exclude are domains taken off the list (a gateway your customers
	// may use). Default none.
	Exclude []string `koanf:"exclude"`
}

// Default implements Section.
func (SMSGatewayConfig) Default() Section { return SMSGatewayConfig{On: true, Builtin: true} }

// Enabled implements Section.
func (c SMSGatewayConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c SMSGatewayConfig) Build(env Env) (Rule, error) {
	set := map[string]bool{}
	var errs []error
	if c.Builtin {
		for line := range strings.SplitSeq(smsGateways, "\n") {
			if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
				set[line] = true
			}
		}
	}
	for _, d := range c.Domains {
		d = strings.ToLower(strings.TrimSpace(d))
		if d == "" || event.CheckToken(d) != nil || strings.ContainsAny(d, "@,") {
			errs = append(errs, fmt.Errorf("domains: %q is not a domain", d))
			continue
		}
		set[d] = true
	}
	for _, d := range c.Exclude {
		delete(set, strings.ToLower(strings.TrimSpace(d)))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	env.Layout(event.KindRecipientDomain) // no slots: a stateless matcher
	r := &smsGateway{cfg: c, domains: set}
	r.msg = "Your recipient address has been blocked by admins: email to SMS gateways is forbidden by policy. Open a ticket at " + env.TicketURL
	if err := CheckMessage(r.msg); err != nil {
		return nil, err
	}
	return r, nil
}

type smsGateway struct {
	cfg     SMSGatewayConfig
	domains map[string]bool
	msg     string
}

func (r *smsGateway) Info() Info {
	return Info{Code: CodeSMSGateway, Stage: StageRecipient, Kind: event.KindRecipientDomain, Action: event.ActionBan, Shadow: r.cfg.Shadow}
}

// match returns the listed domain that d is or is under ("" if none).
func (r *smsGateway) match(d string) string {
	for d != "" {
		if r.domains[d] {
			return d
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			return ""
		}
		d = d[i+1:]
	}
	return ""
}

func (r *smsGateway) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Recipient == "" || len(r.domains) == 0 {
		return false
	}
	return r.match(strings.ToLower(event.Domain(ev.Recipient))) != ""
}

func (r *smsGateway) Update(*Input, state.Record) {}

func (r *smsGateway) Threshold(in *Input, _ state.Record) (Crossing, bool) {
	return Crossing{
		Message:      r.msg,
		Evidence:     map[string]float64{"messages": 1, "listed": 1},
		FirstEventID: in.ID(),
	}, true
}
