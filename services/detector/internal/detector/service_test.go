package detector

import (
	"bufio"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/pkg/kafka"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// TestRunKafka runs the service against an in-process kfake broker: events
// go in, the verdict and the ban come out on their topics, undecodable
// records are dead-lettered, and every consumed offset is committed.
func TestRunKafka(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()

	cfg := Default()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Partitions = 3
	cfg.HTTP.Addr = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	svc, err := New(cfg, testLogger(t), reg)
	if err != nil {
		t.Fatal(err)
	}
	svc.now = fixedNow

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}

	// The hammer scenario's events, keyed by account, plus two bad records.
	recs := eventRecords(t, cfg.Kafka.Topics.Events, hammerEvents)
	events := len(recs)
	recs = append(recs,
		&kgo.Record{Topic: cfg.Kafka.Topics.Events, Key: []byte("bad"), Value: []byte("not json"),
			Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("test")}}},
		&kgo.Record{Topic: cfg.Kafka.Topics.Events, Key: []byte("bad"), Value: []byte(`{"v":1,"ts":"2025-03-03T09:00:00Z","status":"lost"}`)},
	)
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()

	out, err := kgo.NewClient(
		kgo.SeedBrokers(cfg.Kafka.Brokers...),
		kgo.ConsumeTopics(cfg.Kafka.Topics.Verdicts, cfg.Kafka.Topics.Bans, cfg.Kafka.Topics.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	got := map[string][]*kgo.Record{}
	for len(got[cfg.Kafka.Topics.Verdicts]) < 1 || len(got[cfg.Kafka.Topics.Bans]) < 1 || len(got[cfg.Kafka.Topics.DeadLetter]) < 2 {
		fs := out.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("waiting for output: %v (have %d verdicts, %d bans, %d dead letters)", err,
				len(got[cfg.Kafka.Topics.Verdicts]), len(got[cfg.Kafka.Topics.Bans]), len(got[cfg.Kafka.Topics.DeadLetter]))
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Topic] = append(got[r.Topic], r) })
	}

	v, err := event.UnmarshalVerdict(got[cfg.Kafka.Topics.Verdicts][0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if k := string(got[cfg.Kafka.Topics.Verdicts][0].Key); k != "sender:list@bulk-sender.example" || v.Action != event.ActionBan {
		t.Fatalf("verdict key %q action %s", k, v.Action)
	}
	// The same verdict as the replay of the same events.
	want, _, _ := replayBytes(t, cfg, ReplayOptions{Inputs: []string{hammerEvents}})
	if strings.TrimSpace(want) != string(got[cfg.Kafka.Topics.Verdicts][0].Value) {
		t.Fatalf("run and replay disagree:\n%s\n%s", got[cfg.Kafka.Topics.Verdicts][0].Value, want)
	}
	b, err := event.UnmarshalBan(got[cfg.Kafka.Topics.Bans][0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if k := string(got[cfg.Kafka.Topics.Bans][0].Key); k != b.Key() || b.Level != 1 || b.ID != v.ID {
		t.Fatalf("ban key %q level %d id %s", k, b.Level, b.ID)
	}
	reasons := map[string]bool{}
	for _, r := range got[cfg.Kafka.Topics.DeadLetter] {
		h := map[string]string{}
		for _, x := range r.Headers {
			h[x.Key] = string(x.Value)
		}
		if h[HeaderError] == "" || !strings.HasPrefix(h[HeaderSource], cfg.Kafka.Topics.Events+"/") || string(r.Key) != "bad" {
			t.Fatalf("dead letter %q headers %v", r.Value, h)
		}
		if string(r.Value) == "not json" && h["origin"] != "test" {
			t.Fatalf("original headers lost: %v", h)
		}
		reasons[h[HeaderReason]] = true
	}
	if !reasons[ReasonDecode] || !reasons[ReasonInvalid] {
		t.Fatalf("dead-letter reasons %v", reasons)
	}

	// Every consumed offset gets committed.
	waitCommitted(ctx, t, kadm.NewClient(cl), cfg)

	if n := testutil.ToFloat64(svc.m.events); n != float64(events) {
		t.Errorf("events processed %v, want %d", n, events)
	}
	if n := testutil.ToFloat64(svc.m.verdicts.WithLabelValues(CodeInvalidRecipientsForTest, "ban")); n != 1 {
		t.Errorf("verdicts metric %v", n)
	}
	if n := testutil.ToFloat64(svc.m.bans.WithLabelValues(CodeInvalidRecipientsForTest)); n != 1 {
		t.Errorf("bans metric %v", n)
	}
	if n := testutil.ToFloat64(svc.m.rejected.WithLabelValues(ReasonDecode)); n != 1 {
		t.Errorf("rejected decode %v", n)
	}
	if n := testutil.ToFloat64(svc.m.stateKeys.WithLabelValues("sender")); n < 3 {
		t.Errorf("tracked keys %v", n)
	}
	if lag := testutil.ToFloat64(svc.m.eventTimeLag); lag <= 0 {
		t.Errorf("event time lag %v", lag)
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz"} {
		resp, err := http.Get("http://" + svc.HTTPAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s: %s", path, resp.Status)
		}
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// eventRecords reads a JSON-lines file of events into records for the
// events topic, keyed by account like ingest keys them.
func eventRecords(t *testing.T, topic, path string) []*kgo.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []*kgo.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		ev, err := event.UnmarshalEvent(sc.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		val, _ := event.MarshalEvent(ev)
		recs = append(recs, &kgo.Record{Topic: topic, Key: []byte(ev.Account()), Value: val})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return recs
}

// waitCommitted waits until the group has committed every offset of the
// events topic.
func waitCommitted(ctx context.Context, t *testing.T, adm *kadm.Client, cfg Config) {
	t.Helper()
	for {
		ends, err := adm.ListEndOffsets(ctx, cfg.Kafka.Topics.Events)
		if err != nil {
			t.Fatal(err)
		}
		committed, err := adm.FetchOffsets(ctx, cfg.Group)
		if err == nil && allCommitted(ends, committed) {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("offsets not committed: ends %v committed %v", ends, committed)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestRunKafkaDuplicates produces the duplicates scenario (the hammer's
// events with slices of them produced again, as ingest does after a crash)
// and checks that the service counts every event once: the one verdict is
// the one the hammer's events alone give, and the repeats are counted as
// duplicates, not as processed events.
func TestRunKafkaDuplicates(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := Default()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Partitions = 3
	cfg.HTTP.Addr = ""
	svc, err := New(cfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	svc.now = fixedNow

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	recs := eventRecords(t, cfg.Kafka.Topics.Events, dupEvents)
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx) }()

	// Verdicts, bans and offsets commit in one transaction: once every
	// offset is committed, the committed verdicts and bans are complete.
	adm := kadm.NewClient(cl)
	waitCommitted(ctx, t, adm, cfg)
	verdicts := readCommitted(ctx, t, cfg.Kafka.Brokers, cfg.Kafka.Topics.Verdicts)
	bans := readCommitted(ctx, t, cfg.Kafka.Brokers, cfg.Kafka.Topics.Bans)
	if len(verdicts) != 1 || len(bans) != 1 {
		t.Fatalf("%d verdicts and %d bans, want 1 and 1", len(verdicts), len(bans))
	}
	got := verdicts[0].Value
	want, _, _ := replayBytes(t, cfg, ReplayOptions{Inputs: []string{hammerEvents}})
	if strings.TrimSpace(want) != string(got) {
		t.Fatalf("verdict with repeats differs from the one without:\n%s\n%s", got, want)
	}

	unique := len(recs) - dupRepeats
	if v := testutil.ToFloat64(svc.m.events); v != float64(unique) {
		t.Errorf("events processed %v, want %d", v, unique)
	}
	if v := testutil.ToFloat64(svc.m.duplicates); v != dupRepeats {
		t.Errorf("duplicates %v, want %d", v, dupRepeats)
	}
	if v := testutil.ToFloat64(svc.m.dedupIDs); v != float64(unique) {
		t.Errorf("dedup ids %v, want %d", v, unique)
	}
	if v := testutil.ToFloat64(svc.m.rejected.WithLabelValues(ReasonInvalid)); v != 0 {
		t.Errorf("repeats dead-lettered: %v", v)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil && !errors.Is(err, context.Canceled) {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

func allCommitted(ends kadm.ListedOffsets, committed kadm.OffsetResponses) bool {
	ok := true
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset == 0 {
			return
		}
		c, found := committed.Lookup(o.Topic, o.Partition)
		if !found || c.Err != nil || c.At != o.Offset {
			ok = false
		}
	})
	return ok
}

func TestDropPartitions(t *testing.T) {
	cfg := Default()
	onlyRules(t, &cfg, "invalid_recipients")
	cfg.HTTP.Addr = ""
	svc, err := New(cfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for p := range int32(3) {
		ps, err := svc.partition(context.Background(), nil, p)
		if err != nil {
			t.Fatal(err)
		}
		var out Output
		ev := &event.DeliveryEvent{ID: "x", TS: fixedNow().Add(-time.Hour), Sender: "a@b", Status: event.StatusSent}
		if _, err := ps.proc.Process(ev, &out); err != nil {
			t.Fatal(err)
		}
	}
	svc.updateStateMetrics()
	if n := testutil.ToFloat64(svc.m.stateKeys.WithLabelValues("sender")); n != 3 {
		t.Fatalf("tracked %v", n)
	}
	svc.drop(map[string][]int32{cfg.Kafka.Topics.Events: {0, 2}, "other.topic": {1}}, "revoked")
	if _, ok := svc.parts[1]; !ok || len(svc.parts) != 1 {
		t.Fatalf("parts after drop: %v", svc.parts)
	}
	if n := testutil.ToFloat64(svc.m.stateKeys.WithLabelValues("sender")); n != 1 {
		t.Fatalf("tracked after drop %v", n)
	}
	if n := testutil.ToFloat64(svc.m.partitions); n != 1 {
		t.Fatalf("partitions %v", n)
	}
}

func TestFutureEvents(t *testing.T) {
	p, err := NewProcessor(Default(), rules.StageSender, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var out Output
	ok := &event.DeliveryEvent{TS: fixedNow().Add(14 * time.Minute), Sender: "a@b", Status: event.StatusSent}
	if _, err := p.Process(ok, &out); err != nil {
		t.Fatal(err)
	}
	bad := &event.DeliveryEvent{TS: fixedNow().Add(16 * time.Minute), Sender: "a@b", Status: event.StatusSent}
	_, err = p.Process(bad, &out)
	if !errors.Is(err, ErrFutureEvent) {
		t.Fatalf("err = %v", err)
	}
	if !p.Watermark().Equal(ok.TS) {
		t.Fatalf("a refused event moved the watermark to %v", p.Watermark())
	}
	if classify(err) != ReasonFuture {
		t.Fatal("classify")
	}
}

// readCommitted returns the committed records of topic (read_committed, up
// to the last stable offset of every partition), in partition then offset order.
func readCommitted(ctx context.Context, t *testing.T, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords(),
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
	byPart := map[int32][]*kgo.Record{}
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
			if !r.Attrs.IsControl() {
				byPart[r.Partition] = append(byPart[r.Partition], r)
			}
		})
	}
	var out []*kgo.Record
	for p := range int32(64) {
		out = append(out, byPart[p]...)
	}
	return out
}

// TestRunRestore: a detector stops after the first part of the stream; a
// second one (same group, same instance id) restores the partitions' state
// from the changelog and finishes: the bans are exactly a replay's, and
// the allowlist topic is honoured by both.
func TestRunRestore(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := Default()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Partitions = 3
	cfg.HTTP.Addr = ""
	cfg.State.InstanceID = "det-0"
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	// The hammer's second offender is allowlisted through the topic.
	allow := event.AllowEntry{TS: fixedNow(), Kind: event.KindSender, Subject: "offers@cheap-leads.example", Actor: "test"}
	av, _ := event.MarshalAllowEntry(&allow)
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: cfg.Kafka.Topics.Allowlist, Key: []byte(allow.Key()), Value: av}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Three scenarios in one stream (their ids made distinct).
	var recs []*kgo.Record
	var cases [][]*event.DeliveryEvent
	for _, c := range []string{"purchased_list", "hammer_invalid_recipients", "escalation"} {
		evs := readEvents(t, filepath.Join(scenarioRoot, "invalid_recipients", c, "events.jsonl"))
		for _, ev := range evs {
			ev.ID = c + ":" + ev.ID
			val, _ := event.MarshalEvent(ev)
			recs = append(recs, &kgo.Record{Topic: cfg.Kafka.Topics.Events, Key: []byte(ev.Account()), Value: val})
		}
		cases = append(cases, evs)
	}
	adm := kadm.NewClient(cl)
	half := len(recs) / 2
	for i, part := range [][]*kgo.Record{recs[:half], recs[half:]} {
		if err := cl.ProduceSync(ctx, part...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		svc, err := New(cfg, testLogger(t), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		svc.now = fixedNow
		rctx, rcancel := context.WithCancel(ctx)
		errc := make(chan error, 1)
		go func() { errc <- svc.Run(rctx) }()
		waitCommitted(ctx, t, adm, cfg)
		var m dto.Metric
		if err := svc.m.restoreDuration.Write(&m); err != nil {
			t.Fatal(err)
		}
		if n := m.GetHistogram().GetSampleCount(); i == 1 && n == 0 {
			t.Error("the second detector restored no partition")
		}
		if n := testutil.ToFloat64(svc.m.restoreDiscarded); n != 0 {
			t.Errorf("%v changelog records discarded", n)
		}
		rcancel()
		if err := <-errc; err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	var got []string
	for _, r := range readCommitted(ctx, t, cfg.Kafka.Brokers, cfg.Kafka.Topics.Bans) {
		b, err := event.UnmarshalBan(r.Value)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, banLine(b))
	}
	slices.Sort(got)
	// The same input through replay, with the allowlist entry in the config.
	rcfg := cfg
	rcfg.Allowlist = []string{"sender:offers@cheap-leads.example"}
	var want []string
	for _, evs := range cases {
		p, err := NewPipeline(rcfg, Options{Now: fixedNow})
		if err != nil {
			t.Fatal(err)
		}
		var out Output
		for _, ev := range evs {
			out.Reset()
			p.Process(ev, &out)
			for j := range out.Bans {
				want = append(want, banLine(&out.Bans[j]))
			}
		}
	}
	slices.Sort(want)
	if len(want) < 3 || !slices.Equal(got, want) {
		t.Fatalf("bans after a restart:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestRunKafkaHostile: hostile and broken records among real traffic are
// counted by reason and dead-lettered, repeats are counted as duplicates,
// and the bans are exactly those of the clean traffic alone.
func TestRunKafkaHostile(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	cfg := Default()
	cfg.Kafka.Brokers = cluster.ListenAddrs()
	cfg.Kafka.Partitions = 3
	cfg.HTTP.Addr = ""
	svc, err := New(cfg, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	svc.now = fixedNow
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Kafka.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := kafka.EnsureTopics(ctx, cl, cfg.Kafka); err != nil {
		t.Fatal(err)
	}
	clean := eventRecords(t, cfg.Kafka.Topics.Events, hammerEvents)
	recs := slices.Clone(clean)
	for _, h := range hostileRecords {
		recs = append(recs, &kgo.Record{Topic: cfg.Kafka.Topics.Events, Key: []byte("hostile"), Value: []byte(h)})
	}
	// A repeated id, and ten clean records redelivered (new records: a
	// record is produced once).
	recs = append(recs, &kgo.Record{Topic: cfg.Kafka.Topics.Events, Key: []byte("hostile"), Value: []byte(hostileRecords[len(hostileRecords)-1])})
	for _, r := range clean[:10] {
		recs = append(recs, &kgo.Record{Topic: r.Topic, Key: r.Key, Value: r.Value})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() {
		err := svc.Run(ctx)
		if ctx.Err() == nil {
			t.Errorf("Run stopped: %v", err)
			cancel()
		}
		errc <- err
	}()
	waitCommitted(ctx, t, kadm.NewClient(cl), cfg)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// h10 (an undocumented reason) is processed: it is no "user unknown".
	want := map[string]float64{ReasonVersion: 1, ReasonInvalid: 4, ReasonFuture: 1, ReasonLate: 2, ReasonDecode: 1}
	total := 0.0
	for r, n := range want {
		if got := testutil.ToFloat64(svc.m.rejected.WithLabelValues(r)); got != n {
			t.Errorf("rejected{%s} = %v, want %v", r, got, n)
		}
		total += n
	}
	if got := testutil.ToFloat64(svc.m.duplicates); got != 11 {
		t.Errorf("duplicates %v, want 11", got)
	}
	rctx, rcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer rcancel()
	dl := readCommitted(rctx, t, cfg.Kafka.Brokers, cfg.Kafka.Topics.DeadLetter)
	if float64(len(dl)) != total {
		t.Errorf("%d dead letters, want %v", len(dl), total)
	}
	for _, r := range dl {
		if len(r.Headers) < 3 {
			t.Errorf("dead letter without its headers: %v", r.Headers)
		}
	}
	var got []string
	for _, r := range readCommitted(rctx, t, cfg.Kafka.Brokers, cfg.Kafka.Topics.Bans) {
		got = append(got, string(r.Value))
	}
	wantBans, _, _ := replayBytes(t, cfg, ReplayOptions{Inputs: []string{hammerEvents}, Bans: true})
	if strings.Join(got, "\n") != strings.TrimSpace(wantBans) {
		t.Fatalf("bans with hostile input:\n%s\nwant\n%s", strings.Join(got, "\n"), wantBans)
	}
}
