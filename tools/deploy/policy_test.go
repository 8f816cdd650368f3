package deploy

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
		"mail.disputes": "compact", // the abuse desk's disputes, keyed by id
		// The detector's state changelog: "<group>.state" (services/detector).
		"mxwarden-detector.state": "compact",
	}
	src, err := os.ReadFile(filepath.Join(repoRoot(), "pkg", "kafka", "kafka.go"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if strings.HasSuffix(name, ".state") {
			continue // derived from detector.group, not a pkg/kafka default
		}
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

// Every workload's container, run as the pod would run it (its args with
// "check" for "run", its ConfigMap at the mounted path, its environment),
// is accepted by the service's own `check`: unknown keys and invalid
// values are errors. Every dashboard ConfigMap carries the
// grafana_dashboard label and dashboard JSON with a uid.
func TestWorkloadConfig(t *testing.T) {
	for _, ov := range Overlays {
		objs := render(t, ov)
		dashboards := 0
		for _, o := range objs {
			if o.Kind != "ConfigMap" {
				continue
			}
			var cm corev1.ConfigMap
			_ = json.Unmarshal(o.JSON, &cm)
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
		if dashboards != 2 {
			t.Errorf("%s: %d dashboards, want 2", ov, dashboards)
		}
		if n := checkWorkloads(t, ov, objs); n < 5 {
			t.Errorf("%s: only %d containers checked", ov, n)
		}
	}
}

// checkWorkloads runs every container of objs through its service's check
// and returns how many it checked.
func checkWorkloads(t *testing.T, ov string, objs []object) int {
	t.Helper()
	bin := testbin.Dir(t)
	configMaps := map[string]corev1.ConfigMap{}
	secrets := map[string]map[string]string{}
	for _, o := range objs {
		switch o.Kind {
		case "ConfigMap":
			var cm corev1.ConfigMap
			_ = json.Unmarshal(o.JSON, &cm)
			configMaps[cm.Name] = cm
		case "Secret":
			var sec corev1.Secret
			_ = json.Unmarshal(o.JSON, &sec)
			secrets[sec.Name] = map[string]string{}
			for k, v := range sec.Data {
				secrets[sec.Name][k] = string(v)
			}
			for k, v := range sec.StringData {
				secrets[sec.Name][k] = v
			}
		}
	}
	checked := 0
	for name, ps := range podSpecs(t, objs) {
		for _, c := range ps.Containers {
			svc := ""
			for _, s := range services {
				if strings.HasPrefix(c.Image, "ghcr.io/mxwarden/"+s+":") {
					svc = s
				}
			}
			if svc == "" {
				t.Errorf("%s %s: image %s is not an mxwarden service", ov, name, c.Image)
				continue
			}
			if len(c.Args) == 0 || c.Args[0] != "run" {
				t.Errorf("%s %s: args %v do not start with run", ov, name, c.Args)
				continue
			}
			dir := t.TempDir()
			args := append([]string{"check"}, c.Args[1:]...)
			for _, m := range c.VolumeMounts {
				for _, v := range ps.Volumes {
					if v.Name != m.Name || v.ConfigMap == nil {
						continue
					}
					cm, ok := configMaps[v.ConfigMap.Name]
					if !ok {
						t.Errorf("%s %s: ConfigMap %s is not in the overlay", ov, name, v.ConfigMap.Name)
						continue
					}
					for key, val := range cm.Data {
						local := filepath.Join(dir, filepath.Base(m.MountPath), key)
						if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
							t.Fatal(err)
						}
						if err := os.WriteFile(local, []byte(val), 0o644); err != nil {
							t.Fatal(err)
						}
						for i, a := range args {
							if a == m.MountPath+"/"+key {
								args[i] = local
							}
						}
					}
				}
			}
			cmd := exec.Command(filepath.Join(bin, svc), args...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
			for _, e := range c.Env {
				v := e.Value
				switch {
				case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
					ref := e.ValueFrom.SecretKeyRef
					sec, ok := secrets[ref.Name]
					switch {
					case ok && sec[ref.Key] != "":
						v = sec[ref.Key]
					case ok:
						t.Errorf("%s %s: Secret %s has no key %s", ov, name, ref.Name, ref.Key)
					default:
						// Created by the operator (production): a value of the
						// documented form.
						v = "clickhouse://mxwarden:secret@clickhouse-mxwarden:9000/mxwarden"
					}
				case e.ValueFrom != nil:
					v = "node-1.example" // a fieldRef such as spec.nodeName
				}
				cmd.Env = append(cmd.Env, e.Name+"="+v)
			}
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("%s %s/%s: `%s %s` refuses the configuration: %v\n%s", ov, name, c.Name, svc, strings.Join(args, " "), err, out)
			}
			checked++
		}
	}
	return checked
}

// The history component (deploy/k8s/components/history) wires the
// enforcer to ClickHouse; every overlay with it enabled passes the
// enforcer's check once the enforcer has the history keys.
func TestHistoryComponent(t *testing.T) {
	bin := testbin.Dir(t)
	if out, err := exec.Command(filepath.Join(bin, "enforcer"), "check", "--set", "history.dsn=clickhouse://u:p@h:9000/mxwarden").CombinedOutput(); err != nil {
		if strings.Contains(string(out), "unknown configuration key") {
			t.Skipf("PENDING: this enforcer has no history.* keys yet (history branch): %s", strings.TrimSpace(string(out)))
		}
		t.Fatalf("enforcer check with history.dsn: %v\n%s", err, out)
	}
	for _, ov := range Overlays {
		dir := t.TempDir()
		rel := func(p ...string) string { // kustomize takes relative paths only
			r, err := filepath.Rel(dir, filepath.Join(append([]string{repoRoot(), "deploy", "k8s"}, p...)...))
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - " +
			rel("overlays", ov) + "\ncomponents:\n  - " + rel("components", "history") + "\n"
		if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o644); err != nil {
			t.Fatal(err)
		}
		objs := renderDir(t, dir)
		found := false
		for _, o := range objs {
			if o.Kind == "Deployment" && o.Name == "mxwarden-enforcer" && strings.Contains(string(o.JSON), "MXWARDEN_ENFORCER_HISTORY_DSN") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s with components/history: the enforcer has no MXWARDEN_ENFORCER_HISTORY_DSN", ov)
		}
		checkWorkloads(t, ov+"+history", objs)
	}
}

// selects reports whether a label selector (matchLabels and In/Exists
// expressions) matches labels.
func selects(sel *metav1.LabelSelector, labels map[string]string) bool {
	if sel == nil {
		return false
	}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range sel.MatchExpressions {
		v, ok := labels[e.Key]
		switch e.Operator {
		case metav1.LabelSelectorOpExists:
			if !ok {
				return false
			}
		case metav1.LabelSelectorOpIn:
			if !ok || !slices.Contains(e.Values, v) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Every workload's pods are scraped by the PodMonitor (on their http
// port, under the job name the alerts use), and every pod not on the host
// network is covered by a NetworkPolicy that admits each of its ports.
func TestPodsScrapedAndFenced(t *testing.T) {
	for _, ov := range Overlays {
		objs := render(t, ov)
		var pm struct {
			Spec struct {
				JobLabel string               `json:"jobLabel"`
				Selector metav1.LabelSelector `json:"selector"`
			} `json:"spec"`
		}
		var policies []networkingv1.NetworkPolicy
		templates := map[string]corev1.PodTemplateSpec{}
		for _, o := range objs {
			switch o.Kind {
			case "PodMonitor":
				_ = json.Unmarshal(o.JSON, &pm)
			case "NetworkPolicy":
				var np networkingv1.NetworkPolicy
				_ = json.Unmarshal(o.JSON, &np)
				policies = append(policies, np)
			case "Deployment":
				var d appsv1.Deployment
				_ = json.Unmarshal(o.JSON, &d)
				templates[o.String()] = d.Spec.Template
			case "DaemonSet":
				var d appsv1.DaemonSet
				_ = json.Unmarshal(o.JSON, &d)
				templates[o.String()] = d.Spec.Template
			}
		}
		for name, tpl := range templates {
			job := tpl.Labels[pm.Spec.JobLabel]
			if !selects(&pm.Spec.Selector, tpl.Labels) || !strings.HasPrefix(job, "mxwarden-") {
				t.Errorf("%s %s: not scraped by the PodMonitor as a mxwarden-* job (labels %v)", ov, name, tpl.Labels)
			}
			if tpl.Spec.HostNetwork {
				continue
			}
			var mine []networkingv1.NetworkPolicy
			for _, np := range policies {
				if selects(&np.Spec.PodSelector, tpl.Labels) {
					mine = append(mine, np)
				}
			}
			if len(mine) == 0 {
				t.Errorf("%s %s: no NetworkPolicy selects its pods", ov, name)
				continue
			}
			for _, c := range tpl.Spec.Containers {
				for _, p := range c.Ports {
					proto := p.Protocol
					if proto == "" {
						proto = corev1.ProtocolTCP
					}
					admitted := false
					for _, np := range mine {
						for _, in := range np.Spec.Ingress {
							for _, np := range in.Ports {
								npProto := corev1.ProtocolTCP
								if np.Protocol != nil {
									npProto = *np.Protocol
								}
								if np.Port != nil && np.Port.IntValue() == int(p.ContainerPort) && npProto == proto {
									admitted = true
								}
							}
						}
					}
					if !admitted {
						t.Errorf("%s %s: port %s %d/%s is not admitted by its NetworkPolicies", ov, name, p.Name, p.ContainerPort, proto)
					}
				}
			}
		}
	}
}
