package mta

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
)

// The test traffic: one message per case, a sender refused by the policy
// service for all its recipients, and one message whose recipients get
// every kind of answer. Recipient local parts pick the sink's reply (see
// Rules); "rejectme" is refused by the MTA itself at RCPT time (Postfix
// check_recipient_access, an Exim ACL) and "banned" senders by a policy
// service (Postfix check_policy_service, an Exim ACL).
type message struct {
	name string
	from string
	to   []string
}

const (
	rcptDomain   = "dest.test"
	senderDomain = "sender.test"
)

func messages() []message {
	one := func(name string) message {
		return message{name: name, from: "ok-" + name + "-sender@" + senderDomain, to: []string{name + "-1@" + rcptDomain}}
	}
	ms := []message{
		one("ok"), one("unknown"), one("full"), one("greylist"), one("ratelimit"),
		one("blocked"), one("spam"), one("spf"), one("rejectme"),
		{name: "banned", from: "banned-sender@" + senderDomain, to: []string{"ok-b1@" + rcptDomain, "ok-b2@" + rcptDomain}},
		{name: "multi", from: "ok-multi-sender@" + senderDomain, to: []string{
			"ok-m1@" + rcptDomain, "ok-m2@" + rcptDomain, "unknown-m3@" + rcptDomain, "full-m4@" + rcptDomain,
			"greylist-m5@" + rcptDomain, "ratelimit-m6@" + rcptDomain, "blocked-m7@" + rcptDomain, "rejectme-m8@" + rcptDomain,
		}},
	}
	return ms
}

// The MTA's own refusals (same wording for Postfix and Exim).
const (
	rejectUserUnknown = "550 5.1.1 User unknown"        // Postfix renders "550 5.1.1 <rcpt>: Recipient address rejected: User unknown"
	bannedText        = "5.7.1 Sender banned for abuse" // mxwarden's enforcer answer
)

// outcome is what one recipient attempt must become.
type outcome struct {
	status string
	reason string
	code   int    // 0: not checked
	dsn    string // "": not checked
	text   string // "": not checked
}

// want is the expected event for (sender, recipient). Both MTAs log the
// reply code of their own refusals (Exim because the ACL message starts
// with it).
func want(from, rcpt string) outcome {
	if strings.HasPrefix(from, "banned") {
		return outcome{status: "rejected", reason: "policy", code: 554, dsn: "5.7.1"}
	}
	if strings.HasPrefix(rcpt, "rejectme") {
		return outcome{status: "rejected", reason: "user_unknown", code: 550, dsn: "5.1.1"}
	}
	r, ok := RuleFor(rcpt)
	if !ok {
		return outcome{status: "sent", reason: "", code: 250, dsn: "2.0.0"}
	}
	o := outcome{code: r.Code, dsn: strings.Fields(r.Lines[0])[0], reason: sinkReasons[r.Prefix], text: r.Text()}
	if r.Code >= 500 {
		o.status = "bounced"
	} else {
		o.status = "deferred"
	}
	return o
}

// sinkReasons is the reply taxonomy's class for each scripted answer.
// Greylisting is "policy": the classifier files greylisting with the
// other receiver policies (PTR/HELO checks, TLS required), not with
// volume-based rate limits.
var sinkReasons = map[string]string{
	"unknown":   "user_unknown",
	"full":      "mailbox_full",
	"greylist":  "policy",
	"ratelimit": "rate_limited",
	"blocked":   "blocklisted",
	"spam":      "spam_content",
	"spf":       "auth_failure",
}

type key struct{ sender, rcpt string }

// expected lists every recipient attempt the traffic must produce,
// including the non-delivery notifications (null sender) the MTA sends
// back to the sender of each message with a bounced recipient; they go
// to the sink too and are accepted there.
func expected() map[key]outcome {
	m := map[key]outcome{}
	for _, msg := range messages() {
		bounced := false
		for _, rc := range msg.to {
			o := want(msg.from, rc)
			m[key{msg.from, rc}] = o
			bounced = bounced || o.status == "bounced"
		}
		if bounced {
			m[key{"", msg.from}] = outcome{status: "sent", code: 250, dsn: "2.0.0"}
		}
	}
	return m
}

// event is the part of ingest's event JSON the tests check (the tools
// module does not import pkg/event: it is built with GOWORK=off).
type event struct {
	ID        string `json:"id"`
	MTA       string `json:"mta"`
	QueueID   string `json:"queue_id"`
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"`
	Status    string `json:"status"`
	DSN       string `json:"dsn"`
	ReplyCode int    `json:"reply_code"`
	ReplyText string `json:"reply_text"`
	Reason    string `json:"reason"`
	Relay     string `json:"relay"`
	ClientIP  string `json:"client_ip"`
	Subject   string `json:"subject"`
	SASLUser  string `json:"sasl_user"`
}

