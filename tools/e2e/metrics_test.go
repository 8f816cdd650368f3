package e2e

import (
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwarden/mxwarden/tools/internal/testbin"
)

// pendingMetrics are names the alert rules and dashboards reference that
// are agreed (the team's METRICS.md) but exported on branches not merged
// yet. The test reports them as PENDING instead of failing; once a name is
// exported it fails until the name is deleted from this list, so the list
// never hides a regression. Delete entries as their branches land;
// MXWARDEN_METRICS_STRICT=true fails on them too.
var pendingMetrics = map[string]string{}

// lintExceptions are promlint findings on names we do not own: franz-go's
// kprom plugin (pkg/kafka.Metrics) names two gauges *_total and has no
// option to rename them.
var lintExceptions = map[string]string{
	"buffered_fetch_records_total":   "franz-go kprom gauge",
	"buffered_produce_records_total": "franz-go kprom gauge",
}

// Series every alert rule and dashboard panel references are produced by
// the real binaries: the three services run as processes over a broker
// (the real one when MXWARDEN_TEST_KAFKA_BROKERS names it, else kfake),
// a ban is driven through them, and each /metrics is scraped. Every
// exposed metric also passes client_golang's promlint.
func TestMetricsReferencedExist(t *testing.T) {
	brokers := os.Getenv("MXWARDEN_TEST_KAFKA_BROKERS")
	if brokers == "" {
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		brokers = c.ListenAddrs()[0]
	}
	scrapes := scrapeRunningPipeline(t, brokers)

	exposed := map[string]map[string]bool{} // sample name -> label names
	for svc, text := range scrapes {
		for name, labels := range sampleNames(text) {
			if exposed[name] == nil {
				exposed[name] = map[string]bool{}
			}
			for l := range labels {
				exposed[name][l] = true
			}
		}
		t.Run("promlint/"+svc, func(t *testing.T) {
			problems, err := promlint.New(strings.NewReader(text)).Lint()
			if err != nil {
				t.Fatalf("promlint: %v", err)
			}
			for _, p := range problems {
				if why, ok := lintExceptions[strings.TrimPrefix(p.Metric, "mxwarden_"+svc+"_")]; ok {
					t.Logf("promlint (known, %s): %s: %s", why, p.Metric, p.Text)
					continue
				}
				t.Errorf("%s /metrics: %s: %s", svc, p.Metric, p.Text)
			}
		})
	}

	refs := referencedSeries(t)
	var missing, pendingNow, landed []string
	for name, where := range refs {
		_, pending := pendingMetrics[name]
		switch {
		case exposed[name] == nil && pending && os.Getenv("MXWARDEN_METRICS_STRICT") != "true":
			pendingNow = append(pendingNow, fmt.Sprintf("%s (branch %s; used by %s)", name, pendingMetrics[name], strings.Join(where.files, ", ")))
		case exposed[name] == nil:
			missing = append(missing, fmt.Sprintf("%s (used by %s)", name, strings.Join(where.files, ", ")))
		case pending:
			landed = append(landed, name)
		}
		if exposed[name] != nil {
			for l := range where.labels {
				// job and instance are the scrape target's labels.
				if l != "job" && l != "instance" && !exposed[name][l] {
					t.Errorf("%s is exposed without the label %q that %s match on", name, l, strings.Join(where.files, ", "))
				}
			}
		}
	}
	for name := range pendingMetrics {
		if _, ok := refs[name]; !ok {
			t.Errorf("pendingMetrics lists %s, which nothing references: delete it", name)
		}
	}
	sort.Strings(missing)
	sort.Strings(pendingNow)
	sort.Strings(landed)
	t.Logf("%d referenced series, %d exposed by the binaries", len(refs), len(exposed))
	for _, p := range pendingNow {
		t.Logf("PENDING (agreed, not exported yet): %s", p)
	}
	if len(missing) > 0 {
		t.Errorf("referenced by an alert or dashboard but exposed by no service (%d):\n  %s", len(missing), strings.Join(missing, "\n  "))
	}
	if len(landed) > 0 {
		t.Errorf("now exported, delete from pendingMetrics in tools/e2e/metrics_test.go: %s", strings.Join(landed, ", "))
	}
}

type reference struct {
	files  []string
	labels map[string]bool // label names used in selectors on this series
}

var (
	seriesRe   = regexp.MustCompile(`\b(mxwarden_[a-z0-9_]+)(\{[^}]*\})?`)
	matcherRe  = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)`)
	dashExprRe = regexp.MustCompile(`"expr":\s*"((?:[^"\\]|\\.)*)"`)
)

