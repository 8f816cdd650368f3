package enforcer

import (
	"fmt"
	"io"
	"reflect"
	"strconv"
	"sync"
	"time"
	"unicode"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/mta"
)

// Printer writes one human-readable line for each ban that starts or
// stops being enforced:
//
//	BAN <subject_kind> <subject> rule=<rule> expires=<RFC 3339 UTC|never>: <message>
//	UNBAN <subject_kind> <subject> rule=<rule> reason=<lifted|expired|shadow>
//
// BAN is printed again when an enforced ban is replaced by a different
// one (a new expiry or level). UNBAN's reason says whether a tombstone
// lifted it, it expired, or a shadow/flag record replaced it. Subjects and
// rules that are not clean tokens are printed Go-quoted; the message is
// sanitised to one line (mta.SanitizeMessage). Safe for concurrent use.
type Printer struct {
	mu sync.Mutex
	w  io.Writer
}

// NewPrinter returns a printer writing to w.
func NewPrinter(w io.Writer) *Printer { return &Printer{w: w} }

// Change prints the line for c, if any, judging enforcement at now.
func (p *Printer) Change(c banset.Change, now time.Time) {
	was := c.Old != nil && banset.Enforced(c.Old, now)
	is := c.New != nil && banset.Enforced(c.New, now)
	switch {
	case is && (!was || !reflect.DeepEqual(*c.Old, *c.New)):
		p.ban(c.New)
	case was && !is:
		reason := "lifted"
		switch {
		case c.New == nil:
		case !c.New.Expires.IsZero() && !now.Before(c.New.Expires.Time):
			reason = "expired"
		default:
			reason = "shadow"
		}
		p.unban(c.Old, reason)
	}
}

// Expired prints UNBAN for a ban the expiry sweep removed, if it was
// enforced before expiring.
func (p *Printer) Expired(c banset.Change) {
	if c.Old != nil && !c.Old.Shadow && c.Old.Action == event.ActionBan {
		p.unban(c.Old, "expired")
	}
}

func (p *Printer) ban(b *event.Ban) {
	expires := "never"
	if !b.Expires.IsZero() {
		expires = b.Expires.UTC().Format(time.RFC3339)
	}
	p.printf("BAN %s %s rule=%s expires=%s: %s\n", token(string(b.SubjectKind)), token(b.Subject), token(b.Rule), expires, mta.SanitizeMessage(b.Message))
}

func (p *Printer) unban(b *event.Ban, reason string) {
	p.printf("UNBAN %s %s rule=%s reason=%s\n", token(string(b.SubjectKind)), token(b.Subject), token(b.Rule), reason)
}

func (p *Printer) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = fmt.Fprintf(p.w, format, args...) // a closed stdout must not stop enforcement
}

// token returns s when it is a printable token, else s Go-quoted in ASCII.
func token(s string) string {
	if s == "" || event.CheckToken(s) != nil {
		return strconv.QuoteToASCII(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || r == '"' {
			return strconv.QuoteToASCII(s)
		}
	}
	return s
}