// requireTools skips (outside CI) or fails (CI=true) when something the
// test needs is missing, in one line.
func requireTools(t *testing.T, what string, missing []string) {
	t.Helper()
	if os.Geteuid() != 0 {
		missing = append(missing, "root (the MTAs are started as root)")
	}
	if len(missing) == 0 {
		return
	}
	msg := fmt.Sprintf("%s test needs %s: run scripts/mta/setup.sh (as root)", what, strings.Join(missing, ", "))
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true: " + msg)
	}
	t.Skip(msg)
}

func haveSwaks(missing []string) []string {
	if _, err := exec.LookPath("swaks"); err != nil {
		return append(missing, "swaks")
	}
	return missing
}

// repoRoot is the checkout's top directory.
func repoRoot() string { return testbin.RepoRoot() }

// workDir makes a temporary directory every user can traverse (the MTAs'
// unprivileged processes must reach their queue and log files below it)
// and removes it at the end.
func workDir(t testing.TB, prefix string) string {
	t.Helper()
	d, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(d, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("MXWARDEN_MTA_KEEP") != "" {
			t.Logf("kept %s", d)
			return
		}
		os.RemoveAll(d)
	})
	return d
}

// freePort returns a 127.0.0.1 TCP port that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitListening polls until something accepts connections on addr.
func waitListening(t testing.TB, addr string, timeout time.Duration, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp4", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("nothing listens on %s after %v: %v\n%s", addr, timeout, err, logs())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// send submits every message with swaks to the MTA at 127.0.0.1:port,
// concurrently (several SMTP sessions at once, as real clients do).
// Sessions whose every recipient is refused end with swaks' error exit;
// any other failure fails the test.
func send(t *testing.T, port int, msgs []message) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, len(msgs))
	for _, m := range msgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "swaks",
				"--server", "127.0.0.1", "--port", fmt.Sprint(port),
				"--helo", "client.sender.test",
				"--from", m.from, "--to", strings.Join(m.to, ","),
				"--header", "Subject: mxwarden mta test "+m.name,
				"--body", "Test message for case "+m.name+".\n",
				"--timeout", "30")
			out, err := cmd.CombinedOutput()
			allRefused := true
			for _, rc := range m.to {
				if !strings.HasPrefix(rc, "rejectme") && !strings.HasPrefix(m.from, "banned") {
					allRefused = false
				}
			}
			if err != nil && !allRefused {
				errs <- fmt.Errorf("swaks %s: %w\n%s", m.name, err, out)
			}
			if err == nil && allRefused {
				errs <- fmt.Errorf("swaks %s: every recipient should have been refused\n%s", m.name, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}

// waitLog polls the log file until pending reports nothing, or fails
// the test after timeout showing what is still missing and the log.
func waitLog(t *testing.T, path string, timeout time.Duration, pending func(log string) []string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		b, _ := os.ReadFile(path)
		p := pending(string(b))
		if len(p) == 0 {
			return string(b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v the log %s still lacks:\n  %s\n--- log ---\n%s", timeout, path, strings.Join(p, "\n  "), b)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// onceInLog fails the test unless every expected outcome's line occurs
// exactly once in the MTA's log, so a duplicate event is ingest's doing.
func onceInLog(t *testing.T, path string, want map[key]outcome, line func(key, outcome) *regexp.Regexp) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for k, w := range want {
		if n := len(line(k, w).FindAllIndex(b, -1)); n != 1 {
			t.Errorf("%s: %d log lines for %s -> %s (%s), want 1", path, n, k.sender, k.rcpt, w.status)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
}

// ingestBinary returns the path of the ingest binary: $MXWARDEN_BIN_DIR's
// (set by `make test`), else one built once from this checkout.
func ingestBinary(t *testing.T) string {
	t.Helper()
	return filepath.Join(testbin.Dir(t), "ingest")
}

// parseLog runs `ingest parse --format FORMAT FILE` and decodes its events.
func parseLog(t *testing.T, format, file string) []event {
	t.Helper()
	bin := ingestBinary(t)
	cmd := exec.Command(bin, "parse", "--format", format, "--host", "mta.test.example", file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s parse --format %s %s: %v\nstderr:\n%s", bin, format, file, err, stderr.String())
	}
	t.Logf("ingest parse: %s", strings.TrimSpace(stderr.String()))
	// A real MTA's own log holds no line of a shape ingest does not know.
	if strings.Contains(stderr.String(), ": unrecognised: ") {
		t.Errorf("ingest parse found unrecognised lines in %s's log:\n%s", format, stderr.String())
	}
	var evs []event
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("ingest parse wrote a line that is not an event: %v\n%s", err, sc.Bytes())
		}
		evs = append(evs, e)
	}
	return evs
}

// checkEvents asserts that every expected recipient attempt appears as
// exactly one event with the right status, reason, reply code and DSN,
// that nothing else appears, and that every "sent" recipient was really
// received by the sink. It logs the table it checked.
func checkEvents(t *testing.T, mta string, evs []event, want map[key]outcome, sink *Sink) {
	t.Helper()
	got := map[key][]event{}
	for _, e := range evs {
		k := key{e.Sender, e.Recipient}
		got[k] = append(got[k], e)
		if e.MTA != mta {
			t.Errorf("event %s for %v: mta %q, want %q", e.ID, k, e.MTA, mta)
		}
	}
	keys := make([]key, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].sender != keys[j].sender {
			return keys[i].sender < keys[j].sender
		}
		return keys[i].rcpt < keys[j].rcpt
	})
	var table strings.Builder
	fmt.Fprintf(&table, "%-31s %-31s %-9s %-13s %-4s %-6s  %s\n", "sender", "recipient", "status", "reason", "code", "dsn", "got")
	for _, k := range keys {
		w := want[k]
		sender := k.sender
		if sender == "" {
			sender = "<> (bounce notice)"
		}
		res := "ok"
		es := got[k]
		switch {
		case len(es) == 0:
			res = "MISSING"
			t.Errorf("%s: no event for sender %q recipient %q (want %s/%s)", mta, k.sender, k.rcpt, w.status, w.reason)
		case len(es) > 1:
			res = fmt.Sprintf("%d EVENTS", len(es))
			t.Errorf("%s: %d events for sender %q recipient %q, want exactly one:\n%s", mta, len(es), k.sender, k.rcpt, dump(es))
		default:
			e := es[0]
			var bad []string
			if e.Status != w.status {
				bad = append(bad, fmt.Sprintf("status %q, want %q", e.Status, w.status))
			}
			if e.Reason != w.reason {
				bad = append(bad, fmt.Sprintf("reason %q, want %q", e.Reason, w.reason))
			}
			if w.code != 0 && e.ReplyCode != w.code {
				bad = append(bad, fmt.Sprintf("reply_code %d, want %d", e.ReplyCode, w.code))
			}
			if w.dsn != "" && e.DSN != w.dsn {
				bad = append(bad, fmt.Sprintf("dsn %q, want %q", e.DSN, w.dsn))
			}
			// A multi-line reply is one text: no continuation codes,
			// no line breaks (Postfix joins the lines with spaces,
			// Exim with a literal "\n").
			if w.text != "" && e.ReplyText != w.text {
				bad = append(bad, fmt.Sprintf("reply_text %q, want %q", e.ReplyText, w.text))
			}
			if len(bad) > 0 {
				res = "WRONG"
				t.Errorf("%s: sender %q recipient %q: %s\n%s", mta, k.sender, k.rcpt, strings.Join(bad, "; "), dump(es))
			}
		}
		code := "-"
		if w.code != 0 {
			code = fmt.Sprint(w.code)
		}
		fmt.Fprintf(&table, "%-31s %-31s %-9s %-13s %-4s %-6s  %s\n", sender, k.rcpt, w.status, w.reason, code, w.dsn, res)
	}
	for k, es := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected event(s) for sender %q recipient %q:\n%s", mta, k.sender, k.rcpt, dump(es))
		}
	}
	t.Logf("%s: %d events checked against:\n%s", mta, len(evs), table.String())

	// The sink's side: every recipient the log calls sent was received.
	received := map[key]bool{}
	for _, d := range sink.Accepted() {
		for _, rc := range d.Recipients {
			received[key{d.From, rc}] = true
		}
	}
	for k, w := range want {
		if w.status == "sent" && !received[k] {
			t.Errorf("%s: sender %q recipient %q is expected as sent but the sink never received it", mta, k.sender, k.rcpt)
		}
	}
}

