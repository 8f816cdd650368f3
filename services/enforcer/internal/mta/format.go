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
	// kinds are ignored). It does not filter by expiry or shadow mode:
	// pass a banset.Snapshot's bans. Output depends only on the set of
	// bans, not their order.
	Render(bans []event.Ban, side Side) Rendered
}

// FormatNames lists the formats FormatByName knows.
var FormatNames = []string{Postfix.Name(), Exim.Name()}

// FormatByName returns the format called name.
func FormatByName(name string) (Format, error) {
	for _, f := range []Format{Postfix, Exim} {
		if f.Name() == name {
			return f, nil
		}
	}
	return nil, fmt.Errorf("%w %q (want %s)", ErrUnknownFormat, name, strings.Join(FormatNames, " or "))
}

// line formats one entry; it returns a skip reason instead when the key
// cannot be carried by the format.
type lineFunc func(key, message string) (string, string)

// render is the skeleton every format shares: select the side's bans,
// derive and check keys, sort, deduplicate, write the header and lines.
func render(format string, bans []event.Ban, side Side, line lineFunc) Rendered {
	addrKind, domainKind := side.kinds()
	type entry struct {
		kind    event.SubjectKind
		key     string
		subject string
		message string
	}
	var entries []entry
	var out Rendered
	for i := range bans {
		b := &bans[i]
		var key, reason string
		switch b.SubjectKind {
		case addrKind:
			key, reason = addressKey(b.Subject)
		case domainKind:
			key, reason = domainKey(b.Subject)
		default:
			continue
		}
		if reason != "" {
			out.Skipped = append(out.Skipped, Skipped{b.SubjectKind, b.Subject, reason})
			continue
		}
		entries = append(entries, entry{b.SubjectKind, key, b.Subject, b.Message})
	}
	// Sort by kind, key, then message so duplicates resolve the same way
	// whatever the input order.
	sort.Slice(entries, func(i, j int) bool {
		a, c := entries[i], entries[j]
		if a.kind != c.kind {
			return a.kind < c.kind
		}
		if a.key != c.key {
			return a.key < c.key
		}
		return a.message < c.message
	})
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "# %s %s map written by mxwarden enforcer: do not edit, changes are overwritten\n", format, side)
	seen := make(map[string]bool, len(entries))
	for _, e := range entries {
		if seen[e.key] {
			out.Skipped = append(out.Skipped, Skipped{e.kind, e.subject, SkipDuplicate})
			continue
		}
		l, reason := line(e.key, SanitizeMessage(e.message))
		if reason != "" {
			out.Skipped = append(out.Skipped, Skipped{e.kind, e.subject, reason})
			continue
		}
		seen[e.key] = true
		buf.WriteString(l)
		buf.WriteByte('\n')
		out.Entries++
	}
	out.Body = buf.Bytes()
	return out
}

// Postfix is the Postfix access(5) format: "<key> REJECT <message>".
var Postfix Format = postfixAccess{}

type postfixAccess struct{}

func (postfixAccess) Name() string { return "postfix-access" }

func (postfixAccess) Render(bans []event.Ban, side Side) Rendered {
	return render("postfix-access", bans, side, func(key, msg string) (string, string) {
		// postmap(1) and texthash take the first white-space separated
		// field as the key, a leading '#' as a comment and have no
		// quoting; addressKey/domainKey already refused white space.
		if key[0] == '#' || strings.ContainsRune(key, '"') {
			return "", SkipSyntax
		}
		return key + " REJECT " + msg, ""
	})
}

// Exim is the Exim lsearch format: "<key>: <message>".
var Exim Format = eximLsearch{}

type eximLsearch struct{}

func (eximLsearch) Name() string { return "exim" }

func (eximLsearch) Render(bans []event.Ban, side Side) Rendered {
	return render("exim", bans, side, func(key, msg string) (string, string) {
		return eximKey(key) + ": " + msg, ""
	})
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
