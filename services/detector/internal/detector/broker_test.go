package detector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

// childEnv, when set, makes the test binary a detector (`detector run`
// with the JSON configuration in the variable), so a test can kill -9 it.
const childEnv = "MXWARDEN_TEST_DETECTOR_CHILD"

func TestMain(m *testing.M) {
	if spec := os.Getenv(childEnv); spec != "" {
		os.Exit(runChild(spec))
	}
	os.Exit(m.Run())
}

func runChild(spec string) int {
	cfg := Default()
	if err := json.Unmarshal([]byte(spec), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	svc, err := New(cfg, logger, prometheus.NewRegistry())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := svc.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child run:", err)
		return 1
	}
	return 0
}

// testBrokersEnv is the real broker of MXWARDEN_TEST_KAFKA_BROKERS, or nil.
func testBrokersEnv() []string {
	if b := os.Getenv("MXWARDEN_TEST_KAFKA_BROKERS"); b != "" {
		return strings.Split(b, ",")
	}
	return nil
}

// testBrokers is the real broker of MXWARDEN_TEST_KAFKA_BROKERS (make
// test starts one; required with CI=true), else an in-process kfake.
func testBrokers(t *testing.T) []string {
	t.Helper()
	if b := os.Getenv("MXWARDEN_TEST_KAFKA_BROKERS"); b != "" {
		return strings.Split(b, ",")
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but MXWARDEN_TEST_KAFKA_BROKERS is empty: run the tests through `make test`, which starts a real Apache Kafka broker")
	}
	t.Log("no real Kafka broker (MXWARDEN_TEST_KAFKA_BROKERS): running against kfake")
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.ListenAddrs()
}

