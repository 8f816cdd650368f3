package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// TestE2EDeskExplainsBan runs the three services as processes, as `make
// run` does: the detector's ticket_url points at the enforcer's abuse
// desk, Postfix log lines make a ban, the SMTP rejection carries the
// desk's link, and the desk's lookup page explains the ban with the
// detector's own numbers.
func TestE2EDeskExplainsBan(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	bin := binaries(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "maillog")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	policyAddr, deskAddr := freeAddr(t), freeAddr(t)
	lookup := "http://" + deskAddr + "/lookup"
	common := []string{"--set", "kafka.brokers=" + c.ListenAddrs()[0], "--set", "http.addr=127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	start(ctx, t, &wg, dir, "enforcer", filepath.Join(bin, "enforcer"), append([]string{"run"}, append(common,
		"--set", "policy.addr="+policyAddr, "--set", "maps.dir="+filepath.Join(dir, "maps"),
		"--set", "state.dir="+filepath.Join(dir, "state"),
		"--set", "desk.enabled=true", "--set", "desk.addr="+deskAddr)...)...)
	start(ctx, t, &wg, dir, "detector", filepath.Join(bin, "detector"), append([]string{"run"}, append(common,
		"--set", "ticket_url="+lookup)...)...)
	start(ctx, t, &wg, dir, "ingest", filepath.Join(bin, "ingest"), append([]string{"run"}, append(common,
		"--set", "source.file="+logFile, "--set", "source.checkpoint_file="+filepath.Join(dir, "ingest.checkpoint"),
		"--set", "source.host=mx1", "--set", "source.poll=20ms")...)...)

	get := func(url string) (int, string, error) {
		resp, err := http.Get(url)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), err
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, body, err := get(lookup + "?a=" + abuser); err == nil && code == 200 && strings.Contains(body, "is not blocked") {
			break // the desk answers, and nothing is banned yet
		}
		if time.Now().After(deadline) {
			t.Fatal("the desk never answered")
		}
		time.Sleep(100 * time.Millisecond)
	}

	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := time.Now().UTC().Add(-10 * time.Minute)
	for i := range 40 {
		lines := message(base.Add(time.Duration(i)*time.Second), i, abuser, "cheapleads", fmt.Sprintf("lead%03d@example.org", i), true)
		if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	var answer string
	for deadline = time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if answer, err = askPolicy(policyAddr, abuser); err == nil && strings.HasPrefix(answer, "action=REJECT") {
			break
		}
	}
	if !strings.HasPrefix(answer, "action=REJECT") || !strings.Contains(answer, lookup) {
		t.Fatalf("policy answer %q (err %v): want a REJECT carrying %s", answer, err, lookup)
	}
	code, body, err := get(lookup + "?a=" + abuser)
	if err != nil || code != 200 {
		t.Fatalf("desk lookup: %d %v", code, err)
	}
	for _, want := range []string{abuser + "</span> is blocked", "Too many messages to recipients that do not exist",
		"recipients did not exist, in", "Clean your list", "Dispute this block"} {
		if !strings.Contains(body, want) {
			t.Errorf("desk page lacks %q", want)
		}
	}
	t.Logf("policy: %s; desk: %s?a=%s", answer, lookup, abuser)
}
