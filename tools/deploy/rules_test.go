package deploy

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/mxwarden/mxwarden/tools/deploy/internal/gen"
)

// The generated files (PrometheusRule, dashboards) match their sources.
func TestGeneratedInSync(t *testing.T) {
	files, err := gen.Files(repoRoot())
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(repoRoot(), name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s is out of date with its source (%v): run `cd tools/deploy && go run ./cmd/gen`", name, err)
		}
	}
}

// promtool finds the promtool binary: $PROMTOOL, .cache/prometheus (from
// scripts/prometheus/setup.sh, which make test runs), or PATH.
func promtool(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("PROMTOOL"), filepath.Join(repoRoot(), ".cache", "prometheus", "usr", "bin", "promtool")} {
		if p != "" && fileExists(p) {
			return p
		}
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no promtool: run scripts/prometheus/setup.sh (make test does)")
	}
	t.Skip("no promtool: run scripts/prometheus/setup.sh")
	return ""
}

// `promtool check rules` and `promtool test rules`: every alert fires in
// its case and stays silent in its near miss (mxwarden.rules.test.yml).
func TestAlertRulesPromtool(t *testing.T) {
	pt := promtool(t)
	dir := filepath.Join(repoRoot(), "deploy", "prometheus")
	for _, args := range [][]string{
		{"check", "rules", "mxwarden.rules.yml"},
		{"test", "rules", "mxwarden.rules.test.yml"},
		{"check", "config", "prometheus.example.yml"},
	} {
		cmd := exec.Command(pt, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		} else {
			t.Logf("promtool %s:\n%s", strings.Join(args, " "), out)
		}
	}
}

type rule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func alertRules(t *testing.T) []rule {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot(), gen.RulesFile))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Groups []struct {
			Rules []rule `json:"rules"`
		} `json:"groups"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	var out []rule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// Every alert has for:, a severity, summary and description, a runbook
// in docs/runbooks/<alert>.md that its runbook_url names, and a unit test.
func TestAlertsComplete(t *testing.T) {
	tests, err := os.ReadFile(filepath.Join(repoRoot(), "deploy", "prometheus", "mxwarden.rules.test.yml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"MxwardenQueueFlood", "MxwardenDeferralSurge", "MxwardenBanWave", "MxwardenPipelineStalled",
		"MxwardenServiceDown", "MxwardenClickHouseWriterBehind", "MxwardenEnforcerKafkaUnreachable", "MxwardenDNSLookupsFailing"}
	have := map[string]bool{}
	for _, r := range alertRules(t) {
		have[r.Alert] = true
		if r.For == "" {
			t.Errorf("%s: no for:", r.Alert)
		}
		if s := r.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q, want critical or warning", r.Alert, s)
		}
		for _, a := range []string{"summary", "description", "runbook_url"} {
			if r.Annotations[a] == "" {
				t.Errorf("%s: no %s annotation", r.Alert, a)
			}
		}
		rb := "docs/runbooks/" + r.Alert + ".md"
		if !strings.HasSuffix(r.Annotations["runbook_url"], "/"+rb) {
			t.Errorf("%s: runbook_url %q does not point at %s", r.Alert, r.Annotations["runbook_url"], rb)
		}
		text, err := os.ReadFile(filepath.Join(repoRoot(), rb))
		if err != nil {
			t.Errorf("%s: %v", r.Alert, err)
		} else {
			for _, sec := range []string{"## What it means", "## First checks", "## Silence", "## Fix"} {
				if !strings.Contains(string(text), sec) {
					t.Errorf("%s lacks a %q section", rb, sec)
				}
			}
		}
		if !regexp.MustCompile(`alertname: `+r.Alert+`\n\s+exp_alerts: \[\]`).Match(tests) ||
			!regexp.MustCompile(`alertname: `+r.Alert+`\n\s+exp_alerts:\n`).Match(tests) {
			t.Errorf("%s: the promtool tests need a case where it fires and one where it stays silent", r.Alert)
		}
	}
	for _, a := range want {
		if !have[a] {
			t.Errorf("no alert %s", a)
		}
	}
}

// Every Prometheus query of the dashboards is valid PromQL: each is
// checked by promtool as a recording rule (Grafana's $__rate_interval and
// $__range replaced by durations).
func TestDashboardQueriesParse(t *testing.T) {
	pt := promtool(t)
	var rules []map[string]any
	for name, d := range gen.Dashboards() {
		for _, p := range d["panels"].([]any) {
			panel := p.(map[string]any)
			targets, _ := panel["targets"].([]any)
			for _, tg := range targets {
				expr, ok := tg.(map[string]any)["expr"].(string)
				if !ok {
					continue
				}
				expr = strings.NewReplacer("$__rate_interval", "5m", "$__range", "1h").Replace(expr)
				rules = append(rules, map[string]any{
					"record": fmt.Sprintf("dashboard:%s:%d", strings.ReplaceAll(name, "-", "_"), len(rules)),
					"expr":   expr,
				})
			}
		}
	}
	if len(rules) < 10 {
		t.Fatalf("only %d dashboard queries found", len(rules))
	}
	b, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboards", "rules": rules}}})
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), "dashboards.rules.yml")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(pt, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("dashboard queries do not parse: %v\n%s", err, out)
	}
}
