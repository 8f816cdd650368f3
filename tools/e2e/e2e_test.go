// Package e2e runs the three mxwarden services as real processes against a
// Kafka broker: Postfix log lines in, a ban answered by the policy server
// and written to the access map out. It runs against franz-go's kfake
// (in-process) and, when MXWARDEN_TEST_KAFKA_BROKERS names one, a real
// Apache Kafka broker (`make test` starts one; with CI=true it must).
package e2e

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
)

const abuser = "newsletter@cheap-leads.example"

func TestE2EKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	runPipeline(t, c.ListenAddrs()[0])
}

func TestE2ERealKafka(t *testing.T) {
	brokers := os.Getenv("MXWARDEN_TEST_KAFKA_BROKERS")
	if brokers == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but MXWARDEN_TEST_KAFKA_BROKERS is empty: run the tests through `make test`, which starts a real Apache Kafka broker")
		}
		t.Skip("no real Kafka broker: run `make test` (needs java >= 17 and mvn) or set MXWARDEN_TEST_KAFKA_BROKERS")
	}
	t.Logf("real Apache Kafka broker at %s", brokers)
	runPipeline(t, brokers)
}

func runPipeline(t *testing.T, brokers string) {
	bin := binaries(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "maillog")
	mapsDir := filepath.Join(dir, "maps")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	policyAddr := freeAddr(t)
	run := fmt.Sprintf("e2e%d", rand.Uint32())
	common := []string{
		"--set", "kafka.brokers=" + brokers,
		"--set", "kafka.topics.events=" + run + ".events",
		"--set", "kafka.topics.verdicts=" + run + ".verdicts",
		"--set", "kafka.topics.bans=" + run + ".bans",
		"--set", "kafka.topics.dead_letter=" + run + ".deadletter",
		"--set", "kafka.partitions=3",
		"--set", "http.addr=127.0.0.1:0",
		"--set", "log.level=debug",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	enf := start(ctx, t, &wg, dir, "enforcer", filepath.Join(bin, "enforcer"), append([]string{"run"}, append(common,
		"--set", "policy.addr="+policyAddr, "--set", "maps.dir="+mapsDir, "--set", "state.dir="+filepath.Join(dir, "state"))...)...)
	start(ctx, t, &wg, dir, "detector", filepath.Join(bin, "detector"), append([]string{"run"}, append(common,
		"--set", "group="+run+".detector")...)...)
	start(ctx, t, &wg, dir, "ingest", filepath.Join(bin, "ingest"), append([]string{"run"}, append(common,
		"--set", "source.file="+logFile, "--set", "source.checkpoint_file="+filepath.Join(dir, "ingest.checkpoint"),
		"--set", "source.host=mx1", "--set", "source.poll=20ms")...)...)

	// The enforcer binds the policy port once it has caught up with the bans
	// topic; bans it reads during that catch-up are not printed. Wait for
	// it, so the ban below arrives live and is printed.
	ready := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", policyAddr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if time.Now().After(ready) {
			t.Fatalf("enforcer policy server never came up: %v; enforcer output:\n%s", err, enf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Write the log the way Postfix does, line by line.
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := time.Now().UTC().Add(-10 * time.Minute)
	for i := 0; i < 40; i++ {
		ts := base.Add(time.Duration(i) * time.Second)
		var lines []string
		if i%4 == 0 {
			lines = message(ts, i, "alice@law-office.example", "lawoffice", "friend@gmail.com", false)
		} else {
			lines = message(ts, i, abuser, "cheapleads", fmt.Sprintf("lead%03d@example.org", i), true)
		}
		if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
			t.Fatal(err)
		}
	}

	// The ban must reach the policy server and the map.
	deadline := time.Now().Add(90 * time.Second)
	var answer string
	for time.Now().Before(deadline) {
		answer, err = askPolicy(policyAddr, abuser)
		if err == nil && strings.HasPrefix(answer, "action=REJECT") {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.HasPrefix(answer, "action=REJECT") {
		t.Fatalf("policy server never rejected %s; last answer %q, err %v; enforcer output:\n%s", abuser, answer, err, enf.String())
	}
	if !strings.Contains(answer, "invalid recipients") {
		t.Errorf("REJECT answer does not explain the rule: %q", answer)
	}
	t.Logf("policy server answer for %s: %s", abuser, answer)
	if got, err := askPolicy(policyAddr, "alice@law-office.example"); err != nil || got != "action=DUNNO" {
		t.Errorf("innocent sender: answer %q, err %v; want action=DUNNO", got, err)
	}
	var mapText []byte
	for time.Now().Before(deadline) {
		mapText, _ = os.ReadFile(filepath.Join(mapsDir, "sender_access"))
		if strings.Contains(string(mapText), abuser) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(string(mapText), abuser+" REJECT ") {
		t.Fatalf("sender_access map lacks %s:\n%s", abuser, mapText)
	}
	if strings.Contains(string(mapText), "alice@") {
		t.Errorf("innocent sender in map:\n%s", mapText)
	}
	if !strings.Contains(enf.String(), "BAN sender "+abuser) {
		t.Errorf("enforcer did not print the ban; stdout:\n%s", enf.String())
	}
}

// message returns the Postfix log lines of one message with one recipient.
func message(ts time.Time, i int, from, sasl, to string, unknown bool) []string {
	stamp := ts.Format(time.RFC3339Nano)
	qid := fmt.Sprintf("4Z%08X", i+1)
	p := func(prog string) string { return fmt.Sprintf("%s mx1 postfix/%s[%d]: %s: ", stamp, prog, 100+i, qid) }
	delivery := fmt.Sprintf("to=<%s>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 OK  1764177000 abc.5 - gsmtp)", to)
	if unknown {
		delivery = fmt.Sprintf("to=<%s>, relay=mx.example.org[198.51.100.7]:25, delay=0.41, delays=0.02/0/0.2/0.19, dsn=5.1.1, status=bounced (host mx.example.org[198.51.100.7] said: 550 5.1.1 <%s>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))", to, to)
	}
	return []string{
		p("submission/smtpd") + "client=web.example[192.0.2.10], sasl_method=PLAIN, sasl_username=" + sasl,
		p("cleanup") + fmt.Sprintf("message-id=<%d@example>", i),
		p("qmgr") + fmt.Sprintf("from=<%s>, size=1234, nrcpt=1 (queue active)", from),
		p("smtp") + delivery,
		p("qmgr") + "removed",
	}
}

func askPolicy(addr, sender string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=192.0.2.10\n" +
		"sender=" + sender + "\nrecipient=someone@example.org\n\n"
	if _, err := c.Write([]byte(req)); err != nil {
		return "", err
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

type syncBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// start runs a service until ctx ends; its stderr goes to dir/<name>.log,
// and is shown when the test fails.
func start(ctx context.Context, t testing.TB, wg *sync.WaitGroup, dir, name, path string, args ...string) *syncBuf {
	t.Helper()
	out := &syncBuf{}
	logPath := filepath.Join(dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, lf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	wg.Add(1)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	go func() {
		defer wg.Done()
		defer lf.Close()
		select {
		case <-ctx.Done():
			_ = cmd.Process.Signal(os.Interrupt)
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = cmd.Process.Kill()
				<-done
			}
		case err := <-done:
			if ctx.Err() == nil {
				t.Errorf("%s exited early: %v", name, err)
			}
		}
	}()
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(logPath)
			t.Logf("%s log:\n%s", name, tail(string(b), 4000))
		}
	})
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// binaries returns the directory holding ingest, detector and enforcer.
func binaries(t testing.TB) string { return testbin.Dir(t) }
