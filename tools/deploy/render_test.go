package deploy

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
)

// Overlays are the kustomizations a platform team applies.
var Overlays = []string{"dev", "production"}

// object is one rendered Kubernetes object.
type object struct {
	APIVersion string
	Kind       string
	Name       string
	Namespace  string
	Map        map[string]any
	JSON       []byte
}

func (o object) String() string { return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name) }

func repoRoot() string { return testbin.RepoRoot() }

// render builds an overlay with kustomize's Go API, as
// `kubectl apply -k deploy/k8s/overlays/<name>` would.
func render(t *testing.T, overlay string) []object {
	t.Helper()
	return renderDir(t, filepath.Join(repoRoot(), "deploy", "k8s", "overlays", overlay))
}

// renderDir builds the kustomization in dir.
func renderDir(t *testing.T, dir string) []object {
	t.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	var out []object
	for _, r := range rm.Resources() {
		m, err := r.Map()
		if err != nil {
			t.Fatalf("%s: %v", r.CurId(), err)
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, object{
			APIVersion: r.GetApiVersion(), Kind: r.GetKind(), Name: r.GetName(), Namespace: r.GetNamespace(),
			Map: m, JSON: b,
		})
	}
	if len(out) == 0 {
		t.Fatalf("%s renders no object", dir)
	}
	return out
}

func TestOverlaysRender(t *testing.T) {
	for _, ov := range Overlays {
		t.Run(ov, func(t *testing.T) {
			objs := render(t, ov)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.Kind]++
				if o.Kind != "Namespace" && o.Namespace != "mxwarden" {
					t.Errorf("%s: namespace %q, want mxwarden", o, o.Namespace)
				}
			}
			for _, k := range []string{"Namespace", "Deployment", "DaemonSet", "ConfigMap", "Service", "PodDisruptionBudget",
				"NetworkPolicy", "PodMonitor", "PrometheusRule", "ScaledObject", "Kafka", "KafkaNodePool", "KafkaTopic",
				"ClickHouseInstallation", "Secret"} {
				if kinds[k] == 0 && !(k == "Secret" && ov == "production") {
					t.Errorf("overlay %s renders no %s", ov, k)
				}
			}
			t.Logf("overlay %s: %d objects %v", ov, len(objs), kinds)
		})
	}
}
