package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
)

// The schema checks can fail: a field no schema knows is refused, for
// every kind an overlay renders.
func TestSchemasRefuseUnknownFields(t *testing.T) {
	seen := map[string]bool{}
	for _, o := range render(t, "production") {
		gvk := o.APIVersion + "/" + o.Kind
		if seen[gvk] {
			continue
		}
		seen[gvk] = true
		var m map[string]any
		_ = json.Unmarshal(o.JSON, &m)
		spec, ok := m["spec"].(map[string]any)
		if !ok {
			spec = map[string]any{}
			m["spec"] = spec
		}
		spec["replicaz"] = 3
		bad, _ := json.Marshal(m)
		if mk, ok := coreTypes[gvk]; ok {
			if err := strictDecode(bad, mk()); err == nil {
				t.Errorf("%s: a misspelt spec field decodes without error", gvk)
			}
			continue
		}
		file, why := crdFile(t, gvk)
		if file == "" {
			t.Logf("not checked: %s", why)
			continue
		}
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(bad))
		if err := crdSchema(t, file, gvk).Validate(inst); err == nil {
			t.Errorf("%s: a misspelt spec field passes the CRD schema", gvk)
		}
	}
}

func podSpecs(t *testing.T, objs []object) map[string]corev1.PodSpec {
	t.Helper()
	out := map[string]corev1.PodSpec{}
	for _, o := range objs {
		switch o.Kind {
		case "Deployment":
			var d appsv1.Deployment
			if err := json.Unmarshal(o.JSON, &d); err != nil {
				t.Fatal(err)
			}
			out[o.String()] = d.Spec.Template.Spec
		case "DaemonSet":
			var d appsv1.DaemonSet
			if err := json.Unmarshal(o.JSON, &d); err != nil {
				t.Fatal(err)
			}
			out[o.String()] = d.Spec.Template.Spec
		}
	}
	return out
}

// Every mxwarden workload runs non-root with a read-only root file
// system, no privilege escalation and no capabilities, has requests and a
// memory limit, and probes /healthz (liveness) and /readyz (readiness) on
// its http port.
func TestWorkloadsHardened(t *testing.T) {
	for _, ov := range Overlays {
		for name, ps := range podSpecs(t, render(t, ov)) {
			psc := ps.SecurityContext
			if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
				t.Errorf("%s %s: pod must run as non-root with a non-zero runAsUser", ov, name)
			}
			if ps.AutomountServiceAccountToken == nil || *ps.AutomountServiceAccountToken {
				t.Errorf("%s %s: mounts a service account token it does not need", ov, name)
			}
			for _, c := range ps.Containers {
				sc := c.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
					sc.Capabilities == nil || len(sc.Capabilities.Drop) != 1 || sc.Capabilities.Drop[0] != "ALL" {
					t.Errorf("%s %s/%s: needs readOnlyRootFilesystem, no privilege escalation, capabilities drop ALL", ov, name, c.Name)
				}
				if c.Resources.Requests.Cpu().IsZero() || c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() {
					t.Errorf("%s %s/%s: needs cpu and memory requests and a memory limit", ov, name, c.Name)
				}
				probe := func(kind string, p *corev1.Probe, path string) {
					if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != path || p.HTTPGet.Port.String() != "http" {
						t.Errorf("%s %s/%s: %s probe must GET %s on port http", ov, name, c.Name, kind, path)
					}
				}
				probe("liveness", c.LivenessProbe, "/healthz")
				probe("readiness", c.ReadinessProbe, "/readyz")
				// No mount inside a ConfigMap or Secret mount: those are
				// read-only, and the runtime cannot create the mount point.
				roVolume := map[string]bool{}
				for _, v := range ps.Volumes {
					roVolume[v.Name] = v.ConfigMap != nil || v.Secret != nil
				}
				for _, outer := range c.VolumeMounts {
					for _, inner := range c.VolumeMounts {
						if roVolume[outer.Name] && inner.Name != outer.Name && strings.HasPrefix(inner.MountPath, strings.TrimSuffix(outer.MountPath, "/")+"/") {
							t.Errorf("%s %s/%s: %s is mounted inside the read-only %s mount %s", ov, name, c.Name, inner.MountPath, outer.Name, outer.MountPath)
						}
					}
				}
				hasHTTP := false
				for _, p := range c.Ports {
					hasHTTP = hasHTTP || p.Name == "http"
				}
				if !hasHTTP {
					t.Errorf("%s %s/%s: no port named http (the PodMonitor scrapes it)", ov, name, c.Name)
				}
			}
		}
	}
}

