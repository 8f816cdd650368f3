package rules

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// CodeSpoofing is the code of the spoofing rule.
const CodeSpoofing = "spoofing"

// SpoofingConfig configures spoofing: an authenticated account sending as
// an address of a domain it does not own ("You were caught spoofing this
// sender address … but you objectively do not own the domain in this
// sending address").
//
// Ownership comes from the files hosting panels already keep, lines
// "domain: owner" — DirectAdmin's /etc/virtual/domainowners, cPanel's
// /etc/userdomains. The sender's domain (or a parent of it) is owned by the
// login when it maps to the login itself (a panel user such as "bob"), or
// to the same owner as the login's own domain (a mailbox login such as
// "info@shop.example"). With no file, only the login's own domain is owned
// (and a login without a domain owns nothing checkable: skipped). The files
// are read at start and read again, at most once a minute of event time,
// when their size or modification time changed.
//
// Defaults (research/thresholds.md §7, "spoofing"): at least 2 distinct
// foreign sender addresses from one login in 24 h, as MXroute's
// spoofcheck.sh (MIN_SENDER_ADDRESSES=2). One foreign address alone is let
// through: a customer relaying one personal freemail identity ("send mail
// as") is common and harmless.
//
// Subject: the spoofed sender address, which is what the policy page says
// is blocked — unless its domain belongs to another customer of the
// platform, in which case banning the address would refuse the real
// owner's mail, so the spoofing account is banned instead.
type SpoofingConfig struct {
	// On turns the rule on. Default true.
	On bool `koanf:"enabled"`
	// Shadow records verdicts without banning. Default false.
	Shadow bool `koanf:"shadow"`
	// Window is the span counted. Default 24h.
	Window time.Duration `koanf:"window"`
	// MinAddresses is the fewest distinct foreign sender addresses of one
	// login in the window. Default 2.
	MinAddresses int `koanf:"min_addresses"`
	// OwnerFiles lists "domain: owner" files (DirectAdmin
	// /etc/virtual/domainowners, cPanel /etc/userdomains). Default none.
	OwnerFiles []string `koanf:"owner_files"`
}

// Default implements Section.
func (SpoofingConfig) Default() Section {
	return SpoofingConfig{On: true, Window: 24 * time.Hour, MinAddresses: 2}
}

// Enabled implements Section.
func (c SpoofingConfig) Enabled() bool { return c.On }

// Build implements Section.
func (c SpoofingConfig) Build(env Env) (Rule, error) {
	if c.MinAddresses < 1 {
		return nil, fmt.Errorf("min_addresses %d: must be at least 1", c.MinAddresses)
	}
	r := &spoofing{cfg: c, owners: map[string]string{}}
	if err := r.reload(); err != nil {
		return nil, err
	}
	l := env.Layout(event.KindAccount)
	var err error
	if r.foreign, err = l.Distinct(c.Window); err != nil {
		return nil, err
	}
	if r.first, err = l.Mark(c.Window); err != nil {
		return nil, err
	}
	ticket := strings.ReplaceAll(env.TicketURL, "%", "%%")
	r.addrFormat = "This sending address has been blocked by admins: your account was caught spoofing it, one of %d addresses of domains it does not own used in " +
		FormatWindow(c.Window) + ". Send only as domains you own, or open a ticket at " + ticket
	r.acctFormat = "Your account has been blocked by admins: it was caught spoofing %d addresses of domains it does not own in " +
		FormatWindow(c.Window) + ". Send only as domains you own, or open a ticket at " + ticket
	for _, f := range []string{r.addrFormat, r.acctFormat} {
		if err := CheckMessage(fmt.Sprintf(f, uint64(math.MaxUint64))); err != nil {
			return nil, err
		}
	}
	return r, nil
}

type fileStamp struct {
	size  int64
	mtime time.Time
}

type spoofing struct {
	cfg        SpoofingConfig
	owners     map[string]string // domain → owner, lower-cased
	stamps     []fileStamp
	checked    time.Time // event time of the last stat
	foreign    state.Distinct
	first      state.Mark
	addrFormat string
	acctFormat string
}

