package mta

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
)

// benchMinAttempts is the detector's rules.invalid_recipients.min_attempts
// during the benchmark: a ban needs this many bounces to unknown users.
const benchMinAttempts = 5

// BenchmarkEndToEndReject measures DESIGN.md's end-to-end target: from a
// line written by a real Postfix to the REJECT answered by the policy
// server for that sender (target p99 <= 1 s).
//
// It runs kfake in-process as the broker, the three services as processes
// (from $MXWARDEN_BIN_DIR, else built here), and a private Postfix whose
// smtpd_recipient_restrictions ask the real enforcer (check_policy_service)
// and which relays to the scripted sink. Each iteration is one sample: a
// fresh sender sends benchMinAttempts messages to recipients the sink
// refuses as unknown users; T0 is when the last of their status=bounced
// lines (the one that crosses the threshold) appears in Postfix's
// maillog_file, watched every millisecond (the lines' own timestamps have
// only second precision); T1 is when the enforcer's policy server, asked
// every millisecond over the policy protocol, first answers REJECT for
// that sender. It reports p50-ms, p99-ms (nearest rank) and samples; run
// it with -benchtime 20x or more (with 20 samples p99 is the maximum).
// It measures and asserts no time; it fails only when the pipeline does
// not work (no REJECT within a minute, Postfix not refusing a banned
// sender).
//
// source.poll of ingest is its default (20ms), or $MXWARDEN_BENCH_INGEST_POLL.
func BenchmarkEndToEndReject(b *testing.B) {
	var missing []string
	if _, err := os.Stat(postfixCmd); err != nil {
		missing = append(missing, "postfix ("+postfixCmd+")")
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (Postfix is started as root)")
	}
	if len(missing) > 0 {
		b.Skipf("end-to-end benchmark needs %s: run scripts/mta/setup.sh (as root)", strings.Join(missing, ", "))
	}
	poll := "20ms" // ingest's default source.poll
	if v := os.Getenv("MXWARDEN_BENCH_INGEST_POLL"); v != "" {
		poll = v
	}
	bins := serviceBinaries(b)

	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(cluster.Close)
	sink, err := StartSink()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { sink.Close() })
	policyPort := freePort(b)
	policyAddr := fmt.Sprintf("127.0.0.1:%d", policyPort)
	pf := startPostfix(b, sink.Port, policyPort)

	dir := workDir(b, "mxwarden-latency-")
	common := []string{
		"--set", "kafka.brokers=" + cluster.ListenAddrs()[0],
		"--set", "kafka.partitions=3",
		"--set", "http.addr=127.0.0.1:0",
	}
	svc := func(args ...string) []string { return append(append([]string{"run"}, common...), args...) }
	enf := startService(b, dir, "enforcer", filepath.Join(bins, "enforcer"), svc(
		"--set", "policy.addr="+policyAddr, "--set", "maps.dir="+filepath.Join(dir, "maps"), "--set", "state.dir="+filepath.Join(dir, "state"))...)
	startService(b, dir, "detector", filepath.Join(bins, "detector"), svc(
		"--set", fmt.Sprintf("group=latency-%d.detector", rand.Uint32()),
		"--set", fmt.Sprintf("rules.invalid_recipients.min_attempts=%d", benchMinAttempts),
		"--set", fmt.Sprintf("rules.invalid_recipients.min_unknown=%d", benchMinAttempts))...)
	startService(b, dir, "ingest", filepath.Join(bins, "ingest"), svc(
		"--set", "source.file="+pf.maillog,
		"--set", "source.checkpoint_file="+filepath.Join(dir, "ingest.checkpoint"),
		"--set", "source.host=mta.test.example",
		"--set", "source.poll="+poll)...)
	// The enforcer binds the policy port once it has caught up with the
	// bans topic.
	waitListening(b, policyAddr, 60*time.Second, func() string { return serviceLogs(dir) })

	ctx, cancel := context.WithCancel(context.Background())
	tail := &bounceTail{seen: map[string]time.Time{}}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); tail.follow(ctx, pf.maillog) }()
	b.Cleanup(func() { cancel(); wg.Wait() })
	pc := &policyClient{addr: policyAddr}
	b.Cleanup(pc.close)

	fail := func(format string, args ...any) {
		b.Helper()
		log, _ := os.ReadFile(pf.maillog)
		b.Fatalf("%s\n--- enforcer stdout ---\n%s\n%s\n--- maillog (end) ---\n%s",
			fmt.Sprintf(format, args...), lastBytes(enf.String(), 2000), serviceLogs(dir), lastBytes(string(log), 4000))
	}
	// sample sends one sender's threshold of bounces and returns the time
	// from the threshold-crossing status=bounced line to the REJECT.
	sample := func(sender, tag string, timeout time.Duration) (time.Duration, string) {
		rcpts := make([]string, benchMinAttempts)
		for j := range rcpts {
			rcpts[j] = fmt.Sprintf("unknown-%s-%d@%s", tag, j, rcptDomain)
		}
		if err := sendMessages(pf.port, sender, rcpts); err != nil {
			fail("sending as %s through Postfix: %v", sender, err)
		}
		deadline := time.Now().Add(timeout)
		var t0 time.Time
		for {
			var ok bool
			if t0, ok = tail.last(rcpts); ok {
				break
			}
			if time.Now().After(deadline) {
				fail("after %v Postfix had not logged status=bounced for all of %v", timeout, rcpts)
			}
			time.Sleep(time.Millisecond)
		}
		var answer string
		for {
			a, err := pc.ask(sender)
			if err == nil && strings.HasPrefix(a, "action=REJECT") {
				return time.Since(t0), a
			}
			if err == nil {
				answer = a
			} else {
				answer = err.Error()
			}
			if time.Now().After(deadline) {
				fail("the policy server never answered REJECT for %s within %v of sending (last answer %q)", sender, timeout, answer)
			}
			time.Sleep(time.Millisecond)
		}
	}

	// Warm up (consumer group joined, connections open) with a sender of
	// its own, then check that Postfix itself refuses a banned sender with
	// the enforcer's text.
	warmup := "warmup@" + senderDomain
	d, answer := sample(warmup, "warmup", 2*time.Minute)
	text := strings.TrimSpace(strings.TrimPrefix(answer, "action=REJECT"))
	code, msg, err := postfixRcpt(pf.port, warmup, "ok-after-ban@"+rcptDomain)
	if err != nil {
		fail("asking Postfix about banned sender %s: %v", warmup, err)
	}
	if code != 554 || !strings.Contains(msg, firstWords(text, 8)) {
		fail("Postfix answered RCPT from banned sender %s with %d %q, want 554 with the enforcer's %q", warmup, code, msg, text)
	}
	b.Logf("warm-up: REJECT %v after the line; Postfix then refused %s: %d %s", d.Round(time.Millisecond), warmup, code, msg)

	var lat []time.Duration
	i := 0
	for b.Loop() {
		// A random pause first, so the samples do not lock onto the phase
		// of ingest's poll (each iteration would otherwise start right
		// after a poll that delivered the previous ban).
		b.StopTimer()
		time.Sleep(rand.N(100 * time.Millisecond))
		b.StartTimer()
		d, _ := sample(fmt.Sprintf("abuser-%d@%s", i, senderDomain), fmt.Sprint(i), time.Minute)
		lat = append(lat, d)
		i++
	}
	b.StopTimer()
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	p50, p99 := percentile(lat, 0.50), percentile(lat, 0.99)
	b.ReportMetric(ms(p50), "p50-ms")
	b.ReportMetric(ms(p99), "p99-ms")
	b.ReportMetric(float64(len(lat)), "samples")
	b.Logf("postfix %s, ingest source.poll=%s, min_attempts=%d: %d samples, min %.1f ms, p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms",
		pf.version, poll, benchMinAttempts, len(lat), ms(lat[0]), ms(p50), ms(percentile(lat, 0.90)), ms(p99), ms(lat[len(lat)-1]))
	if len(lat) < 20 {
		b.Logf("only %d samples: run with -benchtime 20x or more for a p99", len(lat))
	}
}

