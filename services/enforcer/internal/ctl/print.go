package ctl

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/mta"
)

type printer struct {
	w    io.Writer
	json bool
}

func (p *printer) encode(v any) error {
	enc := json.NewEncoder(p.w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// cell makes one table cell safe for a terminal: a value that is not a
// printable token (white space, control or format characters such as
// U+202E, tabs that would shift columns) is Go-quoted in ASCII, and
// anything over 80 bytes is cut.
func cell(s string) string {
	if s == "" {
		return "-"
	}
	clean := true
	for _, r := range s {
		if !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '"' || r > unicode.MaxASCII && unicode.Is(unicode.Cf, r) {
			clean = false
			break
		}
	}
	if !clean {
		s = strconv.QuoteToASCII(s)
	}
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

// text is a free-text cell: sanitised to one line of printable ASCII.
func text(s string) string {
	if s == "" {
		return "-"
	}
	s = mta.SanitizeMessage(s)
	if len(s) > 80 {
		s = s[:77] + "..."
	}
	return s
}

func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

func (p *printer) bans(bs []api.BanView, detail bool) error {
	if p.json {
		if detail && len(bs) == 1 {
			return p.encode(bs[0])
		}
		return p.encode(bs)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tSUBJECT\tRULE\tACTION\tENFORCED\tEXPIRES\tSOURCE\tACTOR\tMESSAGE")
	for _, b := range bs {
		enf := "yes"
		switch {
		case b.Allowlisted:
			enf = "allowlisted"
		case !b.Enforced:
			enf = "no"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cell(string(b.SubjectKind)), cell(b.Subject), cell(b.Rule),
			cell(string(b.Action)), enf, when(b.Expires.Time), cell(b.Source), cell(b.Actor), text(b.Message))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if detail {
		for _, b := range bs {
			fmt.Fprintf(p.w, "\nkey: %s\nts: %s\nreason: %s\nlevel: %d\n", cell(b.Key), when(b.TS), text(b.Reason), b.Level)
			keys := make([]string, 0, len(b.Evidence))
			for k := range b.Evidence {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(p.w, "evidence %s: %s\n", cell(k), strconv.FormatFloat(b.Evidence[k], 'g', -1, 64))
			}
		}
	}
	return nil
}

func (p *printer) allow(es []event.AllowEntry) error {
	if p.json {
		return p.encode(es)
	}
	tw := tabwriter.NewWriter(p.w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ALLOW KIND\tSUBJECT\tEXPIRES\tACTOR\tREASON")
	for _, e := range es {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", cell(string(e.Kind)), cell(e.Subject), when(e.Expires.Time), cell(e.Actor), text(e.Reason))
	}
	return tw.Flush()
}
