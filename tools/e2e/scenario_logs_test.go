package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
)

// TestScenarioLogs: a detector scenario case that keeps the log its events
// came from (testdata/<rule>/<case>/maillog) still gets exactly its
// events.jsonl from `ingest parse --host mx1 maillog`, and `ingest parse |
// detector replay --bans` (with the case's config.yaml) gives its
// bans.golden.jsonl: the two services' contract, checked on real log lines.
func TestScenarioLogs(t *testing.T) {
	bin := binaries(t)
	logs, err := filepath.Glob(filepath.Join(testbin.RepoRoot(), "services/detector/internal/rules/testdata/*/*/maillog"))
	if err != nil || len(logs) == 0 {
		t.Fatalf("no scenario with a maillog: %v", err)
	}
	for _, log := range logs {
		dir := filepath.Dir(log)
		t.Run(filepath.Base(filepath.Dir(dir))+"/"+filepath.Base(dir), func(t *testing.T) {
			parse := exec.Command(filepath.Join(bin, "ingest"), "parse", "--host", "mx1", "maillog")
			parse.Dir = dir
			var events, stderr bytes.Buffer
			parse.Stdout, parse.Stderr = &events, &stderr
			if err := parse.Run(); err != nil {
				t.Fatalf("ingest parse: %v\n%s", err, stderr.String())
			}
			want, err := os.ReadFile(filepath.Join(dir, "events.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(events.Bytes(), want) {
				t.Fatalf("ingest parse of maillog no longer gives events.jsonl (regenerate it with `ingest parse --host mx1 maillog` in %s and review the goldens)", dir)
			}
			args := []string{"replay", "--bans"}
			if _, err := os.Stat(filepath.Join(dir, "config.yaml")); err == nil {
				args = append(args, "--config", filepath.Join(dir, "config.yaml"))
			}
			replay := exec.Command(filepath.Join(bin, "detector"), args...)
			var bans bytes.Buffer
			stderr.Reset()
			replay.Stdin, replay.Stdout, replay.Stderr = &events, &bans, &stderr
			if err := replay.Run(); err != nil {
				t.Fatalf("detector replay: %v\n%s", err, stderr.String())
			}
			golden, err := os.ReadFile(filepath.Join(dir, "bans.golden.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(bans.Bytes(), golden) || len(golden) == 0 {
				t.Fatalf("ingest parse | detector replay --bans:\n%s\nwant (bans.golden.jsonl):\n%s", bans.String(), golden)
			}
		})
	}
}
