// Package ctl is `enforcer ctl`, the operator CLI over the enforcer's API
// (api.Client): list, show, lookup, ban, extend, unban, allow, disallow, as a
// table or JSON, with exit codes a script can branch on.
//
//	enforcer ctl [--url URL] [--token-file FILE] [--json] COMMAND ...
//
// The token comes from --token-file (a file holding the secret) or
// $MXWARDEN_TOKEN, never from the command line (it would show in ps);
// the URL from --url or $MXWARDEN_URL (default http://127.0.0.1:9103).
package ctl

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
)

// Exit codes.
const (
	ExitOK          = 0
	ExitError       = 1 // network error, server error, anything else
	ExitUsage       = 2 // bad command line
	ExitNotFound    = 3 // no such ban or allowlist entry
	ExitAuth        = 4 // 401 or 403: no, wrong or read-only token
	ExitInvalid     = 5 // 400: the server refused the request's content
	ExitUnavailable = 6 // 503: Kafka did not acknowledge; nothing changed
)

// Usage is the synopsis.
const Usage = `usage: enforcer ctl [--url URL] [--token-file FILE] [--json] COMMAND ...
commands:
  list [--rule R] [--kind K] [--subject SUBSTR] [--since RFC3339|DURATION] [--source S] [--all] [--limit N] [--offset N]
  show KIND SUBJECT
  lookup SUBJECT                       bans that apply to an address, domain, account or IP
  ban KIND SUBJECT --reason R [--message M] [--ttl D | --expires T] [--defer]
  extend KIND SUBJECT --reason R (--ttl D | --expires T)   the same ban, a later expiry
  unban KIND SUBJECT --reason R
  allowlist [--kind K] [--subject SUBSTR]
  allow KIND SUBJECT --reason R [--ttl D | --expires T]
  disallow KIND SUBJECT --reason R
kinds: sender account sender_domain client_ip recipient recipient_domain sender_recipient (SENDER=>RECIPIENT)
token: --token-file FILE or $MXWARDEN_TOKEN; url: --url or $MXWARDEN_URL (default http://127.0.0.1:9103)
exit codes: 0 ok, 1 error, 2 usage, 3 not found, 4 unauthorized/forbidden, 5 invalid request, 6 kafka unavailable`

// usageError is a bad command line.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Run runs one ctl command and returns its exit code; errors go to stderr.
func Run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := run(ctx, args, getenv, stdout)
	if err == nil {
		return ExitOK
	}
	fmt.Fprintln(stderr, "enforcer ctl:", err)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, Usage)
		return ExitUsage
	case errors.Is(err, api.ErrNotFound):
		return ExitNotFound
	case errors.Is(err, api.ErrUnauthorized), errors.Is(err, api.ErrForbidden):
		return ExitAuth
	case errors.Is(err, api.ErrInvalid):
		return ExitInvalid
	case errors.Is(err, api.ErrUnavailable):
		return ExitUnavailable
	}
	return ExitError
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	g := flag.NewFlagSet("ctl", flag.ContinueOnError)
	g.SetOutput(io.Discard)
	url := g.String("url", "", "")
	tokenFile := g.String("token-file", "", "")
	asJSON := g.Bool("json", false, "")
	if err := g.Parse(args); err != nil {
		return usageError{err.Error()}
	}
	rest := g.Args()
	if len(rest) == 0 {
		return usageError{"no command"}
	}
	if *url == "" {
		*url = getenv("MXWARDEN_URL")
	}
	if *url == "" {
		*url = "http://127.0.0.1:9103"
	}
	token := getenv("MXWARDEN_TOKEN")
	if *tokenFile != "" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("read token file: %w", err)
		}
		token = strings.TrimSpace(string(b))
	}
	c := &api.Client{BaseURL: *url, Token: token}
	cmd, cargs := rest[0], rest[1:]
	out := &printer{w: stdout, json: *asJSON}
	switch cmd {
	case "list":
		return list(ctx, c, cargs, out)
	case "show":
		kind, subject, _, err := keyArgs(cmd, cargs, nil)
		if err != nil {
			return err
		}
		v, err := c.Get(ctx, kind, subject)
		if err != nil {
			return err
		}
		return out.bans([]api.BanView{v}, true)
	case "lookup":
		if len(cargs) != 1 {
			return usageError{"lookup: want SUBJECT"}
		}
		l, err := c.Applying(ctx, cargs[0])
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(l)
		}
		if err := out.bans(l.Bans, false); err != nil {
			return err
		}
		if len(l.Allow) > 0 {
			fmt.Fprintln(stdout)
			return out.allow(l.Allow)
		}
		return nil
	case "ban":
		fs := newFlags(cmd)
		reason := fs.String("reason", "", "")
		message := fs.String("message", "", "")
		ttl := fs.String("ttl", "", "")
		expires := fs.String("expires", "", "")
		deferIt := fs.Bool("defer", false, "")
		kind, subject, _, err := keyArgs(cmd, cargs, fs)
		if err != nil {
			return err
		}
		r := api.BanRequest{Kind: kind, Subject: subject, Reason: *reason, Message: *message, TTL: *ttl}
		if *deferIt {
			r.Action = event.ActionDefer
		}
		if r.Expires, err = parseExpires(*expires); err != nil {
			return err
		}
		v, err := c.Ban(ctx, "", r)
		if err != nil {
			return err
		}
		return out.bans([]api.BanView{v}, true)
	case "extend":
		fs := newFlags(cmd)
		reason := fs.String("reason", "", "")
		ttl := fs.String("ttl", "", "")
		expires := fs.String("expires", "", "")
		kind, subject, _, err := keyArgs(cmd, cargs, fs)
		if err != nil {
			return err
		}
		r := api.ExtendRequest{Kind: kind, Subject: subject, Reason: *reason, TTL: *ttl}
		if r.Expires, err = parseExpires(*expires); err != nil {
			return err
		}
		v, err := c.Extend(ctx, "", r)
		if err != nil {
			return err
		}
		return out.bans([]api.BanView{v}, true)
	case "unban", "disallow":
		fs := newFlags(cmd)
		reason := fs.String("reason", "", "")
		kind, subject, _, err := keyArgs(cmd, cargs, fs)
		if err != nil {
			return err
		}
		r := api.ChangeRequest{Kind: kind, Subject: subject, Reason: *reason}
		if cmd == "unban" {
			err = c.Unban(ctx, "", r)
		} else {
			err = c.Disallow(ctx, "", r)
		}
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(api.Deleted{Deleted: event.BanKey(kind, subject)})
		}
		fmt.Fprintf(stdout, "%sed %s\n", map[string]string{"unban": "unbann", "disallow": "disallow"}[cmd], cell(event.BanKey(kind, subject)))
		return nil
	case "allowlist":
		fs := newFlags(cmd)
		kind := fs.String("kind", "", "")
		sub := fs.String("subject", "", "")
		if err := fs.Parse(cargs); err != nil || fs.NArg() > 0 {
			return usageError{"allowlist: bad arguments"}
		}
		es, err := c.Allowlist(ctx, event.SubjectKind(*kind), *sub)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(struct {
				Allowlist []event.AllowEntry `json:"allowlist"`
			}{es})
		}
		return out.allow(es)
	case "allow":
		fs := newFlags(cmd)
		reason := fs.String("reason", "", "")
		ttl := fs.String("ttl", "", "")
		expires := fs.String("expires", "", "")
		kind, subject, _, err := keyArgs(cmd, cargs, fs)
		if err != nil {
			return err
		}
		r := api.AllowRequest{Kind: kind, Subject: subject, Reason: *reason, TTL: *ttl}
		if r.Expires, err = parseExpires(*expires); err != nil {
			return err
		}
		a, err := c.Allow(ctx, "", r)
		if err != nil {
			return err
		}
		if out.json {
			return out.encode(a)
		}
		return out.allow([]event.AllowEntry{a})
	}
	return usageError{fmt.Sprintf("unknown command %q", cmd)}
}

func newFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	return fs
}

// keyArgs reads "KIND SUBJECT [flags]" (flags may also come first).
func keyArgs(cmd string, args []string, fs *flag.FlagSet) (event.SubjectKind, string, []string, error) {
	if fs == nil {
		fs = newFlags(cmd)
	}
	var pos []string
	for len(args) > 0 {
		if err := fs.Parse(args); err != nil {
			return "", "", nil, usageError{fmt.Sprintf("%s: %v", cmd, err)}
		}
		args = fs.Args()
		if len(args) > 0 {
			pos = append(pos, args[0])
			args = args[1:]
		}
	}
	if len(pos) != 2 {
		return "", "", nil, usageError{cmd + ": want KIND SUBJECT"}
	}
	return event.SubjectKind(pos[0]), pos[1], nil, nil
}

func parseExpires(s string) (event.OptTime, error) {
	if s == "" {
		return event.OptTime{}, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return event.OptTime{}, usageError{fmt.Sprintf("--expires %q: want RFC 3339", s)}
	}
	return event.OptTime{Time: t}, nil
}

func list(ctx context.Context, c *api.Client, args []string, out *printer) error {
	fs := newFlags("list")
	q := api.ListQuery{}
	fs.StringVar(&q.Rule, "rule", "", "")
	kind := fs.String("kind", "", "")
	fs.StringVar(&q.Subject, "subject", "", "")
	since := fs.String("since", "", "")
	fs.StringVar(&q.Source, "source", "", "")
	fs.BoolVar(&q.All, "all", false, "")
	fs.IntVar(&q.Limit, "limit", 0, "")
	fs.IntVar(&q.Offset, "offset", 0, "")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		return usageError{"list: bad arguments"}
	}
	q.Kind = event.SubjectKind(*kind)
	if *since != "" {
		parsed, err := api.ParseListQuery(map[string][]string{"since": {*since}}, time.Now())
		if err != nil {
			return usageError{err.Error()}
		}
		q.Since = parsed.Since
	}
	p, err := c.List(ctx, q)
	if err != nil {
		return err
	}
	if out.json {
		return out.encode(p)
	}
	if err := out.bans(p.Bans, false); err != nil {
		return err
	}
	if p.NextOffset != nil {
		fmt.Fprintf(out.w, "# %d of %d shown; next page: --offset %d\n", len(p.Bans), p.Total, *p.NextOffset)
	}
	return nil
}