// TestRecipientStageRestart runs `detector run` as child processes over
// every scenario (sender and recipient rules, queue samples, DNS-decided
// no_mx and false_blocklist_claim against the test zone), kills it with
// SIGKILL at three random moments, then finishes with two members in one
// group, the second joining mid-stream (a rebalance). The bans topic then
// holds exactly what a replay gives: the sender stage over the events,
// the recipient stage over each outcomes and queue partition as committed
// (the repartition) — none doubled, none lost, lifts included.
func TestRecipientStageRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	brokers := testBrokers(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cfg := Default()
	cfg.Kafka.Brokers = brokers
	cfg.Kafka.Partitions = 3
	cfg.Kafka.ReplicationFactor = 1
	p := fmt.Sprintf("rt%d.", time.Now().UnixNano())
	tp := &cfg.Kafka.Topics
	for _, s := range []*string{&tp.Events, &tp.Verdicts, &tp.Bans, &tp.DeadLetter, &tp.Allowlist, &tp.Outcomes, &tp.Queue} {
		*s = p + *s
	}
	cfg.Group = p + "detector"
	cfg.HTTP.Addr = ""
	cfg.DNS.Servers = []string{scenarioDNS(t)}
	cfg.DNS.Timeout, cfg.DNS.Attempts = 300*time.Millisecond, 1
	cfg.Rules.FalseBlocklistClaim.PlatformIPs = []string{"1.2.3.6", "1.2.3.4", "1.2.3.5"}
	cfg.Rules.FalseBlocklistClaim.Zones = []string{"spamhaus=bl.dnsbl-test.net"}

	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	// Every scenario's input, ids made distinct, in one stream.
	var recs []*kgo.Record
	for _, dir := range scenarioDirs(t) {
		c := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		b, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range lines(b) {
			if strings.Contains(string(l), `"queues"`) {
				q, err := event.UnmarshalQueueSample(l)
				if err != nil {
					t.Fatal(err)
				}
				q.Host = strings.ReplaceAll(c, "/", "-") + "." + q.Host
				v, _ := event.MarshalQueueSample(q)
				recs = append(recs, &kgo.Record{Topic: tp.Queue, Key: []byte(q.Host), Value: v})
				continue
			}
			ev, err := event.UnmarshalEvent(l)
			if err != nil {
				t.Fatal(err)
			}
			ev.ID = c + ":" + ev.ID
			v, _ := event.MarshalEvent(ev)
			recs = append(recs, &kgo.Record{Topic: tp.Events, Key: []byte(ev.Account()), Value: v})
		}
	}
	start := func(instance string) *exec.Cmd {
		c := cfg
		c.State.InstanceID = instance
		s, _ := json.Marshal(c)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+string(s))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	// One stream in event time, as a live platform's would be (the cases
	// share a start time; late events would be dead-lettered).
	ts := func(r *kgo.Record) time.Time {
		var v struct {
			TS time.Time `json:"ts"`
		}
		_ = json.Unmarshal(r.Value, &v)
		return v.TS
	}
	slices.SortStableFunc(recs, func(a, b *kgo.Record) int { return ts(a).Compare(ts(b)) })
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 8))
	chunk := (len(recs) + 3) / 4
	for i := 0; i < 3; i++ {
		lo, hi := i*chunk, min(len(recs), (i+1)*chunk)
		if err := cl.ProduceSync(ctx, recs[lo:hi]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		child := start("det-0")
		time.Sleep(time.Duration(500+rng.IntN(2500)) * time.Millisecond)
		_ = child.Process.Kill() // kill -9, mid-stream
		_ = child.Wait()
	}
	// Finish with two members; the second joins mid-stream.
	a := start("det-0")
	if err := cl.ProduceSync(ctx, recs[min(len(recs), 3*chunk):]...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Duration(200+rng.IntN(800)) * time.Millisecond)
	b := start("det-1")
	waitInputsCommitted(ctx, t, kadm.NewClient(cl), cfg)

	// The replay: the sender stage over the events in their order, the
	// recipient stage per outcomes and queue partition as committed.
	var want, wantLifts []string
	collect := func(out *Output) {
		for i := range out.Bans {
			want = append(want, banLine(&out.Bans[i]))
		}
		for _, l := range out.Lifts {
			wantLifts = append(wantLifts, l.Key)
		}
		out.Reset()
	}
	var out Output
	sps := map[int32]*Processor{}
	for _, r := range readCommitted(ctx, t, brokers, tp.Events) {
		sp, ok := sps[r.Partition]
		if !ok {
			if sp, err = NewProcessor(cfg, rules.StageSender, Options{}); err != nil {
				t.Fatal(err)
			}
			sps[r.Partition] = sp
		}
		ev, err := event.UnmarshalEvent(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := sp.Process(ev, &out); err != nil && !errors.Is(err, ErrLateEvent) {
			t.Fatal(err)
		}
		collect(&out)
	}
	lk := scenarioLookuper(t)
	for _, topic := range []string{tp.Outcomes, tp.Queue} {
		procs := map[int32]*Processor{}
		srs := map[int32]*syncResolver{}
		for _, r := range readCommitted(ctx, t, brokers, topic) {
			rp, ok := procs[r.Partition]
			if !ok {
				srs[r.Partition] = &syncResolver{lk: lk}
				if rp, err = NewProcessor(cfg, rules.StageRecipient, Options{Resolver: srs[r.Partition]}); err != nil {
					t.Fatal(err)
				}
				procs[r.Partition] = rp
			}
			if topic == tp.Queue {
				q, err := event.UnmarshalQueueSample(r.Value)
				if err != nil {
					t.Fatal(err)
				}
				rp.ProcessQueue(q, &out)
			} else {
				ev := new(event.DeliveryEvent)
				if err := event.DecodeOutcome(r.Value, ev); err != nil {
					t.Fatal(err)
				}
				if _, err := rp.Process(ev, &out); err != nil && !errors.Is(err, ErrLateEvent) {
					t.Fatal(err)
				}
			}
			srs[r.Partition].Drain(ctx, []*Processor{rp}, &out)
			collect(&out)
		}
	}
	// Crossings still awaiting a lookup when the inputs were all committed
	// (a partition restored at the last rebalance asks again) land a
	// moment later: wait for the count, then stop the members.
	readBans := func() (bans, lifts []string) {
		for _, r := range readCommitted(ctx, t, brokers, tp.Bans) {
			if r.Value == nil {
				lifts = append(lifts, string(r.Key))
				continue
			}
			bn, err := event.UnmarshalBan(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			bans = append(bans, banLine(bn))
		}
		return bans, lifts
	}
	deadline := time.Now().Add(30 * time.Second)
	got, gotLifts := readBans()
	for len(got)+len(gotLifts) < len(want)+len(wantLifts) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		got, gotLifts = readBans()
	}
	for _, c := range []*exec.Cmd{a, b} {
		_ = c.Process.Signal(syscall.SIGTERM)
		_ = c.Wait()
	}
	got, gotLifts = readBans()
	slices.Sort(got)
	slices.Sort(want)
	slices.Sort(gotLifts)
	slices.Sort(wantLifts)
	recipientBans := 0
	for _, w := range want {
		if !strings.HasPrefix(w, rules.CodeInvalidRecipients) {
			recipientBans++
		}
	}
	t.Logf("%d bans (%d of the recipient stage), %d lifts", len(want), recipientBans, len(wantLifts))
	if recipientBans < 10 {
		t.Fatalf("the replay made only %d recipient-stage bans", recipientBans)
	}
	if !slices.Equal(got, want) {
		t.Errorf("bans after 3 kills and a rebalance:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !slices.Equal(gotLifts, wantLifts) {
		t.Errorf("lifts %v, want %v", gotLifts, wantLifts)
	}
}

// waitInputsCommitted waits until the group committed every events,
// outcomes and queue record (outcomes end on a transaction marker, which
// no consumer commits past).
func waitInputsCommitted(ctx context.Context, t *testing.T, adm *kadm.Client, cfg Config) {
	t.Helper()
	tp := cfg.Kafka.Topics
	for {
		committed, cerr := adm.FetchOffsets(ctx, cfg.Group)
		ends, err := adm.ListEndOffsets(ctx, tp.Events, tp.Outcomes, tp.Queue)
		if err != nil {
			t.Fatal(err)
		}
		for _, ps := range ends[tp.Outcomes] {
			if ps.Offset > 0 {
				ps.Offset--
				ends[tp.Outcomes][ps.Partition] = ps
			}
		}
		if cerr == nil && allCommitted(ends, committed) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("inputs not committed: ends %v committed %v", ends, committed)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