// percentile is the nearest-rank percentile of sorted durations.
func percentile(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// bounceTail follows Postfix's maillog and remembers, per recipient, when
// its first status=bounced line was seen.
type bounceTail struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// follow reads the file every millisecond until ctx ends, stamping each
// complete line with the time the read that completed it returned.
func (bt *bounceTail) follow(ctx context.Context, path string) {
	var (
		f    *os.File
		rest []byte
		buf  = make([]byte, 64<<10)
	)
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for ctx.Err() == nil {
		if f == nil {
			var err error
			if f, err = os.Open(path); err != nil {
				f = nil
				time.Sleep(time.Millisecond)
				continue
			}
		}
		n, _ := f.Read(buf)
		if n == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		now := time.Now()
		rest = append(rest, buf[:n]...)
		for {
			i := bytes.IndexByte(rest, '\n')
			if i < 0 {
				break
			}
			bt.line(string(rest[:i]), now)
			rest = rest[i+1:]
		}
		rest = append([]byte(nil), rest...)
	}
}

func (bt *bounceTail) line(l string, now time.Time) {
	if !strings.Contains(l, " status=bounced ") {
		return
	}
	_, after, ok := strings.Cut(l, " to=<")
	if !ok {
		return
	}
	rcpt, _, ok := strings.Cut(after, ">")
	if !ok {
		return
	}
	bt.mu.Lock()
	defer bt.mu.Unlock()
	if _, dup := bt.seen[rcpt]; !dup {
		bt.seen[rcpt] = now
	}
}

// last returns when the last of rcpts' bounce lines was seen, once all were.
func (bt *bounceTail) last(rcpts []string) (time.Time, bool) {
	bt.mu.Lock()
	defer bt.mu.Unlock()
	var t time.Time
	for _, r := range rcpts {
		s, ok := bt.seen[r]
		if !ok {
			return time.Time{}, false
		}
		if s.After(t) {
			t = s
		}
	}
	return t, true
}

// policyClient asks a policy server (Postfix policy delegation protocol)
// over one kept connection, reconnecting after an error.
type policyClient struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

func (p *policyClient) ask(sender string) (string, error) {
	if p.c == nil {
		c, err := net.DialTimeout("tcp4", p.addr, 2*time.Second)
		if err != nil {
			return "", err
		}
		p.c, p.r = c, bufio.NewReader(c)
	}
	_ = p.c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=127.0.0.1\n" +
		"sender=" + sender + "\nrecipient=someone@" + rcptDomain + "\n\n"
	_, err := p.c.Write([]byte(req))
	var action, blank string
	if err == nil {
		action, err = p.r.ReadString('\n')
	}
	if err == nil {
		blank, err = p.r.ReadString('\n')
	}
	if err == nil && strings.TrimSpace(blank) != "" {
		err = fmt.Errorf("answer %q not followed by an empty line but %q", action, blank)
	}
	if err != nil {
		p.close()
		return "", err
	}
	return strings.TrimSpace(action), nil
}

func (p *policyClient) close() {
	if p.c != nil {
		p.c.Close()
		p.c, p.r = nil, nil
	}
}

// smtpClient opens an SMTP session with the Postfix instance on port.
func smtpClient(port int) (*smtp.Client, error) {
	conn, err := net.DialTimeout("tcp4", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second)
	if err != nil {
		return nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(time.Minute))
	c, err := smtp.NewClient(conn, "127.0.0.1")
	if err != nil {
		conn.Close()
		return nil, err
	}
	if err := c.Hello("client." + senderDomain); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// sendMessages sends one message per recipient from sender, in one SMTP
// session.
func sendMessages(port int, sender string, rcpts []string) error {
	c, err := smtpClient(port)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, rc := range rcpts {
		if err := c.Mail(sender); err != nil {
			return fmt.Errorf("MAIL FROM:<%s>: %w", sender, err)
		}
		if err := c.Rcpt(rc); err != nil {
			return fmt.Errorf("RCPT TO:<%s>: %w", rc, err)
		}
		w, err := c.Data()
		if err != nil {
			return fmt.Errorf("DATA: %w", err)
		}
		fmt.Fprintf(w, "From: <%s>\r\nTo: <%s>\r\nSubject: mxwarden latency benchmark\r\n\r\nTest message.\r\n", sender, rc)
		if err := w.Close(); err != nil {
			return fmt.Errorf("end of DATA: %w", err)
		}
	}
	return c.Quit()
}

// postfixRcpt returns Postfix's reply to RCPT TO:<rcpt> from sender.
func postfixRcpt(port int, sender, rcpt string) (int, string, error) {
	c, err := smtpClient(port)
	if err != nil {
		return 0, "", err
	}
	defer c.Close()
	if err := c.Mail(sender); err != nil {
		return 0, "", fmt.Errorf("MAIL FROM:<%s>: %w", sender, err)
	}
	err = c.Rcpt(rcpt)
	var te *textproto.Error
	switch {
	case err == nil:
		return 250, "accepted", nil
	case errors.As(err, &te):
		return te.Code, te.Msg, nil
	}
	return 0, "", err
}

// firstWords returns s's first n words.
func firstWords(s string, n int) string {
	f := strings.Fields(s)
	return strings.Join(f[:min(n, len(f))], " ")
}

// lockedBuffer is an io.Writer safe for a process's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startService runs one mxwarden service until the benchmark's cleanup
// (SIGINT, then SIGKILL after 10 s); stdout is returned, stderr goes to
// dir/<name>.log.
func startService(tb testing.TB, dir, name, path string, args ...string) *lockedBuffer {
	tb.Helper()
	out := &lockedBuffer{}
	lf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); lf.Close(); close(done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return out
}

// serviceLogs returns the end of each service's log in dir.
func serviceLogs(dir string) string {
	var s strings.Builder
	for _, name := range []string{"ingest", "detector", "enforcer"} {
		b, _ := os.ReadFile(filepath.Join(dir, name+".log"))
		fmt.Fprintf(&s, "--- %s log (end) ---\n%s\n", name, lastBytes(string(b), 3000))
	}
	return s.String()
}

func lastBytes(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// serviceBinaries returns the directory holding ingest, detector and enforcer.
func serviceBinaries(tb testing.TB) string { return testbin.Dir(tb) }