// referencedSeries collects every mxwarden_* series named in the alert
// rules' expressions and the dashboards' Prometheus queries.
func referencedSeries(t *testing.T) map[string]*reference {
	t.Helper()
	root := testbin.RepoRoot()
	out := map[string]*reference{}
	add := func(file, expr string) {
		for _, m := range seriesRe.FindAllStringSubmatch(expr, -1) {
			r := out[m[1]]
			if r == nil {
				r = &reference{labels: map[string]bool{}}
				out[m[1]] = r
			}
			if len(r.files) == 0 || r.files[len(r.files)-1] != file {
				r.files = append(r.files, file)
			}
			for _, lm := range matcherRe.FindAllStringSubmatch(m[2], -1) {
				r.labels[lm[1]] = true
			}
		}
	}
	rules := "deploy/prometheus/mxwarden.rules.yml"
	b, err := os.ReadFile(filepath.Join(root, rules))
	if err != nil {
		t.Fatal(err)
	}
	var exprLines []string
	inExpr := false
	for _, l := range strings.Split(string(b), "\n") {
		trim := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(trim, "#"):
		case strings.HasPrefix(trim, "expr:"):
			inExpr = true
			exprLines = append(exprLines, strings.TrimPrefix(trim, "expr:"))
		case inExpr && (strings.HasPrefix(trim, "for:") || strings.HasPrefix(trim, "labels:") || strings.HasPrefix(trim, "- alert:")):
			inExpr = false
		case inExpr:
			exprLines = append(exprLines, trim)
		}
	}
	add(rules, strings.Join(exprLines, "\n"))
	dash, _ := filepath.Glob(filepath.Join(root, "deploy", "k8s", "base", "monitoring", "dashboards", "*.json"))
	if len(dash) == 0 {
		t.Fatal("no dashboards found")
	}
	for _, f := range dash {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		for _, m := range dashExprRe.FindAllStringSubmatch(string(b), -1) {
			var expr string
			if err := json.Unmarshal([]byte(`"`+m[1]+`"`), &expr); err != nil {
				t.Fatal(err)
			}
			add(rel, expr)
		}
	}
	if len(out) == 0 {
		t.Fatal("no mxwarden series referenced")
	}
	return out
}

