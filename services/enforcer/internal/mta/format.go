package mta

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Side says which map a ban belongs to.
type Side string

// The sides.
const (
	// SideSender holds sender and sender_domain bans (check_sender_access).
	SideSender Side = "sender"
	// SideRecipient holds recipient and recipient_domain bans
	// (check_recipient_access).
	SideRecipient Side = "recipient"
)

// ParseSide returns the side named s.
func ParseSide(s string) (Side, error) {
	switch Side(s) {
	case SideSender, SideRecipient:
		return Side(s), nil
	}
	return "", fmt.Errorf("side %q: want sender or recipient", s)
}

// kinds returns the address kind and the domain kind of the side.
func (s Side) kinds() (addr, domain event.SubjectKind) {
	if s == SideRecipient {
		return event.KindRecipient, event.KindRecipientDomain
	}
	return event.KindSender, event.KindSenderDomain
}

// Skipped is a ban a Format left out of its output.
type Skipped struct {
	Kind    event.SubjectKind
	Subject string // as received: hostile, quote it before printing
	Reason  string // one of the Skip* constants
}

// Rendered is the output of Format.Render.
type Rendered struct {
	// Body is the complete file content.
	Body []byte
	// Entries counts the lines that carry a ban.
	Entries int
	// Skipped lists the bans of this side that were left out, in output order.
	Skipped []Skipped
}

// Format turns bans into the content of one map file.
type Format interface {
	// Name is the format's name in configuration, metrics and `enforcer render`.
	Name() string
	// Render writes one line for each ban of side in bans (bans of other
	// kinds are ignored). It does not filter by expiry, shadow mode or
	// allowlist: pass a banset.Snapshot's bans. allow are the allowlist
	// entries in force; a format that can express an exception for one
	// address of a banned domain writes one (Postfix: "<address> DUNNO"),
	// the others leave the domain out (the allowlist wins). Output depends
	// only on the sets of bans and entries, not their order.
	Render(bans []*event.Ban, allow []*event.AllowEntry, side Side) Rendered
}

// FormatNames lists the formats FormatByName knows.
var FormatNames = []string{Postfix.Name(), Exim.Name(), EximList.Name()}

// FormatByName returns the format called name.
func FormatByName(name string) (Format, error) {
	for _, f := range []Format{Postfix, Exim, EximList} {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownFormat, name, strings.Join(FormatNames, " or "))
}

// line formats one entry; it returns a skip reason instead when the key
// cannot be carried by the format. domain says the key is a domain (of a
// domain ban), action is the ban's action ("" for an allowlist exception).
type lineFunc func(key string, domain bool, action event.Action, message string) (string, string)

// rendering says what one format does with the bans it is given.
type rendering struct {
	name string
	line lineFunc
	// deferToo: the format can express a temporary refusal (action defer);
	// otherwise defer bans are left out (not counted as skipped: the
	// policy server enforces them).
	deferToo bool
	// exceptions: the format can express "this address is not banned
	// although its domain is" (allowlist entries inside a banned domain);
	// otherwise such a domain ban is left out, counted as SkipAllowlisted.
	exceptions bool
}

// render is the skeleton every format shares: select the side's bans,
// derive and check keys, sort, deduplicate, write the header and lines.
func render(f rendering, bans []*event.Ban, allow []*event.AllowEntry, side Side) Rendered {
	addrKind, domainKind := side.kinds()
	type entry struct {
		kind    event.SubjectKind
		key     string
		subject string
		action  event.Action
		message string
	}
	var entries []entry
	var out Rendered
	// Allowlisted addresses of this side, by domain: exceptions to domain bans.
	except := map[string][]string{}
	for _, a := range allow {
		if a.Kind != addrKind {
			continue
		}
		if key, reason := addressKey(a.Subject); reason == "" {
			d := key[strings.LastIndexByte(key, '@')+1:]
			except[d] = append(except[d], key)
		}
	}
	for _, b := range bans {
		if b.Action == event.ActionDefer && !f.deferToo || b.Action != event.ActionBan && b.Action != event.ActionDefer {
			continue
		}
		var key, reason string
		switch b.SubjectKind {
		case addrKind:
			key, reason = addressKey(b.Subject)
		case domainKind:
			key, reason = domainKey(b.Subject)
			if reason == "" && len(except[key]) > 0 {
				if !f.exceptions {
					reason = SkipAllowlisted
				} else {
					for _, a := range except[key] {
						entries = append(entries, entry{addrKind, a, a, "", ""})
					}
				}
			}
		default:
			continue
		}
		if reason != "" {
			out.Skipped = append(out.Skipped, Skipped{b.SubjectKind, b.Subject, reason})
			continue
		}
		entries = append(entries, entry{b.SubjectKind, key, b.Subject, b.Action, b.Message})
	}
	// Sort by kind, key, then exceptions first, then action and message so
	// duplicates resolve the same way whatever the input order (an
	// exception beats a ban of the same address: the allowlist wins).
	sort.Slice(entries, func(i, j int) bool {
		a, c := entries[i], entries[j]
		if a.kind != c.kind {
			return a.kind < c.kind
		}
		if a.key != c.key {
			return a.key < c.key
		}
		if a.action != c.action {
			return a.action < c.action
		}
		return a.message < c.message
	})
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# %s %s map written by mxwarden enforcer: do not edit, changes are overwritten\n", f.name, side)
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if seen[e.key] {
			if e.action != "" {
				out.Skipped = append(out.Skipped, Skipped{e.kind, e.subject, SkipDuplicate})
			}
			continue
		}
		l, reason := f.line(e.key, e.kind == domainKind, e.action, SanitizeMessage(e.message))
		if reason != "" {
			out.Skipped = append(out.Skipped, Skipped{e.kind, e.subject, reason})
			continue
		}
		seen[e.key] = true
		buf.WriteString(l)
		buf.WriteByte('\n')
		if e.action != "" {
			out.Entries++
		}
	}
	out.Body = buf.Bytes()
	return out
}

