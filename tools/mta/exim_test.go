package mta

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// eximBinary is Debian's exim4-daemon-light unpacked (not installed: it
// conflicts with postfix) by scripts/mta/setup.sh.
func eximBinary() string {
	if d := os.Getenv("MXWARDEN_EXIM_DIR"); d != "" {
		return filepath.Join(d, "usr", "sbin", "exim4")
	}
	return filepath.Join(repoRoot(), ".cache", "exim", "usr", "sbin", "exim4")
}

// TestExim runs Debian's Exim 4.96 as a private daemon on 127.0.0.1 (own
// configuration file, spool and log directories), routing everything to
// the scripted sink, sends the test traffic with swaks, and checks
// `ingest parse --format exim` on Exim's mainlog.
func TestExim(t *testing.T) {
	t.Parallel()
	bin := requireExim(t, true)
	sink, err := StartSink()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	ex := startExim(t, bin, sink.Port)
	t.Logf("%s on 127.0.0.1:%d, sink on %s, log %s", ex.version, ex.port, sink.Addr, ex.mainlog)

	msgs := messages()
	start := time.Now()
	send(t, ex.port, msgs)
	sent := time.Now()

	want := expected()
	waitLog(t, ex.mainlog, 60*time.Second, func(log string) []string { return eximPending(log, want, msgs) })
	logged := time.Now()
	ex.stop(t)
	stopped := time.Now()
	// The MTA side: each outcome is in the log exactly once (no retry).
	onceInLog(t, ex.mainlog, want, eximLine)

	evs := parseLog(t, "exim", ex.mainlog)
	t.Logf("swaks %v, outcomes logged %v later, exim stop %v, ingest parse %v",
		sent.Sub(start).Round(time.Millisecond), logged.Sub(sent).Round(time.Millisecond),
		stopped.Sub(logged).Round(time.Millisecond), time.Since(stopped).Round(time.Millisecond))
	checkEvents(t, "exim", evs, want, sink)
	if t.Failed() {
		b, _ := os.ReadFile(ex.mainlog)
		t.Logf("--- %s ---\n%s", ex.mainlog, b)
	}
}

// eximLine matches the mainlog line of one expected outcome: "=>" (or
// "->" for a further recipient of the same SMTP delivery) sent, "=="
// deferred, "**" bounced, "rejected RCPT" refused.
func eximLine(k key, w outcome) *regexp.Regexp {
	rc := regexp.QuoteMeta(k.rcpt)
	switch w.status {
	case "sent":
		return regexp.MustCompile(` [-=]> ` + rc + ` `)
	case "deferred":
		return regexp.MustCompile(` == ` + rc + ` `)
	case "bounced":
		return regexp.MustCompile(` \*\* ` + rc + ` `)
	}
	return regexp.MustCompile(` F=<` + regexp.QuoteMeta(k.sender) + `> rejected RCPT <` + rc + `>`)
}

// eximPending lists the expected outcomes not yet in the mainlog and,
// once those are all there, the "Completed" lines still missing, so the
// log is quiet when the daemon is stopped.
func eximPending(log string, want map[key]outcome, msgs []message) []string {
	var pending []string
	for k, w := range want {
		if !eximLine(k, w).MatchString(log) {
			pending = append(pending, fmt.Sprintf("%s -> %s: %s", k.sender, k.rcpt, w.status))
		}
	}
	if len(pending) > 0 {
		return pending
	}
	if got, n := strings.Count(log, " Completed\n"), completedMessages(want, msgs); got < n {
		pending = append(pending, fmt.Sprintf("%d Completed lines, have %d", n, got))
	}
	return pending
}

// completedMessages counts the messages the MTA finishes with: every
// queued message without a deferred recipient, and every bounce notice.
func completedMessages(want map[key]outcome, msgs []message) int {
	n := 0
	for _, m := range msgs {
		queued, deferred := false, false
		for _, rc := range m.to {
			switch want[key{m.from, rc}].status {
			case "rejected":
			case "deferred":
				queued, deferred = true, true
			default:
				queued = true
			}
		}
		if queued && !deferred {
			n++
		}
		if _, ok := want[key{"", m.from}]; ok {
			n++
		}
	}
	return n
}

type exim struct {
	dir, conf, mainlog, version string
	port                        int
	cmd                         *exec.Cmd
	done                        chan error
	stderr                      bytes.Buffer
}

// startExim writes a configuration and starts `exim -bdf` (a foreground
// daemon without queue runner: a deferred recipient is attempted, and
// logged, exactly once during the test).
// requireExim returns the Exim binary, or skips (fails with CI=true)
// when Exim, its user, root or (withSwaks) swaks is missing.
func requireExim(t *testing.T, withSwaks bool) string {
	t.Helper()
	var missing []string
	bin := eximBinary()
	if _, err := os.Stat(bin); err != nil {
		missing = append(missing, "exim ("+bin+")")
	}
	if _, err := user.Lookup("Debian-exim"); err != nil {
		missing = append(missing, "the Debian-exim user")
	}
	if withSwaks {
		missing = haveSwaks(missing)
	}
	requireTools(t, "Exim", missing)
	return bin
}

