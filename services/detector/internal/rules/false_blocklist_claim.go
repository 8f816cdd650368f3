package rules

import (
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeFalseBlocklistClaim is the code of the false_blocklist_claim rule.
const CodeFalseBlocklistClaim = "false_blocklist_claim"

// LookupDNSBL is the Lookup kind of a DNSBL query (package resolve); its
// name is "<ip>@<zone>".
const LookupDNSBL = "dnsbl"

// FalseBlocklistClaimConfig configures false_blocklist_claim: a recipient
// domain whose server rejects the platform's mail claiming its IP is on a
// block list (Spamhaus, Barracuda, SpamCop, ...) when it is not (the policy
// page: "Your recipient has a misconfigured server causing it to claim we
// are blacklisted at spamhaus when we are not"). The recipient domain gets
// a cooldown ban (ban.ttl); the platform's IPs are never cooled down for it.
//
// The check (research/thresholds.md §6): the IP the reply cites and the
// list it names are read from the reply text. A cited IP that is not one
// of platform_ips means a receiver that reads our Received headers, not
// our connection: a false claim without a query. Otherwise the IP is
// queried in the list's zone, after the zone's RFC 5782 §5 self-test
// (127.0.0.2 listed, 127.0.0.1 not); NXDOMAIN is a false claim. A listing,
// an error answer (127.255.255.x: "must not be used to reject email"), a
// failed self-test or a failed lookup is "unknown" and never bans. With
// platform_ips empty every cited IP is queried.
//
// Defaults (§7, "false blocklist claim"): 3 such replies from one recipient
// domain within 24 h.
type FalseBlocklistClaimConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts (action flag, shadow) without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted (a multiple of state.bucket_width). Default 24h.
	Window time.Duration `koanf:"window"`
	// MinClaims is the fewest blocklist rejections from the domain. Default 3.
	MinClaims int `koanf:"min_claims"`
	// PlatformIPs are the platform's own sending IPs. Default none.
	PlatformIPs []string `koanf:"platform_ips"`
	// Zones are "word=zone" pairs: a reply naming the word (any case) is
	// checked in the zone. Default spamhaus=zen.spamhaus.org,
	// barracuda=b.barracudacentral.org, spamcop=bl.spamcop.net; a zone
	// named in "blocked using <zone>" that is none of these is queried as
	// named.
	Zones []string `koanf:"zones"`
}

// Default implements Section.
func (FalseBlocklistClaimConfig) Default() Section {
	return FalseBlocklistClaimConfig{On: true, Window: 24 * time.Hour, MinClaims: 3, Zones: []string{
		"spamhaus=zen.spamhaus.org", "barracuda=b.barracudacentral.org", "spamcop=bl.spamcop.net",
	}}
}