// The KafkaTopics are the services' default topic names (pkg/kafka), with
// bans and allowlist compacted.
func TestKafkaTopics(t *testing.T) {
	want := map[string]string{
		"mail.events": "delete", "mail.verdicts": "delete", "mail.bans": "compact", "mail.allowlist": "compact",
		"mail.outcomes": "delete", "mail.queue": "delete", "mail.deadletter": "delete",
	}
	src, err := os.ReadFile(filepath.Join(repoRoot(), "pkg", "kafka", "kafka.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if !strings.Contains(string(src), `"`+name+`"`) {
			t.Errorf("topic %s is not a default in pkg/kafka/kafka.go", name)
		}
	}
	for _, ov := range Overlays {
		got := map[string]string{}
		for _, o := range render(t, ov) {
			if o.Kind != "KafkaTopic" {
				continue
			}
			var kt struct {
				Spec struct {
					TopicName  string         `json:"topicName"`
					Partitions int            `json:"partitions"`
					Replicas   int            `json:"replicas"`
					Config     map[string]any `json:"config"`
				} `json:"spec"`
			}
			_ = json.Unmarshal(o.JSON, &kt)
			policy, _ := kt.Spec.Config["cleanup.policy"].(string)
			if policy == "" {
				policy = "delete"
			}
			got[kt.Spec.TopicName] = policy
			minISR, _ := kt.Spec.Config["min.insync.replicas"].(float64)
			if kt.Spec.Replicas < 1 || int(minISR) < 1 || int(minISR) > kt.Spec.Replicas || (kt.Spec.Replicas > 1 && int(minISR) >= kt.Spec.Replicas) {
				t.Errorf("%s %s: replicas %d with min.insync.replicas %v cannot lose a broker", ov, kt.Spec.TopicName, kt.Spec.Replicas, minISR)
			}
		}
		for name, p := range want {
			if got[name] != p {
				t.Errorf("%s: topic %s cleanup.policy %q, want %q", ov, name, got[name], p)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s: topics %v, want %v", ov, got, want)
		}
	}
}

// Every service ConfigMap a rendered overlay ships is accepted by the
// service's own `check` (unknown keys and invalid values are errors), and
// every dashboard ConfigMap carries the grafana_dashboard label and JSON
// with a uid.
func TestConfigMaps(t *testing.T) {
	bin := testbin.Dir(t)
	svcOf := map[string]string{
		"mxwarden-ingest": "ingest", "mxwarden-ingest-syslog": "ingest", "mxwarden-detector": "detector",
		"mxwarden-enforcer": "enforcer", "mxwarden-agent": "enforcer",
	}
	for _, ov := range Overlays {
		checked, dashboards := 0, 0
		for _, o := range render(t, ov) {
			if o.Kind != "ConfigMap" {
				continue
			}
			var cm corev1.ConfigMap
			_ = json.Unmarshal(o.JSON, &cm)
			if svc, ok := svcOf[cm.Name]; ok {
				file := filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(file, []byte(cm.Data["config.yaml"]), 0o644); err != nil {
					t.Fatal(err)
				}
				out, err := exec.Command(filepath.Join(bin, svc), "check", "--config", file).CombinedOutput()
				if err != nil {
					t.Errorf("%s: `%s check` rejects ConfigMap %s: %v\n%s", ov, svc, cm.Name, err, out)
				}
				checked++
			}
			if cm.Labels["grafana_dashboard"] == "1" {
				for k, v := range cm.Data {
					var d struct{ UID, Title string }
					if err := json.Unmarshal([]byte(v), &d); err != nil || d.UID == "" || !strings.HasSuffix(k, ".json") {
						t.Errorf("%s: dashboard %s/%s is not dashboard JSON with a uid: %v", ov, cm.Name, k, err)
					}
					dashboards++
				}
			}
		}
		if checked != len(svcOf) || dashboards != 2 {
			t.Errorf("%s: %d service ConfigMaps checked (want %d), %d dashboards (want 2)", ov, checked, len(svcOf), dashboards)
		}
	}
}