// reload reads every owner file again when one changed since the last read.
func (r *spoofing) reload() error {
	stamps := make([]fileStamp, len(r.cfg.OwnerFiles))
	changed := len(r.stamps) != len(stamps)
	for i, p := range r.cfg.OwnerFiles {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("owner_files: %w", err)
		}
		stamps[i] = fileStamp{fi.Size(), fi.ModTime()}
		if !changed && stamps[i] != r.stamps[i] {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	owners := map[string]string{}
	for _, p := range r.cfg.OwnerFiles {
		if err := readOwners(p, owners); err != nil {
			return err
		}
	}
	r.owners, r.stamps = owners, stamps
	return nil
}

// readOwners adds the "domain: owner" lines of path to m. Blank lines,
// comments and cPanel's "*: nobody" catch-all are skipped; a line that is
// not "domain: owner" is an error naming the line.
func readOwners(path string, m map[string]string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("owner_files: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		d, o, ok := strings.Cut(line, ":")
		d, o = strings.ToLower(strings.TrimSpace(d)), strings.ToLower(strings.TrimSpace(o))
		if !ok || d == "" || o == "" || strings.ContainsAny(d, " \t") {
			return fmt.Errorf("owner_files: %s:%d: want \"domain: owner\"", path, n)
		}
		if d == "*" {
			continue
		}
		m[d] = o
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("owner_files: read %s: %w", path, err)
	}
	return nil
}

// ownerOf returns the owner of domain or of its nearest listed parent.
func (r *spoofing) ownerOf(domain string) string {
	for d := domain; d != ""; {
		if o, ok := r.owners[d]; ok {
			return o
		}
		i := strings.IndexByte(d, '.')
		if i < 0 {
			break
		}
		d = d[i+1:]
	}
	return ""
}

// owned reports whether login may send as domain, and whether the check
// was possible at all.
func (r *spoofing) owned(login, domain string) (owned, known bool) {
	loginDomain := event.Domain(login)
	if loginDomain != "" && (domain == loginDomain || strings.HasSuffix(domain, "."+loginDomain)) {
		return true, true
	}
	owner := r.ownerOf(domain)
	switch {
	case owner != "" && owner == login:
		return true, true
	case owner != "" && loginDomain != "" && owner == r.ownerOf(loginDomain):
		return true, true
	case loginDomain == "" && len(r.owners) == 0:
		return false, false // a panel login and nothing to look it up in
	}
	return false, true
}

func (r *spoofing) Info() Info {
	return Info{
		Code: CodeSpoofing, Stage: StageSender, Kind: event.KindAccount,
		Window: r.cfg.Window, Action: event.ActionBan, Shadow: r.cfg.Shadow,
	}
}

func (r *spoofing) Filter(in *Input) bool {
	ev := in.Event
	if ev == nil || ev.SASLUser == "" || ev.Sender == "" || ev.Status == event.StatusAuthFailed {
		return false
	}
	if len(r.cfg.OwnerFiles) > 0 && ev.TS.Sub(r.checked) >= time.Minute {
		r.checked = ev.TS
		_ = r.reload() // a file being rewritten: keep the last good map, try again next minute
	}
	owned, known := r.owned(strings.ToLower(ev.SASLUser), strings.ToLower(event.Domain(ev.Sender)))
	return known && !owned
}

func (r *spoofing) Update(in *Input, rec state.Record) {
	rec.AddDistinct(r.foreign, state.Hash(strings.ToLower(in.Event.Sender)))
	rec.MarkFirst(r.first, in.Event.ID)
}

func (r *spoofing) Threshold(in *Input, rec state.Record) (Crossing, bool) {
	n := rec.Distinct(r.foreign)
	if n < uint64(r.cfg.MinAddresses) {
		return Crossing{}, false
	}
	sender := strings.ToLower(in.Event.Sender)
	c := Crossing{
		Evidence: map[string]float64{
			"foreign_addresses": float64(n),
			"min_addresses":     float64(r.cfg.MinAddresses),
			"window_seconds":    r.cfg.Window.Seconds(),
		},
		FirstEventID: rec.First(r.first),
	}
	if r.ownerOf(event.Domain(sender)) != "" {
		// The domain is another customer's: ban the account, not its address.
		c.Evidence["domain_owned_by_other_customer"] = 1
		c.Message = fmt.Sprintf(r.acctFormat, n)
		return c, true
	}
	c.Subject, c.Kind = sender, event.KindSender
	c.Message = fmt.Sprintf(r.addrFormat, n)
	return c, true
}