// Enabled implements Section.
func (c FalseBlocklistClaimConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c FalseBlocklistClaimConfig) Build(env Env) (Rule, error) {
	var errs []error
	if c.MinClaims < 1 {
		errs = append(errs, fmt.Errorf("min_claims %d: must be at least 1", c.MinClaims))
	}
	r := &falseBlocklistClaim{cfg: c, ours: map[netip.Addr]bool{}}
	for _, s := range c.PlatformIPs {
		a, err := netip.ParseAddr(strings.TrimSpace(s))
		if err != nil {
			errs = append(errs, fmt.Errorf("platform_ips: %w", err))
			continue
		}
		r.ours[a.Unmap()] = true
	}
	for _, z := range c.Zones {
		word, zone, _ := strings.Cut(z, "=")
		if word == "" || zone == "" || event.CheckToken(zone) != nil || strings.Contains(zone, "@") {
			errs = append(errs, fmt.Errorf("zones: %q: want word=zone", z))
			continue
		}
		r.words = append(r.words, [2]string{strings.ToLower(word), strings.ToLower(zone)})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	slices.SortFunc(r.words, func(a, b [2]string) int { return strings.Compare(a[0], b[0]) })
	l := env.Layout(event.KindRecipientDomain)
	var err error
	if r.claims, err = l.Counters(c.Window, 1); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	r.msgFormat = "Your recipient address has been blocked by admins: its server claims we are on a block list when we are not (at least %d rejections in " +
		FormatWindow(c.Window) + "). Open a ticket at " + strings.ReplaceAll(env.TicketURL, "%", "%%")
	if err := CheckMessage(fmt.Sprintf(r.msgFormat, uint64(1<<63))); err != nil {
		return nil, err
	}
	return r, nil
}

type falseBlocklistClaim struct {
	cfg       FalseBlocklistClaimConfig
	ours      map[netip.Addr]bool
	words     [][2]string
	claims    state.Counters
	first     state.Mark
	msgFormat string
	sum       [1]uint64
}

func (r *falseBlocklistClaim) Info() Info {
	return Info{Code: CodeFalseBlocklistClaim, Stage: StageRecipient, Kind: event.KindRecipientDomain,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow}
}

func (r *falseBlocklistClaim) Filter(in *Input) bool {
	ev := in.Event
	return ev != nil && ev.Recipient != "" && ev.Reason == event.ReasonBlocklisted &&
		(ev.Status == event.StatusBounced || ev.Status == event.StatusRejected || ev.Status == event.StatusDeferred)
}

func (r *falseBlocklistClaim) Update(in *Input, rec state.Record) {
	if rec.Add(r.claims, 0, 1) {
		rec.MarkFirst(r.first, in.Event.ID)
	}
}

var (
	// citedIP: the first IPv4 or IPv6 address in the text, bracketed or not.
	citedIP = regexp.MustCompile(`\[?((?:\d{1,3}\.){3}\d{1,3}|[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7})\]?`)
	// usingZone: "blocked using zen.spamhaus.org" (Postfix's template).
	usingZone = regexp.MustCompile(`(?i)(?:blocked using|listed (?:in|at|on)|black ?list at) ([a-z0-9][a-z0-9.-]*\.[a-z]{2,})`)
)

// Claim reads a blocklist rejection: the cited IP (invalid when none) and
// the zone to query ("" when the text names no list we know).
func (r *falseBlocklistClaim) claim(text string) (netip.Addr, string) {
	var ip netip.Addr
	for _, m := range citedIP.FindAllStringSubmatch(text, 4) {
		if a, err := netip.ParseAddr(m[1]); err == nil {
			ip = a.Unmap()
			break
		}
	}
	lower := strings.ToLower(text)
	named := ""
	if m := usingZone.FindStringSubmatch(lower); m != nil {
		named = strings.TrimSuffix(m[1], ".")
		for _, w := range r.words {
			if w[1] == named {
				return ip, named
			}
		}
	}
	for _, w := range r.words {
		if strings.Contains(lower, w[0]) {
			return ip, w[1]
		}
	}
	return ip, named
}

func (r *falseBlocklistClaim) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	rec.Sums(r.claims, r.sum[:])
	if r.sum[0] < uint64(r.cfg.MinClaims) {
		return Crossing{}, false
	}
	ip, zone := r.claim(in.Event.ReplyText)
	if !ip.IsValid() {
		return Crossing{}, false // nothing to check
	}
	if len(r.ours) > 0 && !r.ours[ip] {
		// A receiver that parses our Received headers: the claim is not
		// about our connection.
		return r.verdict(rec, r.sum[0], map[string]float64{"cited_ip_platform": 0, "header_parsing": 1}), true
	}
	if zone == "" {
		return Crossing{}, false
	}
	return Crossing{Await: &Lookup{Kind: LookupDNSBL, Name: ip.String() + "@" + zone}}, true
}

func (r *falseBlocklistClaim) Resolved(l Lookup, a Answer, rec state.Record) (Crossing, bool) {
	switch a.Result {
	case "nxdomain", "nodata":
	default:
		return Crossing{}, false // listed, unknown, error answer, failed lookup: no evidence
	}
	if a.Facts["selftest_ok"] != 1 || a.Facts["listed"] != 0 || a.Facts["unknown"] != 0 {
		return Crossing{}, false
	}
	f := map[string]float64{"cited_ip_platform": 1, "dnsbl_listed": 0, "dnsbl_selftest_ok": 1}
	if len(r.ours) == 0 {
		f["cited_ip_platform"] = -1 // platform_ips not configured: not checked
	}
	return r.verdict(rec, 0, f), true
}

// verdict builds the crossing; claims is the count when known (0 after
// a lookup: Resolved reads no slot, see StatelessRule).
func (r *falseBlocklistClaim) verdict(rec state.Record, claims uint64, f map[string]float64) Crossing {
	if claims > 0 {
		f["claims"] = float64(claims)
	}
	f["min_claims"] = float64(r.cfg.MinClaims)
	f["window_seconds"] = r.cfg.Window.Seconds()
	return Crossing{Message: fmt.Sprintf(r.msgFormat, max(claims, uint64(r.cfg.MinClaims))), Evidence: f, FirstEventID: rec.First(r.first)}
}

// Stateless implements StatelessRule: Resolved reads no slot.
func (r *falseBlocklistClaim) Stateless() {}
