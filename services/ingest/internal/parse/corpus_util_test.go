package parse

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/mxwarden/mxwarden/services/ingest/internal/corpus"
)

// sharedCorpus is corpus.Dir: the shared real-log corpus, or a skip.
func sharedCorpus(t testing.TB) string { return corpus.Dir(t) }

func readLines(t testing.TB, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// fail2banLines drops fail2ban's "#" label and comment lines and blanks.
func fail2banLines(t testing.TB, path string) []string {
	var out []string
	for _, l := range readLines(t, path) {
		if l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return out
}

// modoboaLines returns modoboa's mail.log with its date placeholder filled.
func modoboaLines(t testing.TB, root string) []string {
	var out []string
	for _, l := range readLines(t, filepath.Join(root, "modoboa-modoboa", "mail.log")) {
		if l != "" {
			out = append(out, strings.ReplaceAll(l, "%(day)s", "Nov 16"))
		}
	}
	return out
}

// grokCase is one whyscream/postfix-grok-patterns test: a Postfix message
// body, the daemon its pattern names and the expected fields.
type grokCase struct {
	file    string
	daemon  string
	data    string
	results map[string]string
}

// grokDaemons maps the grok pattern of a test onto the syslog daemon
// name; fragments (delays, relay, command counters) have none.
var grokDaemons = map[string]string{
	"POSTFIX_SMTPD": "smtpd", "POSTFIX_SMTP": "smtp", "POSTFIX_CLEANUP": "cleanup", "POSTFIX_QMGR": "qmgr",
	"POSTFIX_BOUNCE": "bounce", "POSTFIX_LOCAL": "local", "POSTFIX_PIPE": "pipe", "POSTFIX_LMTP": "lmtp",
	"POSTFIX_ERROR": "error", "POSTFIX_DISCARD": "discard", "POSTFIX_VIRTUAL": "virtual",
	"POSTFIX_POSTSCREEN": "postscreen", "POSTFIX_ANVIL": "anvil", "POSTFIX_DNSBLOG": "dnsblog",
	"POSTFIX_MASTER": "master", "POSTFIX_PICKUP": "pickup", "POSTFIX_POSTSUPER": "postsuper",
	"POSTFIX_SCACHE": "scache", "POSTFIX_TLSMGR": "tlsmgr", "POSTFIX_TLSPROXY": "tlsproxy",
	"POSTFIX_TRIVIAL_REWRITE": "trivial-rewrite", "POSTFIX_VERIFY": "verify", "POSTFIX_POSTDROP": "postdrop",
	"POSTFIX_POSTMAP": "postmap", "POSTFIX_SCRIPT": "postfix-script", "POSTFIX_SENDMAIL": "sendmail",
}

// grokCases reads the whyscream YAML tests with a minimal reader for the
// three keys they use (pattern, data, results); data is a plain or
// double-quoted YAML scalar.
func grokCases(t testing.TB, root string) []grokCase {
	dir := filepath.Join(root, "whyscream-postfix-grok-patterns", "test")
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	var out []grokCase
	for _, f := range files {
		c := grokCase{file: filepath.Base(f), results: map[string]string{}}
		inResults := false
		for _, l := range readLines(t, f) {
			switch {
			case strings.HasPrefix(l, "pattern:"):
				v := yamlScalar(t, strings.TrimSpace(l[len("pattern:"):]))
				v = strings.TrimSuffix(strings.TrimPrefix(v, "^%{"), "}$")
				c.daemon = grokDaemons[strings.TrimSuffix(v, "}")]
			case strings.HasPrefix(l, "data:"):
				c.data = yamlScalar(t, strings.TrimSpace(l[len("data:"):]))
			case strings.HasPrefix(l, "results:"):
				inResults = true
			case inResults && strings.HasPrefix(l, "    "):
				k, v, _ := strings.Cut(strings.TrimSpace(l), ":")
				c.results[k] = yamlScalar(t, strings.TrimSpace(v))
			}
		}
		if c.daemon != "" && c.data != "" {
			out = append(out, c)
		}
	}
	return out
}

func yamlScalar(t testing.TB, v string) string {
	if strings.HasPrefix(v, `"`) {
		u, err := strconv.Unquote(v)
		if err != nil {
			t.Fatalf("yaml scalar %s: %v", v, err)
		}
		return u
	}
	return v
}

// grokLine frames a grok test body as a classic syslog line.
func grokLine(c grokCase) string {
	return "Nov 16 10:00:00 mx postfix/" + c.daemon + "[4242]: " + c.data
}

// postfixCorpus returns every real Postfix corpus line (plus the other
// programs' lines of the same logs), framed as syslog lines.
func postfixCorpus(t testing.TB) map[string][]string {
	root := sharedCorpus(t)
	out := map[string][]string{
		"fail2ban/postfix": fail2banLines(t, filepath.Join(root, "fail2ban-fail2ban", "postfix")),
		"modoboa/mail.log": modoboaLines(t, root),
	}
	for _, c := range grokCases(t, root) {
		// syslog escapes control characters (rsyslog as #ooo).
		l := strings.NewReplacer("\r", "#015", "\n", "#012").Replace(grokLine(c))
		out["whyscream"] = append(out["whyscream"], l)
	}
	return out
}

// eximCorpus returns every real Exim corpus line: the Exim test suite's
// main and reject logs (one entry per test file: the test suite reuses its
// message ids in every file), and fail2ban's Exim samples.
func eximCorpus(t testing.TB) map[string][]string {
	root := sharedCorpus(t)
	out := map[string][]string{
		"fail2ban/exim":      fail2banLines(t, filepath.Join(root, "fail2ban-fail2ban", "exim")),
		"fail2ban/exim-spam": fail2banLines(t, filepath.Join(root, "fail2ban-fail2ban", "exim-spam")),
	}
	for _, sub := range []string{"log", "rejectlog"} {
		files, err := filepath.Glob(filepath.Join(root, "Exim-exim", "test", sub, "*"))
		if err != nil {
			t.Fatal(err)
		}
		sort.Strings(files)
		for _, f := range files {
			key := "exim/test/" + sub + "/" + filepath.Base(f)
			for _, l := range readLines(t, f) {
				if strings.TrimSpace(l) != "" {
					out[key] = append(out[key], l)
				}
			}
		}
	}
	return out
}