// sampleNames parses the text exposition: sample name -> its label names.
func sampleNames(text string) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	for _, l := range strings.Split(text, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		name, rest := l, ""
		if i := strings.IndexAny(l, "{ "); i >= 0 {
			name, rest = l[:i], l[i:]
		}
		if out[name] == nil {
			out[name] = map[string]bool{}
		}
		if strings.HasPrefix(rest, "{") {
			for _, m := range regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`).FindAllStringSubmatch(rest[:strings.Index(rest, "}")+1], -1) {
				out[name][m[1]] = true
			}
		}
	}
	return out
}

// scrapeRunningPipeline runs ingest (a log file and a queue sampler),
// detector and enforcer, drives one ban through them, and returns each
// service's /metrics text.
func scrapeRunningPipeline(t *testing.T, brokers string) map[string]string {
	t.Helper()
	bin := binaries(t)
	dir := t.TempDir()
	logFile := filepath.Join(dir, "maillog")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	// A queue sample in `postqueue -j`'s format (Postfix 3.7), so the queue
	// gauge has series.
	queueFile := filepath.Join(dir, "postqueue.json")
	if err := os.WriteFile(queueFile, []byte(`{"queue_name": "deferred", "queue_id": "4ZAB1", "arrival_time": 1764177000, "message_size": 1234, "forced_expire": false, "sender": "newsletter@cheap-leads.example", "recipients": [{"address": "lead1@example.org", "delay_reason": "connect to mx.example.org[198.51.100.7]:25: Connection timed out"}]}
{"queue_name": "active", "queue_id": "4ZAB2", "arrival_time": 1764177002, "message_size": 99, "forced_expire": false, "sender": "alice@law-office.example", "recipients": [{"address": "friend@gmail.com"}]}
`), 0o644); err != nil {
		t.Fatal(err)
	}
	policyAddr := freeAddr(t)
	httpAddr := map[string]string{"ingest": freeAddr(t), "detector": freeAddr(t), "enforcer": freeAddr(t)}
	run := fmt.Sprintf("metrics%d", rand.Uint32())
	common := []string{
		"--set", "kafka.brokers=" + brokers,
		"--set", "kafka.topics.events=" + run + ".events",
		"--set", "kafka.topics.verdicts=" + run + ".verdicts",
		"--set", "kafka.topics.bans=" + run + ".bans",
		"--set", "kafka.topics.dead_letter=" + run + ".deadletter",
		"--set", "kafka.topics.queue=" + run + ".queue",
		"--set", "kafka.topics.allowlist=" + run + ".allowlist",
		"--set", "kafka.topics.outcomes=" + run + ".outcomes",
		"--set", "kafka.partitions=3",
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	args := func(svc string, extra ...string) []string {
		return append(append([]string{"run"}, common...), append([]string{"--set", "http.addr=" + httpAddr[svc]}, extra...)...)
	}
	enf := start(ctx, t, &wg, dir, "enforcer", filepath.Join(bin, "enforcer"), args("enforcer", append([]string{
		"--set", "policy.addr=" + policyAddr, "--set", "maps.dir=" + filepath.Join(dir, "maps"), "--set", "state.dir=" + filepath.Join(dir, "state")},
		historyArgs(t, filepath.Join(bin, "enforcer"), filepath.Join(dir, "history"))...)...)...)
	start(ctx, t, &wg, dir, "detector", filepath.Join(bin, "detector"), args("detector", append([]string{"--set", "group=" + run + ".detector"},
		dnsArgs(t, filepath.Join(bin, "detector"))...)...)...)
	start(ctx, t, &wg, dir, "ingest", filepath.Join(bin, "ingest"), args("ingest",
		"--set", "source.file="+logFile, "--set", "source.checkpoint_file="+filepath.Join(dir, "ingest.checkpoint"),
		"--set", "source.host=mx1", "--set", "source.poll=20ms",
		"--set", "queue.command=cat "+queueFile, "--set", "queue.interval=1s")...)

	deadline := time.Now().Add(90 * time.Second)
	for {
		if _, err := askPolicy(policyAddr, "nobody@example.org"); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("enforcer policy server never came up; output:\n%s", enf.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	f, err := os.OpenFile(logFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := time.Now().UTC().Add(-10 * time.Minute)
	for i := 0; i < 40; i++ {
		ts := base.Add(time.Duration(i) * time.Second)
		lines := message(ts, i, abuser, "cheapleads", fmt.Sprintf("lead%03d@example.org", i), true)
		if i%4 == 0 {
			lines = message(ts, i, "alice@law-office.example", "lawoffice", "friend@gmail.com", false)
		}
		if _, err := f.WriteString(strings.Join(lines, "\n") + "\n"); err != nil {
			t.Fatal(err)
		}
	}
	// Lines ingest cannot use, counted in lines_rejected_total: another
	// program's line in a shared log, and one without syslog framing.
	if _, err := f.WriteString(base.Format(time.RFC3339Nano) + " mx1 dovecot[999]: imap-login: Login: user=<alice>\nnot a log line\n"); err != nil {
		t.Fatal(err)
	}
	// Wait for the ban to be enforced, so the verdict, ban and policy
	// series exist, and for a queue sample.
	for {
		ans, _ := askPolicy(policyAddr, abuser)
		ing := scrape(t, httpAddr["ingest"])
		if strings.HasPrefix(ans, "action=REJECT") && strings.Contains(ing, "mxwarden_ingest_mta_queue_messages{") &&
			strings.Contains(ing, "mxwarden_ingest_lines_rejected_total{") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within 90s: no ban enforced (last answer %q), no queue sample or no rejected line counted; ingest /metrics:\n%s", ans, ing)
		}
		time.Sleep(200 * time.Millisecond)
	}
	out := map[string]string{}
	for svc, addr := range httpAddr {
		out[svc] = scrape(t, addr)
	}
	return out
}

// historyArgs turns on the enforcer's ClickHouse history writer with the
// embedded engine, so its metrics are scraped too, when the binary has
// the history keys and links chDB (make build does, with -tags chdb);
// otherwise the history series stay PENDING.
func historyArgs(t *testing.T, enforcer, dir string) []string {
	t.Helper()
	if out, err := exec.Command(enforcer, "check", "--set", "history.path="+dir).CombinedOutput(); err != nil {
		t.Logf("history writer not enabled: %s", strings.TrimSpace(lastLine(string(out))))
		return nil
	}
	info, err := buildinfo.ReadFile(enforcer)
	if err != nil {
		t.Fatalf("build info of %s: %v", enforcer, err)
	}
	for _, d := range info.Deps {
		if d.Path == "github.com/chdb-io/chdb-go" {
			t.Logf("history writer enabled (embedded ClickHouse, %s %s)", d.Path, d.Version)
			return []string{"--set", "history.path=" + dir}
		}
	}
	t.Logf("history writer not enabled: %s is built without the embedded ClickHouse (chdb)", enforcer)
	return nil
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return lines[len(lines)-1]
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/metrics: %d %v", addr, resp.StatusCode, err)
	}
	return string(b)
}
