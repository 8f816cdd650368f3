// Package gen produces the generated deployment files from their one
// source: the PrometheusRule from deploy/prometheus/mxwarden.rules.yml, and
// the Grafana dashboards from the definitions in dashboards.go. `go run
// ./cmd/gen` (in tools/deploy) writes them; TestGeneratedInSync fails when
// a checked-in copy differs.
package gen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"sigs.k8s.io/yaml"
)

// RulesFile is the source of the alert rules, relative to the repo root.
const RulesFile = "deploy/prometheus/mxwarden.rules.yml"

// Files returns every generated file (path relative to the repo root ->
// content), built from the sources under root.
func Files(root string) (map[string][]byte, error) {
	src, err := os.ReadFile(filepath.Join(root, RulesFile))
	if err != nil {
		return nil, err
	}
	pr, err := PrometheusRule(src)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{"deploy/k8s/base/monitoring/prometheusrule.yaml": pr}
	for name, d := range Dashboards() {
		b, err := json.MarshalIndent(d, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("dashboard %s: %w", name, err)
		}
		out["deploy/k8s/base/monitoring/dashboards/"+name+".json"] = append(b, '\n')
	}
	return out, nil
}

// PrometheusRule wraps a Prometheus rules file into the Prometheus
// Operator's PrometheusRule, groups unchanged.
func PrometheusRule(rules []byte) ([]byte, error) {
	var file struct {
		Groups []json.RawMessage `json:"groups"`
	}
	if err := yaml.UnmarshalStrict(rules, &file); err != nil {
		return nil, fmt.Errorf("%s: %w", RulesFile, err)
	}
	if len(file.Groups) == 0 {
		return nil, fmt.Errorf("%s: no groups", RulesFile)
	}
	obj := map[string]any{
		"apiVersion": "monitoring.coreos.com/v1",
		"kind":       "PrometheusRule",
		"metadata": map[string]any{
			"name": "mxwarden",
			// kube-prometheus' default ruleSelector.
			"labels": map[string]any{"prometheus": "k8s", "role": "alert-rules"},
		},
		"spec": map[string]any{"groups": file.Groups},
	}
	b, err := yaml.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.WriteString("# Generated from " + RulesFile + " by `cd tools/deploy && go run ./cmd/gen`. Do not edit.\n")
	buf.Write(b)
	return buf.Bytes(), nil
}
