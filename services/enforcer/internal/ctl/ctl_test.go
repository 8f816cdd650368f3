package ctl

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

const (
	admin = "admin-secret-0123456789"
	ro    = "read-secret-0123456789ab"
)

func setup(t *testing.T) (*banset.Set, func(args ...string) (int, string, string)) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "mail.bans", "mail.allowlist"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	set := banset.New(nil)
	local := &api.Local{Set: set, Producer: api.KafkaProducer{Client: cl}, Topics: api.Topics{Bans: "mail.bans", Allowlist: "mail.allowlist"}}
	auth, err := api.NewAuthenticator([]api.Token{{Name: "ops", Role: api.RoleAdmin, Token: admin}, {Name: "viewer", Role: api.RoleRead, Token: ro}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.NewHandler(local, auth, slog.New(slog.DiscardHandler), prometheus.NewRegistry()))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	for name, tok := range map[string]string{"admin": admin, "ro": ro} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(tok+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return set, func(args ...string) (int, string, string) {
		var out, errs bytes.Buffer
		tok := "admin"
		if len(args) > 0 && args[0] == "--ro" {
			tok, args = "ro", args[1:]
		}
		full := append([]string{"--url", srv.URL, "--token-file", filepath.Join(dir, tok)}, args...)
		code := Run(context.Background(), full, func(string) string { return "" }, &out, &errs)
		return code, out.String(), errs.String()
	}
}

func TestCommandsAndExitCodes(t *testing.T) {
	_, ctl := setup(t)
	code, out, errs := ctl("ban", "sender", "spam@x.example", "--reason", "phishing", "--ttl", "1h", "--message", "5.7.1 blocked")
	if code != ExitOK || !strings.Contains(out, "spam@x.example") || !strings.Contains(out, "manual") {
		t.Fatalf("ban: %d %q %q", code, out, errs)
	}
	if code, out, _ := ctl("--json", "show", "sender", "spam@x.example"); code != ExitOK || !json.Valid([]byte(out)) || !strings.Contains(out, `"actor": "ops"`) {
		t.Fatalf("show --json: %d %s", code, out)
	}
	if code, out, _ := ctl("--ro", "list", "--rule", "manual"); code != ExitOK || !strings.Contains(out, "KIND") || !strings.Contains(out, "spam@x.example") {
		t.Fatalf("list: %d %s", code, out)
	}
	if code, out, _ := ctl("--ro", "lookup", "x.example"); code != ExitOK || !strings.Contains(out, "spam@x.example") {
		t.Fatalf("lookup: %d %s", code, out)
	}
	if code, _, _ := ctl("--ro", "unban", "sender", "spam@x.example", "--reason", "x"); code != ExitAuth {
		t.Fatalf("read-only unban: %d", code)
	}
	if code, _, _ := ctl("show", "sender", "nobody@x.example"); code != ExitNotFound {
		t.Fatalf("show missing: %d", code)
	}
	if code, _, _ := ctl("ban", "sender", "not-an-address", "--reason", "x"); code != ExitInvalid {
		t.Fatalf("invalid ban: %d", code)
	}
	if code, _, _ := ctl("ban", "sender"); code != ExitUsage {
		t.Fatalf("usage: %d", code)
	}
	if code, _, _ := ctl("frobnicate"); code != ExitUsage {
		t.Fatalf("unknown command: %d", code)
	}
	if code, _, _ := ctl("--ro", "extend", "sender", "spam@x.example", "--reason", "x", "--ttl", "48h"); code != ExitAuth {
		t.Fatalf("read-only extend: %d", code)
	}
	if code, _, _ := ctl("extend", "sender", "spam@x.example", "--reason", "x", "--ttl", "10m"); code != ExitInvalid {
		t.Fatalf("extend to an earlier expiry: %d", code)
	}
	if code, out, _ := ctl("--json", "extend", "sender", "spam@x.example", "--reason", "still phishing", "--ttl", "48h"); code != ExitOK ||
		!strings.Contains(out, `"reason": "still phishing"`) || !strings.Contains(out, `"message": "5.7.1 blocked"`) {
		t.Fatalf("extend: %d %s", code, out)
	}
	if code, out, _ := ctl("unban", "sender", "spam@x.example", "--reason", "false positive"); code != ExitOK || !strings.Contains(out, "unbanned sender:spam@x.example") {
		t.Fatalf("unban: %d %s", code, out)
	}
	if code, _, _ := ctl("allow", "sender_domain", "partner.example", "--reason", "contract"); code != ExitOK {
		t.Fatalf("allow: %d", code)
	}
	if code, out, _ := ctl("--ro", "allowlist"); code != ExitOK || !strings.Contains(out, "partner.example") {
		t.Fatalf("allowlist: %d %s", code, out)
	}
	if code, _, _ := ctl("disallow", "sender_domain", "partner.example", "--reason", "ended"); code != ExitOK {
		t.Fatalf("disallow: %d", code)
	}
	if code, _, _ := ctl("disallow", "sender_domain", "partner.example", "--reason", "ended"); code != ExitNotFound {
		t.Fatalf("disallow twice: %d", code)
	}
	var o, e bytes.Buffer
	if code := Run(context.Background(), []string{"--url", "http://127.0.0.1:1", "list"}, func(string) string { return "" }, &o, &e); code != ExitError {
		t.Fatalf("unreachable: %d", code)
	}
}

// TestTableInjection: whatever a ban holds, the table has one line per
// ban, no terminal control characters and no bidi overrides.
func TestTableInjection(t *testing.T) {
	set, ctl := setup(t)
	hostile := []string{`q"uote#x:y@x.example`, "#hash@x.example", "\u202Eevil@x.example", "tab\there@x.example", strings.Repeat("a", 5000) + "@x.example"}
	for _, s := range hostile {
		set.Put(&event.Ban{Verdict: event.Verdict{Rule: "r", SubjectKind: event.KindSender, Subject: s, Action: event.ActionBan, TS: time.Now(),
			Message: "\x1b[31mred\x1b[0m \u202Egnp.exe\u202C\tcol " + strings.Repeat("m", 500)}})
	}
	code, out, errs := ctl("list")
	if code != ExitOK {
		t.Fatalf("list: %d %s", code, errs)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 1+len(hostile) {
		t.Fatalf("%d lines for %d bans:\n%s", len(lines), len(hostile), out)
	}
	for _, l := range lines {
		for _, r := range l {
			if r < ' ' || r == 0x7f || r == '\u202E' || r == '\u202C' {
				t.Fatalf("line holds %U: %q", r, l)
			}
		}
		if len(l) > 600 {
			t.Fatalf("line of %d bytes", len(l))
		}
	}
}
