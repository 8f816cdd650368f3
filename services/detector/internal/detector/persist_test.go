package detector

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// compacted is a changelog after compaction: the last value per key.
type compacted struct {
	keys []string
	vals map[string][]byte
}

func (c *compacted) emit(k, v []byte) {
	if c.vals == nil {
		c.vals = map[string][]byte{}
	}
	ks := string(k)
	if _, ok := c.vals[ks]; !ok {
		c.keys = append(c.keys, ks)
	}
	if v == nil {
		c.vals[ks] = nil
	} else {
		c.vals[ks] = slices.Clone(v)
	}
}

func (c *compacted) restore(t *testing.T, p *Processor) RestoreStats {
	t.Helper()
	var st RestoreStats
	for _, k := range c.keys {
		p.Restore([]byte(k), c.vals[k], &st)
	}
	if err := p.FinishRestore(&st); err != nil {
		t.Fatal(err)
	}
	if st.Discarded != 0 {
		t.Fatalf("restore discarded %d records", st.Discarded)
	}
	return st
}

func readEvents(t testing.TB, path string) []*event.DeliveryEvent {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []*event.DeliveryEvent
	for _, l := range lines(b) {
		ev, err := event.UnmarshalEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// banLine is what must match between runs: subject, rule, window, evidence, level, id.
func banLine(b *event.Ban) string {
	return fmt.Sprintf("%s %s:%s %s..%s %v level=%d id=%s", b.Rule, b.SubjectKind, b.Subject,
		b.WindowStart.Format(time.RFC3339), b.WindowEnd.Format(time.RFC3339), b.Evidence, b.Level, b.ID)
}

// runRestarting processes evs, flushing every `every` events and, at each
// of the restart points, throwing the processor away and restoring a new
// one from the compacted changelog.
func runRestarting(t *testing.T, cfg Config, evs []*event.DeliveryEvent, every int, restarts []int) []string {
	t.Helper()
	newProc := func() *Processor {
		p, err := NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow, Persist: true})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	var log compacted
	p := newProc()
	var bans []string
	var out Output
	for i, ev := range evs {
		if slices.Contains(restarts, i) {
			// What was processed since the last flush is lost, as after a
			// kill -9: the input is consumed again from the flushed point.
			p = newProc()
			log.restore(t, p)
		}
		c := *ev
		out.Reset()
		if _, err := p.Process(&c, &out); errors.Is(err, ErrLateEvent) {
			bans = append(bans, "late "+c.ID) // refused the same way after a restore
		} else if err != nil {
			t.Fatal(err)
		}
		for j := range out.Bans {
			bans = append(bans, banLine(&out.Bans[j]))
		}
		if (i+1)%every == 0 || i == len(evs)-1 {
			p.Flush(log.emit)
		}
	}
	return bans
}

// TestRestoreScenarios: for every scenario, a run flushed every few events
// and restored from its changelog at several points gives the bans of an
// undisturbed run.
func TestRestoreScenarios(t *testing.T) {
	for _, dir := range scenarioDirs(t) {
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			cfg := scenarioConfig(t, dir)
			evs := readEvents(t, filepath.Join(dir, "events.jsonl"))
			want := runRestarting(t, cfg, evs, 1, nil)
			for _, every := range []int{1, 7, 50} {
				var restarts []int
				for r := every; r < len(evs); r += max(every, len(evs)/5) {
					restarts = append(restarts, r-r%every) // at flush points only: Flush happened right before
				}
				if got := runRestarting(t, cfg, evs, every, restarts); !slices.Equal(got, want) {
					t.Fatalf("flush every %d, restarts at %v:\n%s\nwant\n%s", every, restarts, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
			}
		})
	}
}

// TestRestoreSketches: state with HyperLogLog sketches, fingerprints and
// marks round-trips through the changelog (a sender past 64 distinct
// unknown recipients), and a layout change discards the old state.
func TestRestoreRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var evs []*event.DeliveryEvent
	for i := range 6000 {
		s := rng.IntN(40)
		if i%4 == 0 {
			s = 0 // one heavy sender: past 64 distinct unknown recipients, on HyperLogLog
		}
		ev := &event.DeliveryEvent{
			ID: fmt.Sprint("r", i), TS: at(time.Duration(i) * 2 * time.Second),
			Sender: fmt.Sprintf("s%d@x%d.example", s, s%3), Recipient: fmt.Sprintf("u%d@r.example", rng.IntN(3000)),
			Status: event.StatusSent, SASLUser: fmt.Sprint("acct", s%5),
		}
		if s < 4 || rng.IntN(30) == 0 {
			ev.Status, ev.Reason = event.StatusBounced, event.ReasonUserUnknown
		}
		if i%97 == 0 && i > 0 {
			ev.ID = fmt.Sprint("r", i-1) // a repeat
		}
		evs = append(evs, ev)
	}
	cfg := Default()
	onlyRules(t, &cfg, CodeInvalidRecipientsForTest)
	cfg.Ban.TTL = 20 * time.Minute
	cfg.Ban.MaxTTL = time.Hour
	want := runRestarting(t, cfg, evs, 1, nil)
	if len(want) < 5 {
		t.Fatalf("only %d bans: the test would test little", len(want))
	}
	got := runRestarting(t, cfg, evs, 100, []int{700, 2300, 2400, 5000})
	if !slices.Equal(got, want) {
		t.Fatalf("restored run differs:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// Another layout (a longer window): the changelog's tables are discarded.
	var log compacted
	p, _ := NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow, Persist: true})
	var out Output
	for _, ev := range evs[:1000] {
		c := *ev
		p.Process(&c, &out)
	}
	p.Flush(log.emit)
	cfg2 := cfg
	cfg2.Rules.InvalidRecipients.Window = 2 * time.Hour
	p2, _ := NewProcessor(cfg2, rules.StageSender, Options{Now: fixedNow, Persist: true})
	var st RestoreStats
	for _, k := range log.keys {
		p2.Restore([]byte(k), log.vals[k], &st)
	}
	if err := p2.FinishRestore(&st); err != nil || st.Keys != 0 || st.Discarded == 0 {
		t.Fatalf("restore under another layout: %+v, %v", st, err)
	}
}

