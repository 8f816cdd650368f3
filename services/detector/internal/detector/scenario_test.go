package detector

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/event"
)

var update = flag.Bool("update", false, "rewrite the scenarios' golden files")

// fixedNow is the wall clock of replays in tests: after every scenario.
func fixedNow() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// scenarioExpect states, per scenario, what its golden files must show,
// so a regenerated golden file that changes meaning fails review loudly.
var scenarioExpect = map[string]struct {
	verdicts []string // "subject action[ shadow]", in order
	levels   []int    // ban levels, in order
}{
	"hammer_invalid_recipients": {verdicts: []string{"list@bulk-sender.example ban"}, levels: []int{1}},
	"below_min_volume":          {},
	"shadow":                    {verdicts: []string{"list@bulk-sender.example flag shadow"}},
	"escalation": {
		verdicts: []string{"repeat@offender.example ban", "repeat@offender.example ban", "repeat@offender.example ban", "repeat@offender.example ban"},
		levels:   []int{1, 2, 3, 1},
	},
	"window_edges": {verdicts: []string{"gina@shuffle.example ban"}, levels: []int{1}},
	// The hammer's events with three slices repeated (ingest re-reading
	// after crashes): the same verdict and ban, byte for byte (TestDuplicatesScenario).
	"duplicates": {verdicts: []string{"list@bulk-sender.example ban"}, levels: []int{1}},
}

// TestScenarios replays testdata/scenarios/<name>/events.jsonl with the
// scenario's config.yaml (optional, over the defaults) and compares the
// verdicts and bans with verdicts.golden.jsonl and bans.golden.jsonl.
// Regenerate with: go test ./internal/detector -run TestScenarios -update
func TestScenarios(t *testing.T) {
	dirs, err := filepath.Glob("testdata/scenarios/*")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios: %v", err)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			cfg := scenarioConfig(t, dir)
			verdicts := replayGolden(t, cfg, dir, "verdicts.golden.jsonl", false)
			bans := replayGolden(t, cfg, dir, "bans.golden.jsonl", true)
			want, ok := scenarioExpect[name]
			if !ok {
				t.Fatalf("scenario %s has no entry in scenarioExpect", name)
			}
			var got []string
			for _, line := range verdicts {
				v, err := event.UnmarshalVerdict(line)
				if err != nil {
					t.Fatalf("verdict does not validate: %v\n%s", err, line)
				}
				s := v.Subject + " " + string(v.Action)
				if v.Shadow {
					s += " shadow"
				}
				got = append(got, s)
			}
			if !slices.Equal(got, want.verdicts) {
				t.Errorf("verdicts %q, want %q", got, want.verdicts)
			}
			var levels []int
			for _, line := range bans {
				b, err := event.UnmarshalBan(line)
				if err != nil {
					t.Fatalf("ban does not validate: %v\n%s", err, line)
				}
				if b.Source != "rule" || b.Shadow || b.Action != event.ActionBan || b.Expires.IsZero() {
					t.Errorf("ban %s: source %q shadow %v action %s expires %v", b.ID, b.Source, b.Shadow, b.Action, b.Expires)
				}
				levels = append(levels, b.Level)
			}
			if !slices.Equal(levels, want.levels) {
				t.Errorf("ban levels %v, want %v", levels, want.levels)
			}
		})
	}
}

func scenarioConfig(t *testing.T, dir string) Config {
	t.Helper()
	cfg := Default()
	var args []string
	if p := filepath.Join(dir, "config.yaml"); fileExists(p) {
		args = []string{"--config", p}
	}
	if _, err := config.Load(args, func() []string { return nil }, EnvPrefix, &cfg); err != nil {
		t.Fatalf("load scenario config: %v", err)
	}
	return cfg
}

// replayGolden replays dir's events and checks the output against golden
// (or rewrites it with -update). It returns the output lines.
func replayGolden(t *testing.T, cfg Config, dir, golden string, bans bool) [][]byte {
	t.Helper()
	var out, stderr bytes.Buffer
	st, err := Replay(context.Background(), cfg, ReplayOptions{
		Inputs: []string{filepath.Join(dir, "events.jsonl")},
		Stdout: &out, Stderr: &stderr, Bans: bans, Now: fixedNow,
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if st.Invalid != 0 {
		t.Fatalf("%d invalid lines:\n%s", st.Invalid, stderr.String())
	}
	path := filepath.Join(dir, golden)
	if *update {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create it): %v", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("%s differs (run with -update and review the diff):\n%s", golden, lineDiff(want, out.Bytes()))
	}
	return lines(out.Bytes())
}

func lines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, MaxLineLen)
	for sc.Scan() {
		out = append(out, slices.Clone(sc.Bytes()))
	}
	return out
}

func lineDiff(want, got []byte) string {
	w, g := lines(want), lines(got)
	var buf bytes.Buffer
	for i := range max(len(w), len(g)) {
		var a, b []byte
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if !bytes.Equal(a, b) {
			fmt.Fprintf(&buf, "line %d:\n- %s\n+ %s\n", i+1, a, b)
		}
	}
	return buf.String()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
