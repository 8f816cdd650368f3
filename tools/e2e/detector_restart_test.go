package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The detector's restart and rebalance tests: events stream into
// mail.events while detector processes are killed with SIGKILL (three times,
// at random moments) or a second detector joins the group and is killed;
// the bans committed to the bans topic must equal, one for one, those of
// `detector replay --bans` over the same events (subject, rule, window,
// evidence, level and id): none lost, none doubled.

func TestE2EDetectorKill9Kfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	detectorRestarts(t, c.ListenAddrs()[0], "kill")
}

func TestE2EDetectorKill9RealKafka(t *testing.T) {
	detectorRestarts(t, realBrokers(t), "kill")
}

func TestE2EDetectorRebalanceKfake(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	detectorRestarts(t, c.ListenAddrs()[0], "rebalance")
}

func TestE2EDetectorRebalanceRealKafka(t *testing.T) {
	detectorRestarts(t, realBrokers(t), "rebalance")
}

func realBrokers(t *testing.T) string {
	brokers := os.Getenv("MXWARDEN_TEST_KAFKA_BROKERS")
	if brokers == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but MXWARDEN_TEST_KAFKA_BROKERS is empty: run the tests through `make test`, which starts a real Apache Kafka broker")
		}
		t.Skip("no real Kafka broker: run `make test` (needs java >= 17 and mvn) or set MXWARDEN_TEST_KAFKA_BROKERS")
	}
	return brokers
}

// wireEvent is the part of the event contract the test writes.
type wireEvent struct {
	V         int    `json:"v"`
	ID        string `json:"id"`
	TS        string `json:"ts"`
	MTA       string `json:"mta"`
	Host      string `json:"host"`
	QueueID   string `json:"queue_id"`
	Sender    string `json:"sender"`
	Recipient string `json:"recipient"`
	Status    string `json:"status"`
	DSN       string `json:"dsn"`
	ReplyCode int    `json:"reply_code"`
	Reason    string `json:"reason"`
	ClientIP  string `json:"client_ip"`
	SASLUser  string `json:"sasl_user"`
}

// restartEvents is a stream of 2.5 hours of mail from 100 senders: every
// tenth bounces a quarter of its mail as "user unknown" (banned, again and
// again with a 20m ban TTL), every tenth plus one 8 %, the rest 0.5 %.
func restartEvents(n int) (keys []string, vals [][]byte) {
	rng := rand.New(rand.NewPCG(42, 7))
	base := time.Now().UTC().Add(-4 * time.Hour).Truncate(time.Hour)
	for i := range n {
		s := rng.IntN(100)
		share := 5
		switch s % 10 {
		case 0:
			share = 250
		case 1:
			share = 80
		}
		ev := wireEvent{V: 1, ID: fmt.Sprintf("mx1:restart:%d", i), TS: base.Add(time.Duration(i) * 300 * time.Millisecond).Format(time.RFC3339Nano),
			MTA: "postfix", Host: "mx1", QueueID: fmt.Sprintf("Q%X", i), Sender: fmt.Sprintf("s%03d@cust%02d.example", s, s%40),
			Recipient: fmt.Sprintf("r%05d@isp%d.example", rng.IntN(20000), rng.IntN(9)), Status: "sent", DSN: "2.0.0", ReplyCode: 250,
			ClientIP: "192.0.2.10", SASLUser: fmt.Sprintf("acct%02d", s%40)}
		if rng.IntN(1000) < share {
			ev.Status, ev.DSN, ev.ReplyCode, ev.Reason = "bounced", "5.1.1", 550, "user_unknown"
		}
		b, _ := json.Marshal(ev)
		keys = append(keys, ev.SASLUser)
		vals = append(vals, b)
	}
	return keys, vals
}

