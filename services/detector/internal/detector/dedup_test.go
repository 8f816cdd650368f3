package detector

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/dedup"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

const (
	dupScenario = "../rules/testdata/invalid_recipients/duplicates"
	dupEvents   = dupScenario + "/events.jsonl"
	// dupRepeats is how many lines of dupEvents repeat an earlier line.
	dupRepeats = 50
)

// TestDuplicatesScenario: the duplicates scenario is the hammer scenario
// with slices of its events repeated, as ingest produces them again after
// a crash. Deduplicated, it gives the hammer's verdicts and bans byte for
// byte; without deduplication the repeats would change them, so the
// scenario does test something.
func TestDuplicatesScenario(t *testing.T) {
	hammer := "../rules/testdata/invalid_recipients/hammer_invalid_recipients"
	for _, golden := range []string{"verdicts.golden.jsonl", "bans.golden.jsonl"} {
		a, err := os.ReadFile(hammer + "/" + golden)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(dupScenario + "/" + golden)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("%s differs from the hammer's:\n%s", golden, lineDiff(a, b))
		}
	}
	// The input really repeats ids, and only repeats them.
	in, err := os.ReadFile(dupEvents)
	if err != nil {
		t.Fatal(err)
	}
	orig, err := os.ReadFile(hammerEvents)
	if err != nil {
		t.Fatal(err)
	}
	origLines := map[string]bool{}
	for _, l := range lines(orig) {
		origLines[string(l)] = true
	}
	seen, repeats := map[string]bool{}, 0
	for _, l := range lines(in) {
		if !origLines[string(l)] {
			t.Fatalf("line not from the hammer scenario: %s", l)
		}
		ev, err := event.UnmarshalEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		if seen[ev.ID] {
			repeats++
		}
		seen[ev.ID] = true
	}
	if repeats != dupRepeats || len(seen) != len(origLines) {
		t.Fatalf("%d repeats of %d ids, want %d of %d", repeats, len(seen), dupRepeats, len(origLines))
	}

	out, stderr, st := replayBytes(t, Default(), ReplayOptions{Inputs: []string{dupEvents}})
	if st.Duplicates != dupRepeats || st.Events != len(seen)+dupRepeats || st.Invalid != 0 {
		t.Fatalf("stats %+v", st)
	}
	if !strings.Contains(stderr, fmt.Sprintf("(%d duplicates ignored)", dupRepeats)) {
		t.Errorf("summary lacks the duplicates: %s", stderr)
	}
	want, _, _ := replayBytes(t, Default(), ReplayOptions{Inputs: []string{hammerEvents}})
	if out != want {
		t.Fatalf("replay with repeats differs:\n%s\nwant\n%s", out, want)
	}

	// Unknown recipients are counted distinct, so repeats matter through
	// the attempts: with a later crossing (more attempts needed) they
	// change the verdict unless they are deduplicated.
	on := Default()
	on.Rules.InvalidRecipients.MinAttempts = 40
	want, _, _ = replayBytes(t, on, ReplayOptions{Inputs: []string{hammerEvents}})
	if got, _, _ := replayBytes(t, on, ReplayOptions{Inputs: []string{dupEvents}}); got != want || want == "" {
		t.Fatalf("with min_attempts 40, replay with repeats differs:\n%s\nwant\n%s", got, want)
	}
	off := on
	off.Dedup.MaxIDs = 0
	counted, _, st := replayBytes(t, off, ReplayOptions{Inputs: []string{dupEvents}})
	if st.Duplicates != 0 || counted == want {
		t.Fatalf("without deduplication the repeats change nothing (%+v): the scenario tests nothing", st)
	}
}

// at is a fixed event time plus d.
func at(d time.Duration) time.Time { return time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC).Add(d) }

func unknownEvent(id string, ts time.Time) *event.DeliveryEvent {
	return &event.DeliveryEvent{ID: id, TS: ts, Sender: "list@bulk.example", Recipient: "r-" + id + "@rcpt.example", Status: event.StatusBounced, Reason: "user_unknown"}
}

// process runs ev and returns whether it was processed (not a repeat).
func process(t *testing.T, p *Processor, ev *event.DeliveryEvent) bool {
	t.Helper()
	var out Output
	ok, err := p.Process(ev, &out)
	if err != nil {
		t.Fatal(err)
	}
	if !ok && (len(out.Verdicts) > 0 || len(out.Bans) > 0) {
		t.Fatal("a repeat produced output")
	}
	return ok
}

