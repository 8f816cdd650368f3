package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeInvalidSender is the code of the invalid_sender rule.
const CodeInvalidSender = "invalid_sender"

// InvalidSenderConfig configures invalid_sender: an envelope sender that
// no bounce can ever reach ("root@localhost", "www-data", "cron@web1",
// "root@box.localdomain") junks up the queues with undeliverable bounces,
// so it is banned on its first message (research/thresholds.md §1 and §7:
// MXroute's deployed ACL denies TLD-less sender domains outright; §4: cron
// submits as user@$myhostname, often unqualified).
type InvalidSenderConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// ReservedTLDs are the last labels (or, with a dot, the last labels,
	// e.g. "home.arpa") that are never delegated in the public DNS: a
	// sender domain ending in one cannot receive a bounce. Default:
	// local (RFC 6762), localhost and invalid (RFC 2606/6761), localdomain
	// (distribution default of /etc/hosts), internal (ICANN's private-use
	// TLD, 2024), lan, home and corp (ICANN name-collision list, never
	// delegated), home.arpa (RFC 8375). "test" and "example" (RFC 2606)
	// are left out of the default because documentation, test traffic and
	// this repository's scenarios and generator use them; add them on a
	// production fleet.
	ReservedTLDs []string `koanf:"reserved_tlds"`
}

// Default implements Section.
func (InvalidSenderConfig) Default() Section {
	return InvalidSenderConfig{
		On:           true,
		ReservedTLDs: []string{"local", "localhost", "localdomain", "invalid", "internal", "lan", "home", "corp", "home.arpa"},
	}
}

// Enabled implements Section.
func (c InvalidSenderConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c InvalidSenderConfig) Build(env Env) (Rule, error) {
	var errs []error
	tlds := make([]string, 0, len(c.ReservedTLDs))
	for _, t := range c.ReservedTLDs {
		t = strings.ToLower(strings.Trim(t, "."))
		if t == "" || badDomainSyntax(t) != "" {
			errs = append(errs, fmt.Errorf("reserved_tlds: %q is not a domain suffix", t))
			continue
		}
		tlds = append(tlds, t)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	// Declares no slots: a stateless matcher.
	r := &invalidSender{cfg: c, tlds: tlds}
	r.msgFormat = "Your sending address has been blocked by admins: you were sending from an obviously invalid sender address (%s) " +
		"that cannot receive bounces, junking up mail queues. Send from a real address in a domain you own " +
		"(set the envelope sender, e.g. sendmail -f) and open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	longest := ""
	for _, why := range senderFaults {
		if len(why.text) > len(longest) {
			longest = why.text
		}
	}
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, longest)); err != nil {
		return nil, err
	}
	return r, nil
}

// The faults invalid_sender recognises, each with its evidence key and
// the words its message uses.
type faultInfo struct{ key, text string }

var senderFaults = []faultInfo{
	faultUnqualified: {"unqualified", "no domain"},
	faultNoLocal:     {"no_local_part", "no local part"},
	faultNoDot:       {"no_dot", "no dot in its domain"},
	faultReserved:    {"reserved_tld", "a domain that is never delegated in DNS"},
	faultSyntax:      {"bad_syntax", "a domain that is not valid syntax"},
}

const (
	faultNone = iota - 1
	faultUnqualified
	faultNoLocal
	faultNoDot
	faultReserved
	faultSyntax
)

// senderFault classifies an envelope sender: faultNone for one a bounce
// could reach, else the first fault found. Domain literals ([192.0.2.1])
// are left alone (valid, if unusual); non-ASCII (SMTPUTF8) labels are
// valid.
func senderFault(addr string, tlds []string) int {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 {
		return faultUnqualified
	}
	if at == 0 {
		return faultNoLocal
	}
	d := strings.TrimSuffix(addr[at+1:], ".")
	switch {
	case d == "":
		return faultUnqualified
	case d[0] == '[':
		return faultNone
	case strings.IndexByte(d, '.') < 0:
		return faultNoDot
	}
	if badDomainSyntax(d) != "" {
		return faultSyntax
	}
	for _, t := range tlds {
		if n := len(d) - len(t); n >= 0 && strings.EqualFold(d[n:], t) && (n == 0 || d[n-1] == '.') {
			return faultReserved
		}
	}
	return faultNone
}

// badDomainSyntax says what is wrong with a domain name's syntax ("" when
// nothing): empty or over-long labels, a label starting or ending with a
// hyphen, characters no host name holds, an all-numeric last label. It
// runs on every event: one pass, no allocation.
func badDomainSyntax(d string) string {
	if len(d) > 253 {
		return "longer than 253 bytes"
	}
	start, numeric := 0, true
	for i := 0; i <= len(d); i++ {
		if i == len(d) || d[i] == '.' {
			l := d[start:i]
			if l == "" || len(l) > 63 {
				return "empty or over-long label"
			}
			if l[0] == '-' || l[len(l)-1] == '-' {
				return "label starts or ends with a hyphen"
			}
			if i == len(d) && numeric {
				return "numeric top-level label"
			}
			start, numeric = i+1, true
			continue
		}
		c := d[i]
		switch {
		case c >= '0' && c <= '9':
		case c >= 0x80, c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '-', c == '_':
			numeric = false // (0x80 and up: SMTPUTF8, an IDN in UTF-8)
		default:
			return "character outside a host name"
		}
	}
	return ""
}

// invalidSender is a stateless matcher per envelope sender: the first
// event of an invalid sender crosses (the ledger keeps it silent while
// banned). The null sender (bounces) has no key.
type invalidSender struct {
	cfg       InvalidSenderConfig
	tlds      []string
	msgFormat string
	fault     int
}

func (r *invalidSender) Info() Info {
	return Info{
		Code: CodeInvalidSender, Stage: StageSender, Kind: event.KindSender,
		Window: 5 * time.Minute, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

func (r *invalidSender) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Sender == "" || ev.Status == event.StatusAuthFailed {
		return false
	}
	r.fault = senderFault(ev.Sender, r.tlds)
	return r.fault != faultNone
}

func (r *invalidSender) Update(*Input, state.Record) {}

func (r *invalidSender) Threshold(in *Input, _ state.Record) (Crossing, bool) {
	f := senderFaults[r.fault]
	local := 0.0
	if localSubmission(in.Event) {
		local = 1
	}
	return Crossing{
		Message:      fmt.Sprintf(r.msgFormat, f.text),
		Evidence:     map[string]float64{f.key: 1, "events": 1, "local_submission": local},
		FirstEventID: in.Event.ID,
	}, true
}

// localSubmission reports whether an event's message was submitted on the
// mail host itself (sendmail/pickup: Postfix "from local", Exim P=local):
// no SASL login and no client IP, or a loopback one. Cron, PHP's mail()
// and scripts submit this way.
func localSubmission(ev *event.DeliveryEvent) bool {
	if ev.SASLUser != "" {
		return false
	}
	return ev.ClientIP == "" || ev.ClientIP == "127.0.0.1" || ev.ClientIP == "::1" || strings.HasPrefix(ev.ClientIP, "127.")
}

// defaultReservedTLDs is invalid_sender's default list, for the rules that
// treat an invalid sender as a supporting sign.
var defaultReservedTLDs = slices.Clone(InvalidSenderConfig{}.Default().(InvalidSenderConfig).ReservedTLDs)