func dump(es []event) string {
	var b strings.Builder
	for _, e := range es {
		j, _ := json.Marshal(e)
		b.WriteString("  ")
		b.Write(j)
		b.WriteString("\n")
	}
	return b.String()
}

// policyServer is a Postfix SMTP access policy delegation server
// (policy(8) protocol) on 127.0.0.1 that answers REJECT for banned
// senders, as mxwarden's enforcer does, and DUNNO otherwise.
func policyServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				attrs := map[string]string{}
				for {
					c.SetDeadline(time.Now().Add(2 * time.Minute))
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimRight(line, "\r\n")
					if line != "" {
						k, v, _ := strings.Cut(line, "=")
						attrs[k] = v
						continue
					}
					action := "DUNNO"
					if strings.HasPrefix(attrs["sender"], "banned") {
						action = "REJECT " + bannedText
					}
					if _, err := fmt.Fprintf(c, "action=%s\n\n", action); err != nil {
						return
					}
					attrs = map[string]string{}
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// userID looks up a system user's uid.
func userID(t testing.TB, name string) int {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("user %s: %v (run scripts/mta/setup.sh)", name, err)
	}
	id, err := strconv.Atoi(u.Uid)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func postfixUID(t testing.TB) int { return userID(t, "postfix") }

// processAlive reports whether a process (not our child) still exists.
func processAlive(pid int) bool {
	return syscall.Kill(pid, 0) == nil
}
