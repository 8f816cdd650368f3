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
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/event"
)

var update = flag.Bool("update", false, "rewrite the scenarios' golden files")

// fixedNow is the wall clock of replays in tests: after every scenario.
func fixedNow() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) }

// scenarioRoot holds the rules' scenarios: <rule>/<case>/.
const scenarioRoot = "../rules/testdata"

// scenarioDirs lists every scenario directory, sorted.
func scenarioDirs(t testing.TB) []string {
	dirs, err := filepath.Glob(filepath.Join(scenarioRoot, "*", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no scenarios under %s: %v", scenarioRoot, err)
	}
	var out []string
	for _, d := range dirs {
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			out = append(out, d)
		}
	}
	slices.Sort(out)
	return out
}

// TestScenarios runs every scenario of every rule (see internal/rules/doc.go
// for the layout): events.jsonl through `detector replay` with the case's
// config.yaml over the defaults, checked against expect.txt (what must
// fire, written by a person) and against the goldens (every byte).
// Regenerate the goldens with: go test ./internal/detector -run TestScenarios -update
func TestScenarios(t *testing.T) {
	for _, dir := range scenarioDirs(t) {
		name := filepath.Base(filepath.Dir(dir)) + "/" + filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			cfg := scenarioConfig(t, dir)
			want, invalid := readExpect(t, dir)
			verdicts := replayGolden(t, cfg, dir, "verdicts.golden.jsonl", false, invalid)
			bans := replayGolden(t, cfg, dir, "bans.golden.jsonl", true, invalid)
			var got []string
			bi := 0
			for _, line := range verdicts {
				v, err := event.UnmarshalVerdict(line)
				if err != nil {
					t.Fatalf("verdict does not validate: %v\n%s", err, line)
				}
				s := fmt.Sprintf("%s %s:%s %s", v.Rule, v.SubjectKind, v.Subject, v.Action)
				if v.Shadow {
					s += " shadow"
				}
				if v.Action != event.ActionFlag && !v.Shadow {
					if bi >= len(bans) {
						t.Fatalf("verdict %s without its ban", v.ID)
					}
					b, err := event.UnmarshalBan(bans[bi])
					if err != nil {
						t.Fatalf("ban does not validate: %v\n%s", err, bans[bi])
					}
					bi++
					if b.ID != v.ID || b.Source != "rule" || b.Expires.IsZero() {
						t.Errorf("ban %s: source %q expires %v, for verdict %s", b.ID, b.Source, b.Expires, v.ID)
					}
					s += fmt.Sprintf(" level=%d", b.Level)
				}
				got = append(got, s)
			}
			if bi != len(bans) {
				t.Errorf("%d bans for %d enforced verdicts", len(bans), bi)
			}
			if !slices.Equal(got, want) {
				t.Errorf("verdicts:\n  %s\nwant (expect.txt):\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}
		})
	}
}

// readExpect reads expect.txt: one line per verdict, in order,
// "rule kind:subject action [shadow] [level=N]"; "invalid N" says N input
// lines are refused (dead-lettered by `run`: late, future, undecodable);
// '#' starts a comment; no verdict line means nothing may fire.
func readExpect(t *testing.T, dir string) (verdicts []string, invalid int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "expect.txt"))
	if err != nil {
		t.Fatalf("every scenario needs an expect.txt: %v", err)
	}
	var out []string
	for l := range strings.SplitSeq(string(b), "\n") {
		if i := strings.IndexByte(l, '#'); i >= 0 {
			l = l[:i]
		}
		f := strings.Fields(l)
		switch {
		case len(f) == 2 && f[0] == "invalid":
			if _, err := fmt.Sscan(f[1], &invalid); err != nil {
				t.Fatalf("expect.txt: %q: %v", l, err)
			}
		case len(f) > 0:
			out = append(out, strings.Join(f, " "))
		}
	}
	return out, invalid
}

func scenarioConfig(t testing.TB, dir string) Config {
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
func replayGolden(t *testing.T, cfg Config, dir, golden string, bans bool, invalid int) [][]byte {
	t.Helper()
	var out, stderr bytes.Buffer
	st, err := Replay(context.Background(), cfg, ReplayOptions{
		Inputs: []string{filepath.Join(dir, "events.jsonl")},
		Stdout: &out, Stderr: &stderr, Bans: bans, Now: fixedNow,
	})
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	if st.Invalid != invalid {
		t.Fatalf("%d invalid lines, want %d (expect.txt):\n%s", st.Invalid, invalid, stderr.String())
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