func TestProcessorDedup(t *testing.T) {
	cfg := Default()
	onlyRules(t, &cfg, CodeInvalidRecipientsForTest)
	cfg.Rules.InvalidRecipients.MinAttempts = 3
	cfg.Rules.InvalidRecipients.MinUnknown = 3
	p, err := NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	var out Output
	// Two distinct events, each repeated: the rule counts two, not four.
	for _, id := range []string{"mx1:1:100", "mx1:1:100", "mx1:1:200", "mx1:1:100", "mx1:1:200"} {
		out.Reset()
		if _, err := p.Process(unknownEvent(id, at(0)), &out); err != nil {
			t.Fatal(err)
		}
		if len(out.Verdicts) > 0 {
			t.Fatalf("verdict after id %s: repeats were counted", id)
		}
	}
	if d := p.Dedup(); d.Duplicates != 3 || d.IDs != 2 {
		t.Fatalf("dedup stats %+v", d)
	}
	// The third distinct event is the third attempt: the rule fires, with
	// the counts of distinct events only.
	out.Reset()
	if ok, err := p.Process(unknownEvent("mx1:1:300", at(time.Second)), &out); err != nil || !ok {
		t.Fatalf("ok %v err %v", ok, err)
	}
	if len(out.Verdicts) != 1 || out.Verdicts[0].Evidence["attempts"] != 3 {
		t.Fatalf("verdicts %+v", out.Verdicts)
	}

	// Events without an id are never deduplicated.
	for range 3 {
		if !process(t, p, unknownEvent("", at(time.Second))) {
			t.Fatal("an event without id was taken for a repeat")
		}
	}

	// An event refused as from the future is not remembered: when it
	// comes again once the clock caught up, it is processed.
	now := fixedNow()
	p2, err := NewProcessor(cfg, rules.StageSender, Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	future := unknownEvent("mx9:1:1", now.Add(time.Hour))
	if _, err := p2.Process(future, &out); err == nil {
		t.Fatal("future event accepted")
	}
	now = now.Add(time.Hour)
	if !process(t, p2, future) || process(t, p2, future) {
		t.Fatal("future event remembered when refused, or its repeat not recognised")
	}

	// dedup.max_ids 0 turns deduplication off.
	cfg.Dedup.MaxIDs = 0
	p3, err := NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	first := process(t, p3, unknownEvent("x", at(0)))
	if again := process(t, p3, unknownEvent("x", at(0))); !first || !again {
		t.Fatal("deduplicating with max_ids 0")
	}
	if p3.Dedup() != (dedup.Stats{}) {
		t.Fatalf("stats %+v", p3.Dedup())
	}
}

// TestProcessorDedupBounds: dedup.max_ids bounds the ids remembered, and an
// id is forgotten once its event time is more than the longest rule window
// plus DedupSlack behind the watermark; a repeat that old is late for the
// rule, so it is still not counted twice.
func TestProcessorDedupBounds(t *testing.T) {
	cfg := Default()
	cfg.Dedup.MaxIDs = 10 // under 16: the Set forgets one id at a time
	onlyRules(t, &cfg, "invalid_recipients")
	cfg.Rules.InvalidRecipients.Window = 2 * time.Hour
	p, err := NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	// Count: 11 distinct ids, the first is forgotten, the second is not.
	for i := range 11 {
		process(t, p, &event.DeliveryEvent{ID: fmt.Sprint("c", i), TS: at(0), Sender: fmt.Sprintf("s%d@x.example", i), Status: event.StatusSent})
	}
	if d := p.Dedup(); d.IDs != 10 || d.Dropped != 1 {
		t.Fatalf("stats %+v", d)
	}
	if !process(t, p, &event.DeliveryEvent{ID: "c0", TS: at(0), Sender: "s0@x.example", Status: event.StatusSent}) {
		t.Fatal("c0 still remembered past max_ids")
	}
	if process(t, p, &event.DeliveryEvent{ID: "c2", TS: at(0), Sender: "s2@x.example", Status: event.StatusSent}) {
		t.Fatal("c2 forgotten")
	}

	// Time: horizon = 2h (the window) + DedupSlack.
	horizon := 2*time.Hour + DedupSlack
	p, err = NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow})
	if err != nil {
		t.Fatal(err)
	}
	old := unknownEvent("old", at(0))
	process(t, p, old)
	process(t, p, unknownEvent("tick1", at(horizon))) // exactly the horizon behind: kept
	if process(t, p, old) {
		t.Fatal("forgotten at the horizon")
	}
	process(t, p, unknownEvent("tick2", at(horizon+time.Nanosecond)))
	if d := p.Dedup(); d.Expired != 1 || d.IDs != 2 {
		t.Fatalf("stats %+v", d)
	}
	// Forgotten, and refused as late: a repeat that old is never counted.
	var out Output
	if ok, err := p.Process(old, &out); ok || !errors.Is(err, ErrLateEvent) {
		t.Fatalf("a repeat past the horizon: processed %v, err %v", ok, err)
	}
}
