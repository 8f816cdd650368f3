package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
	"github.com/mxwarden/mxwarden/tools/traffic"
)

// TestLabelledTraffic runs two days of labelled traffic (Postfix and Exim
// logs) through the real binaries as a user would — `ingest parse` on each
// log, the events merged by time, `detector replay --bans` with every rule
// on — and checks the labels: every abuse family banned by its rule within
// its activity (plus a day of slack), no benign identity banned by any
// rule. Precision and recall per rule are printed (make bench shows them).
func TestLabelledTraffic(t *testing.T) {
	bin := testbin.Dir(t)
	dir := t.TempDir()
	tr := traffic.Generate(1)
	files := map[string][]byte{"postfix.log": tr.Postfix, "exim.log": tr.Exim, "domainowners": tr.OwnerFile}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type line struct {
		ts  time.Time
		raw []byte
	}
	var events []line
	for _, f := range []struct{ log, format string }{{"postfix.log", "postfix"}, {"exim.log", "exim"}} {
		cmd := exec.Command(filepath.Join(bin, "ingest"), "parse", "--format", f.format, filepath.Join(dir, f.log))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("ingest parse %s: %v\n%s", f.log, err, stderr.Bytes())
		}
		if !strings.Contains(stderr.String(), " 0 rejected") {
			t.Errorf("ingest parse %s rejected lines of the generator: %s", f.log, stderr.Bytes())
		}
		sc := bufio.NewScanner(bytes.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e struct {
				TS time.Time `json:"ts"`
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatalf("event: %v", err)
			}
			events = append(events, line{e.TS, append([]byte(nil), sc.Bytes()...)})
		}
	}
	// Many MTA hosts feed one topic: their events meet roughly in time order.
	sort.SliceStable(events, func(i, j int) bool { return events[i].ts.Before(events[j].ts) })
	var in bytes.Buffer
	for _, e := range events {
		in.Write(e.raw)
		in.WriteByte('\n')
	}

	rules := registeredRules(t, bin)
	cmd := exec.Command(filepath.Join(bin, "detector"), "replay", "--bans",
		"--set", "rules.spoofing.owner_files="+filepath.Join(dir, "domainowners"))
	cmd.Stdin = &in
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("detector replay: %v\n%s", err, stderr.Bytes())
	}
	var bans []traffic.Ban
	for _, l := range bytes.Split(bytes.TrimSpace(out), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		var b traffic.Ban
		if err := json.Unmarshal(l, &b); err != nil {
			t.Fatalf("ban %s: %v", l, err)
		}
		bans = append(bans, b)
	}
	rep := traffic.Score(tr.Families, bans, rules, 24*time.Hour)
	for _, s := range rep.Rules {
		t.Logf("rule %-22s precision %.2f recall %.2f (%d of %d families, %d of %d bans right)",
			s.Rule, s.Precision(), s.Recall(), s.Caught, s.Families, s.Correct, s.Bans)
	}
	t.Logf("%d events, %d ban records, %d families", len(events), len(bans), len(tr.Families))
	for _, p := range rep.Problems {
		t.Error(p)
	}
}

// registeredRules asks the detector which rules it has (its effective
// configuration, as `detector check` prints it).
func registeredRules(t *testing.T, bin string) []string {
	t.Helper()
	out, err := exec.Command(filepath.Join(bin, "detector"), "check").Output()
	if err != nil {
		t.Fatalf("detector check: %v", err)
	}
	var cfg struct {
		Rules map[string]json.RawMessage `json:"rules"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("detector check output: %v", err)
	}
	var rules []string
	for r := range cfg.Rules {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	return rules
}