// banLine is what must match: rule, subject, window, evidence, level, id.
func banLine(t *testing.T, b []byte) string {
	var v struct {
		ID          string             `json:"id"`
		Rule        string             `json:"rule"`
		Kind        string             `json:"subject_kind"`
		Subject     string             `json:"subject"`
		WindowStart string             `json:"window_start"`
		WindowEnd   string             `json:"window_end"`
		Evidence    map[string]float64 `json:"evidence"`
		Level       int                `json:"level"`
		Expires     string             `json:"expires"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("ban %s: %v", b, err)
	}
	return fmt.Sprintf("%s %s:%s %s..%s %v level=%d expires=%s id=%s", v.Rule, v.Kind, v.Subject, v.WindowStart, v.WindowEnd, v.Evidence, v.Level, v.Expires, v.ID)
}

type detectorProc struct {
	cmd    *exec.Cmd
	done   chan error    // the exit status, once
	exited chan struct{} // closed when the process is gone
}

func startDetector(t testing.TB, bin, logPath string, args []string) *detectorProc {
	t.Helper()
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &detectorProc{cmd: cmd, done: make(chan error, 1), exited: make(chan struct{})}
	go func() { err := cmd.Wait(); lf.Close(); close(p.exited); p.done <- err }()
	// However the test ends, the process does not outlive it.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
	})
	return p
}

func (p *detectorProc) kill9() {
	_ = p.cmd.Process.Kill() // SIGKILL
	<-p.done
}

func (p *detectorProc) stop(t testing.TB) {
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-p.done:
		if err != nil {
			t.Errorf("detector exited with %v on SIGINT", err)
		}
	case <-time.After(30 * time.Second):
		p.kill9()
		t.Error("detector did not stop within 30s of SIGINT")
	}
}

func detectorRestarts(t *testing.T, brokers, mode string) {
	bin := filepath.Join(binaries(t), "detector")
	dir := t.TempDir()
	run := fmt.Sprintf("rs%d", rand.Uint32())
	topics := map[string]string{}
	common := []string{"run", "--set", "kafka.brokers=" + brokers, "--set", "kafka.partitions=6", "--set", "http.addr=",
		"--set", "group=" + run + ".detector", "--set", "log.level=info",
		"--set", "ban.ttl=20m", "--set", "ban.max_ttl=2h"}
	for _, k := range []string{"events", "verdicts", "bans", "dead_letter", "allowlist", "outcomes", "queue"} {
		topics[k] = run + "." + k
		common = append(common, "--set", "kafka.topics."+k+"="+topics[k])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 6, -1, nil, topics["events"]); err != nil {
		t.Fatal(err)
	}

	keys, vals := restartEvents(30000)
	if err := os.WriteFile(filepath.Join(dir, "events.jsonl"), append(bytes.Join(vals, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	// The oracle: the same events through `detector replay --bans`.
	rep := exec.Command(bin, "replay", "--bans", "--set", "ban.ttl=20m", "--set", "ban.max_ttl=2h", filepath.Join(dir, "events.jsonl"))
	var repOut, repErr bytes.Buffer
	rep.Stdout, rep.Stderr = &repOut, &repErr
	if err := rep.Run(); err != nil {
		t.Fatalf("replay: %v\n%s", err, repErr.String())
	}
	var want []string
	sc := bufio.NewScanner(&repOut)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		want = append(want, banLine(t, sc.Bytes()))
	}
	slices.Sort(want)
	if len(want) < 20 {
		t.Fatalf("the oracle has only %d bans: the test would show little", len(want))
	}

	// Stream the events in: 30 chunks, one every 150 ms.
	var pwg sync.WaitGroup
	var produced atomic.Bool // the whole stream is in
	// The last third of the stream waits until the faults are done, so
	// they land mid-stream however slow the machine is.
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseStream := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(releaseStream)
	pwg.Add(1)
	go func() {
		defer pwg.Done()
		defer produced.Store(true)
		const chunks = 60
		per := len(vals) / chunks
		for c := range chunks {
			if c == 2*chunks/3 {
				select {
				case <-release:
				case <-ctx.Done():
					return
				}
			}
			var recs []*kgo.Record
			for i := c * per; i < (c+1)*per && i < len(vals); i++ {
				recs = append(recs, &kgo.Record{Topic: topics["events"], Key: []byte(keys[i]), Value: vals[i]})
			}
			if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
			time.Sleep(150 * time.Millisecond)
		}
	}()

	logA, logB := filepath.Join(dir, "detector-a.log"), filepath.Join(dir, "detector-b.log")
	t.Cleanup(func() {
		if t.Failed() {
			for _, l := range []string{logA, logB} {
				b, _ := os.ReadFile(l)
				t.Logf("%s:\n%s", filepath.Base(l), tail(string(b), 6000))
			}
		}
	})
	argsA := append(slices.Clone(common), "--set", "state.instance_id=det-a")
	argsB := append(slices.Clone(common), "--set", "state.instance_id=det-b")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	a := startDetector(t, bin, logA, argsA)
	switch mode {
	case "kill":
		midStream := 0
		for k := range 3 {
			// Each incarnation gets to commit something first (so the kill
			// has state to lose), then dies at a random moment.
			before := progress(ctx, t, adm, run+".detector", topics["events"])
			waitProgress(ctx, t, adm, run+".detector", topics["events"], before, a)
			d := time.Duration(rng.IntN(800)) * time.Millisecond
			time.Sleep(d)
			a.kill9()
			c, e := progressAndEnd(ctx, t, adm, run+".detector", topics["events"])
			if !produced.Load() {
				midStream++
			}
			t.Logf("kill -9 number %d, %s after progress: %d of the %d events produced so far committed", k+1, d, c, e)
			a = startDetector(t, bin, logA, argsA)
		}
		releaseStream()
		if midStream != 3 {
			t.Fatalf("%d of 3 kills landed mid-stream", midStream)
		}
	case "rebalance":
		// Once the first has committed some work, a second joins: it takes
		// partitions with committed state (a rebalance mid-stream), commits
		// some of its own, and is killed: the first takes them back.
		waitProgress(ctx, t, adm, run+".detector", topics["events"], 0, a)
		time.Sleep(time.Duration(rng.IntN(500)) * time.Millisecond)
		b := startDetector(t, bin, logB, argsB)
		t.Log("second detector joined the group")
		waitLog(ctx, t, logB, `"msg":"partition state restored"`, b)
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		b.kill9()
		t.Log("second detector killed with SIGKILL; the first takes its partitions after the session timeout")
		releaseStream()
	}
	pwg.Wait()
	waitGroupDone(ctx, t, adm, run+".detector", topics["events"], a)
	a.stop(t)

	got := committedBans(ctx, t, brokers, topics["bans"])
	if !slices.Equal(got, want) {
		t.Fatalf("bans differ from an undisturbed replay (%d vs %d):\n%s", len(got), len(want), lineDiff(want, got))
	}
	t.Logf("%d bans, equal to an undisturbed replay's", len(got))
	// The faults did land mid-stream: later detectors restored state that
	// earlier ones had committed.
	restores, records := 0, 0
	for _, l := range []string{logA, logB} {
		b, _ := os.ReadFile(l)
		for line := range strings.SplitSeq(string(b), "\n") {
			var m struct {
				Msg     string `json:"msg"`
				Records int    `json:"records"`
			}
			if json.Unmarshal([]byte(line), &m) != nil {
				continue
			}
			if m.Msg == "partition state restored" && m.Records > 0 {
				restores++
				records += m.Records
			}
		}
	}
	t.Logf("%d partition restores from the changelog, %d records", restores, records)
	if restores == 0 {
		t.Fatal("no detector restored any state: the faults did not land mid-stream")
	}
}

func lineDiff(want, got []string) string {
	var b strings.Builder
	for _, w := range want {
		if !slices.Contains(got, w) {
			fmt.Fprintf(&b, "- %s\n", w)
		}
	}
	seen := map[string]int{}
	for _, g := range got {
		seen[g]++
		if !slices.Contains(want, g) || seen[g] > 1 {
			fmt.Fprintf(&b, "+ %s\n", g)
		}
	}
	return b.String()
}

// waitGroupDone waits until group has committed the end offset of every
// partition of topic.
func waitGroupDone(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string, alive *detectorProc) {
	t.Helper()
	for {
		select {
		case err := <-alive.done:
			t.Fatalf("the detector exited before the group caught up: %v", err)
		default:
		}
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := adm.FetchOffsets(ctx, group)
		if err == nil {
			done := true
			ends.Each(func(o kadm.ListedOffset) {
				c, ok := committed.Lookup(o.Topic, o.Partition)
				if !ok || c.At != o.Offset {
					done = false
				}
			})
			if done {
				return
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s never caught up with %s", group, topic)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// committedBans reads the committed records of the bans topic.
func committedBans(ctx context.Context, t *testing.T, brokers, topic string) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
		kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListCommittedOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	pending := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			pending[o.Partition] = o.Offset
		}
	})
	var out []string
	for len(pending) > 0 {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %s: %v", topic, err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			end, ok := pending[r.Partition]
			if !ok || r.Offset >= end {
				return
			}
			if r.Offset == end-1 {
				delete(pending, r.Partition)
			}
			if !r.Attrs.IsControl() && len(r.Value) > 0 {
				out = append(out, banLine(t, r.Value))
			}
		})
	}
	slices.Sort(out)
	return out
}

// waitLog waits until the log file holds s.
func waitLog(ctx context.Context, t *testing.T, path, s string, alive *detectorProc) {
	t.Helper()
	for {
		if b, _ := os.ReadFile(path); bytes.Contains(b, []byte(s)) {
			return
		}
		select {
		case err := <-alive.done:
			t.Fatalf("the detector exited: %v", err)
		case <-ctx.Done():
			t.Fatalf("%s never logged %s", path, s)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// progressAndEnd returns the offsets group committed on topic, summed, and
// the topic's end offsets, summed.
func progressAndEnd(ctx context.Context, t testing.TB, adm *kadm.Client, group, topic string) (int64, int64) {
	t.Helper()
	var c, e int64
	if committed, err := adm.FetchOffsets(ctx, group); err == nil {
		committed.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic && o.At > 0 {
				c += o.At
			}
		})
	}
	if ends, err := adm.ListEndOffsets(ctx, topic); err == nil {
		ends.Each(func(o kadm.ListedOffset) { e += o.Offset })
	}
	return c, e
}

func progress(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string) int64 {
	c, _ := progressAndEnd(ctx, t, adm, group, topic)
	return c
}

// waitProgress waits until group committed more than before on topic, or
// everything produced so far.
func waitProgress(ctx context.Context, t *testing.T, adm *kadm.Client, group, topic string, before int64, alive *detectorProc) {
	t.Helper()
	for {
		if c, e := progressAndEnd(ctx, t, adm, group, topic); c > before || (c == e && e > 0 && before == c) {
			return
		}
		select {
		case err := <-alive.done:
			t.Fatalf("the detector exited: %v", err)
		case <-ctx.Done():
			t.Fatalf("group %s made no progress", group)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