// TestPartitionsDeterministic: every scenario, and a random stream, through
// one processor and through six (events split by account, as mail.events
// is keyed) give the same bans: subject, rule, window, evidence, level, id.
func TestPartitionsDeterministic(t *testing.T) {
	type input struct {
		name string
		cfg  Config
		evs  []*event.DeliveryEvent
	}
	var inputs []input
	for _, dir := range scenarioDirs(t) {
		cfg := scenarioConfig(t, dir)
		evs := readEvents(t, filepath.Join(dir, "events.jsonl"))
		// The claim holds while no event comes more than the window after
		// a newer one (lateness is judged on the partition's clock): the
		// window_edges case has such events on purpose.
		var newest time.Time
		late := false
		for _, ev := range evs {
			late = late || ev.TS.Before(newest.Add(-cfg.Rules.InvalidRecipients.Window))
			if ev.TS.After(newest) {
				newest = ev.TS
			}
		}
		if late {
			t.Logf("%s: events more than a window out of order, skipped", dir)
			continue
		}
		inputs = append(inputs, input{filepath.Base(dir), cfg, evs})
	}
	rng := rand.New(rand.NewPCG(3, 4))
	var evs []*event.DeliveryEvent
	for i := range 20000 {
		s := rng.IntN(30)
		ev := &event.DeliveryEvent{ID: fmt.Sprint("p", i), TS: at(time.Duration(i)*time.Second + time.Duration(rng.IntN(120))*time.Second),
			Sender: fmt.Sprintf("s%d@x.example", s), Recipient: fmt.Sprintf("u%d@r.example", rng.IntN(500)),
			Status: event.StatusSent, SASLUser: fmt.Sprint("acct", s/3)}
		if rng.IntN(100) < s%20 {
			ev.Status, ev.Reason = event.StatusBounced, event.ReasonUserUnknown
		}
		evs = append(evs, ev)
	}
	rcfg := Default()
	rcfg.Ban.TTL, rcfg.Ban.MaxTTL = 30*time.Minute, 2*time.Hour
	inputs = append(inputs, input{"random", rcfg, evs})
	run := func(t *testing.T, cfg Config, evs []*event.DeliveryEvent, parts int) []string {
		procs := make([]*Pipeline, parts)
		for i := range procs {
			p, err := NewPipeline(cfg, Options{Now: fixedNow})
			if err != nil {
				t.Fatal(err)
			}
			procs[i] = p
		}
		var bans []string
		var out Output
		for _, ev := range evs {
			c := *ev
			out.Reset()
			if _, err := procs[int(state.Hash(c.Account())%uint64(parts))].Process(&c, &out); err != nil && !errors.Is(err, ErrLateEvent) {
				t.Fatal(err)
			}
			for j := range out.Bans {
				bans = append(bans, banLine(&out.Bans[j]))
			}
		}
		slices.Sort(bans)
		return bans
	}
	for _, in := range inputs {
		t.Run(in.name, func(t *testing.T) {
			one := run(t, in.cfg, in.evs, 1)
			if again := run(t, in.cfg, in.evs, 1); !slices.Equal(one, again) {
				t.Fatal("two replays differ")
			}
			if six := run(t, in.cfg, in.evs, 6); !slices.Equal(one, six) {
				t.Fatalf("6 partitions:\n%s\n1 partition:\n%s", strings.Join(six, "\n"), strings.Join(one, "\n"))
			}
			if in.name == "random" && len(one) < 10 {
				t.Fatalf("only %d bans", len(one))
			}
		})
	}
}
