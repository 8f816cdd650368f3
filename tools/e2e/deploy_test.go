package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
)

// The configuration shipped in deploy/k8s/base must be accepted by the
// services it is for (unknown keys and invalid values are errors), and
// every resource a kustomization names must exist. tools/deploy renders
// the overlays and checks every ConfigMap they ship the same way.
func TestDeployManifests(t *testing.T) {
	bin := binaries(t)
	root := testbin.RepoRoot()
	for _, svc := range []string{"ingest", "detector", "enforcer"} {
		t.Run(svc, func(t *testing.T) {
			cm, err := os.ReadFile(filepath.Join(root, "deploy", "k8s", "base", svc, "configmap.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			cfg := configMapFile(t, string(cm), "config.yaml")
			file := filepath.Join(t.TempDir(), "config.yaml")
			if err := os.WriteFile(file, []byte(cfg), 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(filepath.Join(bin, svc), "check", "--config", file).CombinedOutput()
			if err != nil {
				t.Fatalf("%s check rejects deploy/k8s/base/%s/configmap.yaml: %v\n%s", svc, svc, err, out)
			}
		})
	}
	t.Run("enforcer.example.yaml", func(t *testing.T) {
		out, err := exec.Command(filepath.Join(bin, "enforcer"), "check", "--config",
			filepath.Join(root, "services", "enforcer", "enforcer.example.yaml")).CombinedOutput()
		if err != nil {
			t.Fatalf("enforcer check rejects enforcer.example.yaml: %v\n%s", err, out)
		}
	})
	for _, dir := range []string{"base", "base/ingest", "base/detector", "base/enforcer"} {
		k, err := os.ReadFile(filepath.Join(root, "deploy", "k8s", dir, "kustomization.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		inResources := false
		for _, line := range strings.Split(string(k), "\n") {
			switch {
			case strings.HasPrefix(line, "resources:"):
				inResources = true
			case inResources && strings.HasPrefix(strings.TrimSpace(line), "- "):
				res := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "- "))
				if _, err := os.Stat(filepath.Join(root, "deploy", "k8s", dir, res)); err != nil {
					t.Errorf("deploy/k8s/%s/kustomization.yaml names %s: %v", dir, res, err)
				}
			case inResources && line != "" && !strings.HasPrefix(line, " "):
				inResources = false
			}
		}
	}
}

// configMapFile extracts a literal block ("key: |") from a ConfigMap.
func configMapFile(t *testing.T, cm, key string) string {
	t.Helper()
	lines := strings.Split(cm, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != key+": |" {
			continue
		}
		indent := len(l) - len(strings.TrimLeft(l, " ")) + 2
		var b strings.Builder
		for _, body := range lines[i+1:] {
			if strings.TrimSpace(body) != "" && len(body)-len(strings.TrimLeft(body, " ")) < indent {
				break
			}
			if len(body) >= indent {
				body = body[indent:]
			}
			b.WriteString(body + "\n")
		}
		return b.String()
	}
	t.Fatalf("no %q block in the ConfigMap", key)
	return ""
}
