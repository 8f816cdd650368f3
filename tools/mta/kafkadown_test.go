package mta

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// privateBroker starts a real Apache Kafka broker of its own with
// scripts/kafka/broker.sh on a free port (and the next, for its
// controller) and returns its address and pid; it is stopped at cleanup.
func privateBroker(t *testing.T) (string, int) {
	t.Helper()
	realBroker(t) // the same requirement as the shared broker: skip or fail alike
	script := filepath.Join(repoRoot(), "scripts", "kafka", "broker.sh")
	// The ports are free when picked, but tests running alongside pick
	// ports too: retry with new ones when the broker cannot bind.
	var port int
	var out []byte
	for attempt := 1; ; attempt++ {
		port = 0
		for range 20 {
			p := freePort(t)
			if ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", p+1)); err == nil {
				ln.Close()
				port = p
				break
			}
		}
		if port == 0 {
			t.Fatal("no two free adjacent ports")
		}
		var err error
		out, err = exec.Command(script, "start", strconv.Itoa(port)).Output()
		if err == nil {
			break
		}
		_ = exec.Command(script, "stop", strconv.Itoa(port)).Run() // removes the failed run's directory
		if attempt == 3 {
			t.Fatalf("%s start: %v (3 attempts)", script, err)
		}
		t.Logf("broker on port %d did not start (%v), retrying on other ports", port, err)
	}
	addr := strings.TrimSpace(string(out))
	cache := os.Getenv("MXWARDEN_CACHE")
	if cache == "" {
		cache = filepath.Join(repoRoot(), ".cache")
	}
	b, err := os.ReadFile(filepath.Join(cache, "kafka-run", strconv.Itoa(port), "broker.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	t.Cleanup(func() {
		_ = syscall.Kill(pid, syscall.SIGCONT)
		if out, err := exec.Command(script, "stop", strconv.Itoa(port)).CombinedOutput(); err != nil {
			t.Errorf("stop broker: %v\n%s", err, out)
		}
	})
	return addr, pid
}

// TestEnforcerKafkaDown: with the broker unreachable, a restarted
// enforcer answers the last known bans at once and within its deadline;
// when the broker is back, the bans made meanwhile arrive and nothing is
// lost. "Unreachable" is the broker process frozen with SIGSTOP (its
// connections accept nothing, its data stays): broker.sh stop would wipe
// its data directory.
func TestEnforcerKafkaDown(t *testing.T) {
	t.Parallel()
	addr, pid := privateBroker(t)
	e := newEnforcer(t, addr)
	e.restart("--set", "policy.deadline=100ms")
	e.waitReady(60 * time.Second)
	pc := &policyClient{addr: e.policyAddr}
	defer pc.close()
	waitAnswer := func(sender, prefix string, timeout time.Duration) {
		t.Helper()
		deadline := time.Now().Add(timeout)
		for {
			a, err := pc.ask(sender)
			if err == nil && strings.HasPrefix(a, prefix) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: last answer %q (%v), want %s...\n%s", sender, a, err, prefix, serviceLogs(e.dir))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	e.ban("sender", "before@"+senderDomain, "invalid_recipients", "ban", "5.7.1 known before the outage")
	waitAnswer("before@"+senderDomain, "action=REJECT 5.7.1 known before the outage", 30*time.Second)
	time.Sleep(500 * time.Millisecond) // one snapshot interval
	e.stop()
	pc.close()

	// Banned while the enforcer is down; then the broker goes away.
	e.ban("sender", "meanwhile@"+senderDomain, "invalid_recipients", "ban", "5.7.1 banned during the outage")
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	frozen := time.Now()
	e.restart("--set", "policy.deadline=100ms")
	started := time.Now()
	waitAnswer("before@"+senderDomain, "action=REJECT 5.7.1 known before the outage", 10*time.Second)
	t.Logf("restarted with Kafka unreachable: the last known ban answered %v after start", time.Since(started).Round(time.Millisecond))
	var lat []time.Duration
	for range 200 {
		t0 := time.Now()
		a, err := pc.ask("before@" + senderDomain)
		lat = append(lat, time.Since(t0))
		if err != nil || !strings.HasPrefix(a, "action=REJECT") {
			t.Fatalf("with Kafka down: %q %v", a, err)
		}
	}
	slices.Sort(lat)
	t.Logf("200 answers with Kafka down: p50 %v, p99 %v (deadline 100ms)", percentile(lat, 0.5), percentile(lat, 0.99))
	if a, _ := pc.ask("meanwhile@" + senderDomain); a != "action=DUNNO" {
		t.Fatalf("a ban the enforcer cannot know yet: %q", a)
	}
	// Stay down a while: the enforcer keeps answering and reports it is
	// serving from disk, not caught up.
	time.Sleep(5 * time.Second)
	m := metricsText(t, e.httpAddr)
	for _, want := range []string{"mxwarden_enforcer_caught_up 0", "mxwarden_enforcer_banset_from_disk 1"} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q while Kafka is down", want)
		}
	}
	if a, err := pc.ask("before@" + senderDomain); err != nil || !strings.HasPrefix(a, "action=REJECT") {
		t.Fatalf("after 5 s with Kafka down: %q %v", a, err)
	}
	// Kafka comes back: nothing is lost.
	if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("broker frozen for %v", time.Since(frozen).Round(time.Millisecond))
	waitAnswer("meanwhile@"+senderDomain, "action=REJECT 5.7.1 banned during the outage", 60*time.Second)
	e.ban("sender", "after@"+senderDomain, "invalid_recipients", "ban", "5.7.1 banned after the outage")
	waitAnswer("after@"+senderDomain, "action=REJECT 5.7.1 banned after the outage", 30*time.Second)
	waitAnswer("before@"+senderDomain, "action=REJECT 5.7.1 known before the outage", time.Second)
	m = metricsText(t, e.httpAddr)
	for _, want := range []string{"mxwarden_enforcer_caught_up 1", "mxwarden_enforcer_banset_from_disk 0"} {
		if !strings.Contains(m, want+"\n") {
			t.Errorf("metrics lack %q after Kafka returned", want)
		}
	}
}

func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
