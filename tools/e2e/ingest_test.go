package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestIngestKill9AndRotation writes a Postfix log while ingest follows it,
// kills ingest with SIGKILL at arbitrary moments, rotates the log by rename and by
// copytruncate, and checks that every recipient attempt written reaches
// Kafka: none lost, and no event id twice once repeats are dropped by id.
func TestIngestKill9AndRotation(t *testing.T) {
	bin := binaries(t)
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()[0]
	dir := t.TempDir()
	logFile := filepath.Join(dir, "maillog")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"run", "--set", "kafka.brokers=" + brokers, "--set", "http.addr=",
		"--set", "source.file=" + logFile, "--set", "source.checkpoint_file=" + filepath.Join(dir, "cp"),
		"--set", "source.host=mx1", "--set", "source.poll=10ms", "--set", "source.batch=50", "--set", "log.level=warn",
		"--set", "source.checkpoint_interval=20ms"}
	var (
		mu    sync.Mutex
		cmd   *exec.Cmd
		kills int
	)
	startIngest := func() {
		c := exec.Command(filepath.Join(bin, "ingest"), args...)
		lf, err := os.OpenFile(filepath.Join(dir, "ingest.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Error(err)
			return
		}
		c.Stdout, c.Stderr = lf, lf
		if err := c.Start(); err != nil {
			t.Error(err)
			return
		}
		cmd = c
	}
	kill9 := func() {
		mu.Lock()
		defer mu.Unlock()
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		kills++
		startIngest()
	}
	mu.Lock()
	startIngest()
	mu.Unlock()
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(dir, "ingest.log"))
			t.Logf("ingest log:\n%s", tail(string(b), 4000))
		}
	}()

	// SIGKILL ingest at arbitrary moments while the log is being written.
	stopKiller := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for {
			select {
			case <-stopKiller:
				return
			case <-time.After(time.Duration(60+rand.IntN(120)) * time.Millisecond):
				kill9()
			}
		}
	}()

	const messages = 3000
	base := time.Now().UTC().Add(-time.Hour)
	write := func(i int) {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		lines := message(base.Add(time.Duration(i)*time.Second), i, fmt.Sprintf("user%d@example.com", i%7), "acct", fmt.Sprintf("rcpt%d@example.org", i), i%3 == 0)
		if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	for i := 0; i < messages; i++ {
		write(i)
		switch i {
		case 1000: // rename rotation while writing continues
			if err := os.Rename(logFile, logFile+".1"); err != nil {
				t.Fatal(err)
			}
		case 2000: // copytruncate: like logrotate, once the reader has caught up
			waitCaughtUp(t, filepath.Join(dir, "cp"), logFile)
			b, err := os.ReadFile(logFile)
			if err != nil {
				t.Fatal(err)
			}
			_ = os.WriteFile(logFile+".2", b, 0o644)
			if err := os.Truncate(logFile, 0); err != nil {
				t.Fatal(err)
			}
		}
		if i%5 == 0 {
			time.Sleep(3 * time.Millisecond)
		}
	}
	close(stopKiller)
	<-killerDone

	// Consume mail.events until every recipient is seen (or time runs out).
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ConsumeTopics("mail.events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ids := map[string]int{}
	rcpts := map[string]int{}
	records, noSender := 0, 0
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	for len(rcpts) < messages && ctx.Err() == nil {
		fs := cl.PollFetches(ctx)
		fs.EachRecord(func(r *kgo.Record) {
			records++
			id := jsonField(string(r.Value), "id")
			ids[id]++
			if ids[id] == 1 {
				rcpts[jsonField(string(r.Value), "recipient")]++
				if jsonField(string(r.Value), "sender") == "" {
					noSender++
				}
			}
		})
	}
	missing := 0
	for i := 0; i < messages; i++ {
		if rcpts[fmt.Sprintf("rcpt%d@example.org", i)] == 0 {
			missing++
		}
	}
	dupRcpt := 0
	for _, n := range rcpts {
		if n > 1 {
			dupRcpt++
		}
	}
	t.Logf("%d messages written, ingest killed %d times, %d records consumed, %d distinct event ids (%d repeats), %d recipients missing, %d recipients under two ids",
		messages, kills, records, len(ids), records-len(ids), missing, dupRcpt)
	if missing > 0 {
		t.Errorf("%d recipient attempts lost", missing)
	}
	if noSender > 0 {
		// A restart must not forget the earlier lines of a message it had
		// not finished joining (qmgr from= before the checkpoint).
		t.Errorf("%d events lost their sender across a restart", noSender)
	}
	if dupRcpt > 0 {
		t.Errorf("%d recipient attempts appear under more than one event id (not recognisable as repeats)", dupRcpt)
	}
}

// waitCaughtUp waits until the checkpoint's offset reaches the file's size.
func waitCaughtUp(t *testing.T, cp, file string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err1 := os.Stat(file)
		b, err2 := os.ReadFile(cp)
		if err1 == nil && err2 == nil && strings.Contains(string(b), fmt.Sprintf(`"offset":%d`, st.Size())) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatal("ingest did not catch up with the log within 30 s")
}

// jsonField pulls a string field out of a flat JSON object without a full
// decode (the values under test hold no escaped quotes).
func jsonField(s, name string) string {
	k := `"` + name + `":"`
	i := strings.Index(s, k)
	if i < 0 {
		return ""
	}
	s = s[i+len(k):]
	if j := strings.IndexByte(s, '"'); j >= 0 {
		return s[:j]
	}
	return ""
}
