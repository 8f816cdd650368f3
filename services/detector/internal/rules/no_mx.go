package rules

import (
	"regexp"
	"strings"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeNoMX is the code of the no_mx rule.
const CodeNoMX = "no_mx"

// LookupMX is the Lookup kind of an MX decision (package resolve).
const LookupMX = "mx"

// NoMXConfig configures no_mx: a recipient domain that cannot receive mail
// (the policy page: "a domain that does not have a valid MX record in
// DNS"). A delivery failure that cites DNS or routing triggers it (reason
// host_not_found: "Host or domain name not found", "Domain not found",
// null MX, "loops back to myself", unroutable) and a DNS lookup decides it
// (research/thresholds.md §7, "no-MX domain", after RFC 5321 §5.1 and RFC
// 7505): NXDOMAIN, a null MX, no MX and no A/AAAA (an A record alone is an
// implicit MX and can receive), or every MX host resolving to no address
// or only to loopback, private or reserved addresses. One failure is
// enough, because the lookup is the evidence; a lookup that fails
// (SERVFAIL, timeout, REFUSED) is no evidence and never bans, and a domain
// whose MX is down but resolves is not banned (its mail is retried).
// Single-label names and the special-use TLDs (localhost, local,
// localdomain, invalid, example, test) need no lookup.
type NoMXConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
}

// Default implements Section.
func (NoMXConfig) Default() Section { return NoMXConfig{On: true} }

// Enabled implements Section.
func (c NoMXConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c NoMXConfig) Build(env Env) (Rule, error) {
	env.Layout(event.KindRecipientDomain) // no slots: each trigger is decided by the lookup
	r := &noMX{cfg: c}
	r.msg = "Your recipient address has been blocked by admins: its domain does not have a valid MX record in DNS. Open a ticket at " + env.TicketURL
	if err := CheckMessage(r.msg); err != nil {
		return nil, err
	}
	return r, nil
}

type noMX struct {
	cfg NoMXConfig
	msg string
}

func (r *noMX) Info() Info {
	return Info{Code: CodeNoMX, Stage: StageRecipient, Kind: event.KindRecipientDomain, Action: event.ActionBan, Shadow: r.cfg.Shadow}
}

// dnsCited matches reply texts that blame DNS or routing when ingest did
// not classify them as host_not_found.
var dnsCited = regexp.MustCompile(`(?i)host or domain name not found|domain not found|null ?mx|loops back to myself|unroutable|no mx (record|host)|name service error|unrouteable`)

func (r *noMX) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.Recipient == "" || ev.Status == event.StatusSent || ev.Status == event.StatusAuthFailed {
		return false
	}
	return ev.Reason == event.ReasonHostNotFound || (ev.Reason == event.ReasonNetwork || ev.Reason == event.ReasonOther) && dnsCited.MatchString(ev.ReplyText)
}

func (r *noMX) Update(*Input, state.Record) {}

// Stateless implements StatelessRule.
func (r *noMX) Stateless() {}

func (r *noMX) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	d := strings.TrimSuffix(rec.Key(), ".")
	if ReservedDomain(d) {
		return r.verdict(map[string]float64{"reserved_name": 1, "can_receive": 0}), true
	}
	return Crossing{Await: &Lookup{Kind: LookupMX, Name: d}}, true
}

func (r *noMX) Resolved(l Lookup, a Answer, rec state.Record) (Crossing, bool) {
	switch a.Result {
	case "ok", "nxdomain", "nodata":
	default:
		return Crossing{}, false // a failed lookup is no evidence
	}
	if can, ok := a.Facts["can_receive"]; !ok || can != 0 {
		return Crossing{}, false
	}
	f := make(map[string]float64, len(a.Facts)+2)
	for k, v := range a.Facts {
		f[k] = v
	}
	f["lookups"] = 1
	f["dns_answer_"+a.Result] = 1 // what DNS answered: ok, nxdomain or nodata
	return r.verdict(f), true
}

func (r *noMX) verdict(facts map[string]float64) Crossing {
	return Crossing{Message: r.msg, Evidence: facts}
}

// ReservedDomain reports whether a mail domain cannot receive mail by
// definition, needing no lookup: a single label (no dot), or a name under
// a special-use TLD that never delegates (RFC 2606, RFC 6761, RFC 6762:
// localhost, local, localdomain, invalid, example, test).
func ReservedDomain(d string) bool {
	i := strings.LastIndexByte(d, '.')
	if i < 0 {
		return true
	}
	switch d[i+1:] {
	case "localhost", "local", "localdomain", "invalid", "example", "test":
		return true
	}
	return false
}