// eximWorkDir makes a private directory with the spool and log
// directories Exim's user writes.
func eximWorkDir(t *testing.T, prefix string) string {
	t.Helper()
	dir := workDir(t, prefix)
	uid := userID(t, "Debian-exim")
	for _, d := range []string{"spool", "log"} {
		p := filepath.Join(dir, d)
		if err := os.Mkdir(p, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, -1); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func startExim(t *testing.T, bin string, sinkPort int) *exim {
	t.Helper()
	dir := eximWorkDir(t, "mxwarden-exim-")
	e := &exim{dir: dir, conf: filepath.Join(dir, "exim.conf"), mainlog: filepath.Join(dir, "log", "mainlog"), port: freePort(t)}
	conf := fmt.Sprintf(`# generated by tools/mta/exim_test.go
primary_hostname = mta.test.example
qualify_domain = %[5]s
exim_path = %[1]s
spool_directory = %[2]s/spool
log_file_path = %[2]s/log/%%slog
pid_file_path = %[2]s/exim.pid
daemon_smtp_ports = %[3]d
local_interfaces = 127.0.0.1
keep_environment =
host_lookup =
rfc1413_hosts =
rfc1413_query_timeout = 0s
tls_advertise_hosts =
acl_smtp_rcpt = acl_check_rcpt
# Deliver as the Exim user without re-executing Exim to regain root
# (which, with a -C configuration, only logs "exim user lost privilege").
deliver_drop_privilege = true

begin acl

acl_check_rcpt:
  # A banned sender (what mxwarden's Exim lookup file does).
  deny    senders     = ^banned
          message     = 554 %[6]s
  # A recipient Exim itself refuses.
  deny    local_parts = ^rejectme
          message     = 550 5.1.1 <$local_part@$domain>: Recipient address rejected: User unknown
  accept  hosts       = 127.0.0.0/8
  deny    message     = 5.7.1 relay not permitted

begin routers

sink:
  driver     = manualroute
  route_list = * 127.0.0.1
  transport  = sink_smtp
  self       = send
  no_more

begin transports

sink_smtp:
  driver             = smtp
  port               = %[4]d
  allow_localhost
  hosts_avoid_tls    = *
  hosts_try_chunking =
  hosts_try_prdr     =
  hosts_try_fastopen =

begin retry

*  *  F,1h,1h

begin authenticators

# SMTP AUTH for TestEximAuthFailures: only good/secret logs in.
plain_server:
  driver          = plaintext
  public_name     = PLAIN
  server_prompts  = :
  server_condition = ${if and {{eq{$auth2}{good}}{eq{$auth3}{secret}}}}
  server_set_id   = $auth2
`, bin, dir, e.port, sinkPort, senderDomain, bannedText)
	if err := os.WriteFile(e.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-C", e.conf, "-bV").CombinedOutput()
	if err != nil {
		t.Fatalf("%s -C %s -bV: %v\n%s", bin, e.conf, err, out)
	}
	e.version = strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if m := regexp.MustCompile(`Exim version \S+`).FindString(string(out)); m != "" {
		e.version = m
	}

	e.cmd = exec.Command(bin, "-C", e.conf, "-bdf")
	e.cmd.Stdout, e.cmd.Stderr = &e.stderr, &e.stderr
	// Its own process group, so stopping it reaches no one else.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := e.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	e.done = make(chan error, 1)
	go func() { e.done <- e.cmd.Wait() }()
	t.Cleanup(func() {
		select {
		case <-e.done:
		default:
			syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
			<-e.done
		}
	})
	waitListening(t, fmt.Sprintf("127.0.0.1:%d", e.port), 20*time.Second, func() string {
		b, _ := os.ReadFile(e.mainlog)
		p, _ := os.ReadFile(filepath.Join(dir, "log", "paniclog"))
		return fmt.Sprintf("--- exim output ---\n%s\n--- mainlog ---\n%s\n--- paniclog ---\n%s", e.stderr.String(), b, p)
	})
	return e
}

// stop ends the daemon (SIGTERM to its process group) and waits for it.
func (e *exim) stop(t *testing.T) {
	t.Helper()
	syscall.Kill(-e.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-e.done:
		e.done <- nil // for the cleanup
	case <-time.After(20 * time.Second):
		t.Fatalf("exim daemon still running 20s after SIGTERM")
	}
	if p, err := os.ReadFile(filepath.Join(e.dir, "log", "paniclog")); err == nil && len(p) > 0 {
		t.Errorf("exim paniclog:\n%s", p)
	}
}