// Postfix is the Postfix access(5) format: "<key> REJECT <message>", or
// "<key> DEFER_IF_PERMIT <message>" for a defer ban, and "<address> DUNNO"
// for an allowlisted address of a banned domain (DUNNO stops the lookup
// before the domain is tried).
var Postfix Format = postfixAccess{}

type postfixAccess struct{}

func (postfixAccess) Name() string { return "postfix-access" }

func (postfixAccess) Render(bans []*event.Ban, allow []*event.AllowEntry, side Side) Rendered {
	return render(rendering{name: "postfix-access", deferToo: true, exceptions: true, line: func(key string, domain bool, action event.Action, msg string) (string, string) {
		// postmap(1) and texthash take the first white-space separated
		// field as the key, a leading '#' as a comment and have no
		// quoting; addressKey/domainKey already refused white space.
		if key[0] == '#' || strings.ContainsRune(key, '"') {
			return "", SkipSyntax
		}
		if !domain && !strings.ContainsRune(key, '@') {
			// An unqualified address ("www-data"): access(5) would read
			// the key as a domain, and "www-data@" would match that local
			// part at every domain. The policy server matches it exactly.
			return "", SkipSyntax
		}
		switch action {
		case "":
			return key + " DUNNO", ""
		case event.ActionDefer:
			return key + " DEFER_IF_PERMIT " + msg, ""
		}
		return key + " REJECT " + msg, ""
	}}, bans, allow, side)
}

// Exim is the Exim lsearch format: "<key>: <message>", addresses and bare
// domains as keys, for ACLs that look the address up, then the domain,
// and use the value as the message.
var Exim Format = eximLsearch{}

type eximLsearch struct{}

func (eximLsearch) Name() string { return "exim" }

func (eximLsearch) Render(bans []*event.Ban, allow []*event.AllowEntry, side Side) Rendered {
	return render(rendering{name: "exim", line: func(key string, _ bool, _ event.Action, msg string) (string, string) {
		return eximKey(key) + ": " + msg, ""
	}}, bans, allow, side)
}

// EximList is the Exim address-list format hosting panels' ACLs use with
// nwildlsearch*@ (DirectAdmin: senders = nwildlsearch*@;/etc/exim/spam_senders):
// "<address>: <message>" for an address ban and "*@<domain>: <message>" for
// a domain ban, so the list matches every address of a banned domain, and
// ${lookup{$sender_address}nwildlsearch*@{FILE}} returns the message.
// Keys wildlsearch would read as a pattern (a leading '^' is a regular
// expression, a leading '*' a wildcard) are skipped, never written.
var EximList Format = eximList{}

type eximList struct{}

func (eximList) Name() string { return "exim-list" }

func (eximList) Render(bans []*event.Ban, allow []*event.AllowEntry, side Side) Rendered {
	return render(rendering{name: "exim-list", line: func(key string, domain bool, _ event.Action, msg string) (string, string) {
		if key[0] == '^' || key[0] == '*' || key[0] == '!' {
			return "", SkipSyntax
		}
		if domain {
			key = "*@" + key
		}
		return eximKey(key) + ": " + msg, ""
	}}, bans, allow, side)
}

// eximKey quotes key when lsearch would otherwise end it early (at ':'
// or white space), read it as quoted ('"' first) or as a comment ('#'
// first). Inside quotes lsearch interprets backslash escapes, so '\' and
// '"' are escaped; a backslash before any other character (digits start
// an octal escape) never occurs because only those two are escaped.
func eximKey(key string) string {
	if !strings.ContainsAny(key, `:"\`) && key[0] != '#' {
		return key
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(key); i++ {
		if key[i] == '"' || key[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(key[i])
	}
	b.WriteByte('"')
	return b.String()
}
