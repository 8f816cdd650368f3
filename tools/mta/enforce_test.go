package mta

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The enforcer tests below run the real enforcer binary against a real
// Apache Kafka broker (MXWARDEN_TEST_KAFKA_BROKERS, started by `make test`)
// and real MTAs: a private Debian Postfix asking the enforcer through
// check_policy_service and reading its texthash and hash (postmap) maps,
// and Exim 4.96 in -bh sessions with a DirectAdmin-style ACL over the
// nwildlsearch*@ lists and with the lsearch lookup snippet.

const enforcerAdminToken = "e2e-admin-token-0123456789"

// realBroker returns the real broker's address, or skips (fails with CI=true).
func realBroker(t *testing.T) string {
	t.Helper()
	b := os.Getenv("MXWARDEN_TEST_KAFKA_BROKERS")
	if b == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but MXWARDEN_TEST_KAFKA_BROKERS is empty: run the tests through `make test`, which starts a real Apache Kafka broker")
		}
		t.Skip("no real Kafka broker: run `make test` (needs java >= 17 and mvn) or set MXWARDEN_TEST_KAFKA_BROKERS")
	}
	return b
}

// banRecord is the part of the ban contract the tests produce (the tools
// module does not import pkg/event).
type banRecord struct {
	V           int                `json:"v"`
	TS          time.Time          `json:"ts"`
	Rule        string             `json:"rule"`
	SubjectKind string             `json:"subject_kind"`
	Subject     string             `json:"subject"`
	Action      string             `json:"action"`
	Message     string             `json:"message"`
	Evidence    map[string]float64 `json:"evidence"`
	Expires     string             `json:"expires"`
	Source      string             `json:"source"`
	Level       int                `json:"level"`
}

type enforcerRun struct {
	t          *testing.T
	dir, maps  string
	httpAddr   string
	policyAddr string
	topics     map[string]string
	brokers    string
	stdout     *lockedBuffer
	prod       *kgo.Client
	bin        string
	stop       func()
}

// enforcerTopics are unique topic names, so tests sharing the broker do
// not see each other's bans.
func enforcerTopics() map[string]string {
	p := fmt.Sprintf("enf-%d", rand.Uint32())
	m := map[string]string{}
	for _, k := range []string{"events", "verdicts", "bans", "dead_letter", "allowlist", "outcomes", "queue"} {
		m[k] = p + "." + k
	}
	return m
}

func enforcerArgs(e *enforcerRun, extra ...string) []string {
	args := []string{"run",
		"--set", "kafka.brokers=" + e.brokers, "--set", "kafka.partitions=1", "--set", "kafka.replication_factor=1",
		"--set", "http.addr=" + e.httpAddr, "--set", "policy.addr=" + e.policyAddr,
		"--set", "maps.dir=" + e.maps, "--set", "maps.debounce=20ms",
		"--set", "state.dir=" + filepath.Join(e.dir, "state"), "--set", "state.snapshot_interval=200ms",
		"--set", "api.tokens_file=" + filepath.Join(e.dir, "tokens"),
	}
	for k, v := range e.topics {
		args = append(args, "--set", "kafka.topics."+k+"="+v)
	}
	return append(args, extra...)
}

// newEnforcer prepares an enforcer run (ports, topics, token file, a
// producer); restart starts the binary.
func newEnforcer(t *testing.T, brokers string) *enforcerRun {
	t.Helper()
	dir := workDir(t, "mxwarden-enforcer-")
	e := &enforcerRun{t: t, dir: dir, maps: filepath.Join(dir, "maps"), brokers: brokers, topics: enforcerTopics(),
		httpAddr:   fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		policyAddr: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		bin:        filepath.Join(serviceBinaries(t), "enforcer")}
	if err := os.WriteFile(filepath.Join(dir, "tokens"), []byte("e2e admin "+enforcerAdminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(brokers, ",")...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	e.prod = cl
	return e
}

func (e *enforcerRun) restart(extra ...string) {
	e.t.Helper()
	e.stdout = startServiceStoppable(e.t, e.dir, "enforcer", e.bin, &e.stop, enforcerArgs(e, extra...)...)
}

// waitReady polls /readyz.
func (e *enforcerRun) waitReady(timeout time.Duration) {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		resp, err := http.Get("http://" + e.httpAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("enforcer not ready after %v\n%s", timeout, serviceLogs(e.dir))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ban produces a rule ban and returns when the broker acknowledged it.
func (e *enforcerRun) ban(kind, subject, rule, action, msg string) time.Time {
	e.t.Helper()
	b := banRecord{V: 1, TS: time.Now().UTC(), Rule: rule, SubjectKind: kind, Subject: subject, Action: action, Message: msg,
		Evidence: map[string]float64{"attempts": 30}, Source: "rule", Level: 1}
	v, _ := json.Marshal(b)
	key := kind + ":" + strings.ToLower(subject)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := e.prod.ProduceSync(ctx, &kgo.Record{Topic: e.topics["bans"], Key: []byte(key), Value: v}).FirstErr(); err != nil {
		e.t.Fatalf("produce ban %s: %v", key, err)
	}
	return time.Now()
}

// ctl runs `enforcer ctl` against this enforcer.
func (e *enforcerRun) ctl(args ...string) (int, string) {
	e.t.Helper()
	tok := filepath.Join(e.dir, "ctl-token")
	if err := os.WriteFile(tok, []byte(enforcerAdminToken), 0o600); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(e.bin, append([]string{"ctl", "--url", "http://" + e.httpAddr, "--token-file", tok}, args...)...)
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return code, string(out)
}

// startServiceStoppable is startService with an explicit stop (SIGINT,
// then wait) stored in *stop, also run at cleanup.
func startServiceStoppable(tb testing.TB, dir, name, path string, stop *func(), args ...string) *lockedBuffer {
	tb.Helper()
	out := &lockedBuffer{}
	lf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = out, lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		tb.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); lf.Close(); close(done) }()
	stopped := false
	*stop = func() {
		if stopped {
			return
		}
		stopped = true
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}
	s := *stop
	tb.Cleanup(s)
	return out
}

// eximBH runs one SMTP dialogue through `exim -bh 127.0.0.1` and returns
// the reply to RCPT TO (code and text).
func eximBH(t *testing.T, bin, conf, from, rcpt string) (int, string) {
	t.Helper()
	in := fmt.Sprintf("EHLO client.sender.test\r\nMAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nQUIT\r\n", from, rcpt)
	cmd := exec.Command(bin, "-C", conf, "-bh", "127.0.0.1")
	cmd.Stdin = strings.NewReader(in)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("exim -bh: %v\n%s\n%s", err, out.String(), errb.String())
	}
	var replies []string
	for _, l := range strings.Split(out.String(), "\n") {
		l = strings.TrimRight(l, "\r")
		if regexp.MustCompile(`^[0-9]{3} `).MatchString(l) {
			replies = append(replies, l)
		}
	}
	// Banner, EHLO (last line), MAIL, RCPT, QUIT.
	if len(replies) < 5 {
		t.Fatalf("exim -bh: %d replies:\n%s\n%s", len(replies), out.String(), errb.String())
	}
	r := replies[3]
	var code int
	fmt.Sscanf(r, "%d", &code)
	return code, r[4:]
}

// eximConfs writes the two -bh configurations: the DirectAdmin-style ACL
// over the enforcer's nwildlsearch*@ lists (with the over-quota list), and
// the lsearch lookup snippet over its lsearch files.
func eximConfs(t *testing.T, bin, maps string) (lists, lsearch string) {
	t.Helper()
	dir := workDir(t, "mxwarden-eximbh-")
	uid := userID(t, "Debian-exim")
	for _, d := range []string{"spool", "log"} {
		p := filepath.Join(dir, d)
		if err := os.Mkdir(p, 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, -1); err != nil {
			t.Fatal(err)
		}
	}
	head := fmt.Sprintf(`primary_hostname = mta.test.example
exim_path = %s
spool_directory = %s/spool
log_file_path = %s/log/%%slog
keep_environment =
host_lookup =
rfc1413_hosts =
tls_advertise_hosts =
acl_smtp_rcpt = acl_check_rcpt
begin acl
acl_check_rcpt:
`, bin, dir, dir)
	// As DirectAdmin's exim.conf wires its lists, with the message looked up.
	listACL := `  deny   senders    = nwildlsearch*@;MAPS/spam_senders
         message    = ${lookup{$sender_address}nwildlsearch*@{MAPS/spam_senders}{$value}{Sender blocked}}
  deny   recipients = nwildlsearch*@;MAPS/spam_recipients
         message    = ${lookup{$local_part@$domain}nwildlsearch*@{MAPS/spam_recipients}{$value}{Recipient blocked}}
  deny   recipients = nwildlsearch*@;MAPS/overquota_recipients
         message    = ${lookup{$local_part@$domain}nwildlsearch*@{MAPS/overquota_recipients}{$value}{Mailbox full}}
  accept hosts      = 127.0.0.0/8
  deny
`
	// The lsearch snippet of services/enforcer/internal/mta/doc.go.
	lsearchACL := `  deny   condition  = ${lookup{$sender_address}lsearch{MAPS/exim_sender_bans}{yes}{${lookup{$sender_address_domain}lsearch{MAPS/exim_sender_bans}{yes}{no}}}}
         message    = ${lookup{$sender_address}lsearch{MAPS/exim_sender_bans}{$value}{${lookup{$sender_address_domain}lsearch{MAPS/exim_sender_bans}}}}
  deny   condition  = ${lookup{$local_part@$domain}lsearch{MAPS/exim_recipient_bans}{yes}{${lookup{$domain}lsearch{MAPS/exim_recipient_bans}{yes}{no}}}}
         message    = ${lookup{$local_part@$domain}lsearch{MAPS/exim_recipient_bans}{$value}{${lookup{$domain}lsearch{MAPS/exim_recipient_bans}}}}
  accept hosts      = 127.0.0.0/8
  deny
`
	lists, lsearch = filepath.Join(dir, "lists.conf"), filepath.Join(dir, "lsearch.conf")
	for path, acl := range map[string]string{lists: listACL, lsearch: lsearchACL} {
		if err := os.WriteFile(path, []byte(head+strings.ReplaceAll(acl, "MAPS", maps)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return lists, lsearch
}

// mtaCheck is one way an MTA asks the enforcer: it returns the RCPT reply.
type mtaCheck struct {
	name string
	rcpt func(from, to string) (int, string)
	// pairs, defers: this path enforces sender→recipient pairs and defers;
	// subdomains: a domain ban also refuses its subdomains (Postfix access
	// maps with the default parent_domain_matches_subdomains).
	pairs, defers, subdomains bool
}

func TestEnforcerRealMTAs(t *testing.T) {
	t.Parallel()
	var missing []string
	if _, err := os.Stat(postfixCmd); err != nil {
		missing = append(missing, "postfix ("+postfixCmd+")")
	}
	ex := eximBinary()
	if _, err := os.Stat(ex); err != nil {
		missing = append(missing, "exim ("+ex+")")
	}
	if _, err := user.Lookup("Debian-exim"); err != nil {
		missing = append(missing, "the Debian-exim user")
	}
	requireTools(t, "enforcer with real MTAs", missing)
	brokers := realBroker(t)

	e := newEnforcer(t, brokers)
	pp := strings.Split(e.policyAddr, ":")[1]
	pf := startPostfixOpts(t, freePort(t), freePort(t), postfixOpts{listeners: map[string]string{
		"mxw_policy":   "check_policy_service { inet:127.0.0.1:" + pp + ", default_action=DUNNO, timeout=10s }, permit_mynetworks, reject_unauth_destination",
		"mxw_texthash": "check_sender_access texthash:" + e.maps + "/sender_access, check_recipient_access texthash:" + e.maps + "/recipient_access, permit_mynetworks, reject_unauth_destination",
		"mxw_hash":     "check_sender_access hash:" + e.maps + "/sender_access, check_recipient_access hash:" + e.maps + "/recipient_access, permit_mynetworks, reject_unauth_destination",
	}})
	// hash: tables through postmap (Postfix notices a changed .db), and a
	// reload for the texthash: tables (read when a daemon starts).
	e.restart("--set", "maps.postmap=/usr/sbin/postmap -c "+pf.config+" hash:{path}",
		"--set", "maps.postfix_reload=/usr/sbin/postfix -c "+pf.config+" reload")
	e.waitReady(60 * time.Second)
	listsConf, lsearchConf := eximConfs(t, ex, e.maps)
	postfixAt := func(name string) func(string, string) (int, string) {
		port := pf.ports[name]
		return func(from, to string) (int, string) {
			code, msg, err := postfixRcpt(port, from, to)
			if err != nil {
				t.Fatalf("postfix %s: %v", name, err)
			}
			return code, msg
		}
	}
	checks := []mtaCheck{
		{"postfix check_policy_service", postfixAt("mxw_policy"), true, true, false},
		{"postfix texthash maps", postfixAt("mxw_texthash"), false, true, true},
		{"postfix hash maps (postmap)", postfixAt("mxw_hash"), false, true, true},
		{"exim nwildlsearch*@ lists (DirectAdmin)", func(f, r string) (int, string) { return eximBH(t, ex, listsConf, f, r) }, false, false, false},
		{"exim lsearch lookups", func(f, r string) (int, string) { return eximBH(t, ex, lsearchConf, f, r) }, false, false, false},
	}

	// Latency: ban produced (broker ack) -> first refusal by Postfix through
	// the policy server. The probes are sender→recipient pair bans, which
	// only the policy server enforces, so no map rewrite (and no Postfix
	// reload for the texthash listener) runs during the measurement.
	var lat []time.Duration
	policy := checks[0]
	for i := range 21 {
		s := fmt.Sprintf("latency-%d@%s", i, senderDomain)
		t0 := e.ban("sender_recipient", s+"=>ok@"+rcptDomain, "recipient_block", "ban", "5.7.1 latency probe")
		for {
			if code, _ := policy.rcpt(s, "ok@"+rcptDomain); code >= 500 {
				if i > 0 { // the first is the warm-up
					lat = append(lat, time.Since(t0))
				}
				break
			}
			if time.Since(t0) > 30*time.Second {
				t.Fatalf("no refusal of %s 30s after its ban\n%s", s, serviceLogs(e.dir))
			}
		}
	}
	slices.Sort(lat)
	t.Logf("ban produced -> first Postfix refusal via check_policy_service (real broker, %d bans): p50 %v, p99 %v, max %v",
		len(lat), percentile(lat, 0.5).Round(time.Millisecond), percentile(lat, 0.99).Round(time.Millisecond), lat[len(lat)-1].Round(time.Millisecond))

	// The cases of the issue, as rules ban them.
	e.ban("sender", "banned-sender@"+senderDomain, "invalid_recipients", "ban", "5.7.1 Sender banned for abuse: open a ticket")
	e.ban("sender_domain", "spamdomain.test", "spoofing", "ban", "5.7.1 Sender domain banned")
	e.ban("recipient", "victim@"+rcptDomain, "unwanted", "ban", "5.7.1 Recipient refuses your mail")
	e.ban("recipient_domain", "smsgw.test", "sms_gateway", "ban", "5.7.1 SMS gateways are not for bulk mail")
	e.ban("recipient", "full@"+rcptDomain, "mailbox_full", "ban", "5.2.2 Mailbox full")
	e.ban("sender", "vip@"+senderDomain, "invalid_recipients", "ban", "5.7.1 should be allowlisted")
	e.ban("sender", "slow@"+senderDomain, "rate_limit", "defer", "4.7.1 Hourly limit reached, try later")
	e.ban("sender_recipient", "pair@"+senderDomain+"=>boss@"+rcptDomain, "recipient_block", "ban", "5.7.1 This recipient refuses your mail")
	// Hostile subjects: valid tokens that would be patterns, comments or
	// separators in some map syntax. None may refuse anyone else.
	for _, h := range []string{"^.*@" + senderDomain, "*@" + senderDomain, "#x@" + senderDomain, "a:b@" + senderDomain, `q"x@` + senderDomain, "*@" + rcptDomain, "^ok@" + rcptDomain} {
		kind := "sender"
		if strings.HasSuffix(h, rcptDomain) {
			kind = "recipient"
		}
		e.ban(kind, h, "invalid_recipients", "ban", "hostile\tmessage \u202E REJECT")
	}
	if code, out := e.ctl("allow", "sender", "vip@"+senderDomain, "--reason", "the CEO, not a spammer"); code != 0 {
		t.Fatalf("ctl allow: %d %s", code, out)
	}

	type want struct {
		from, to string
		code     int    // 0: accepted (250)
		text     string // part of the refusal
	}
	cases := []want{
		{"banned-sender@" + senderDomain, "ok@" + rcptDomain, 5, "Sender banned for abuse"},
		{"anyone@spamdomain.test", "ok@" + rcptDomain, 5, "Sender domain banned"},
		{"ok@" + senderDomain, "victim@" + rcptDomain, 5, "Recipient refuses your mail"},
		{"ok@" + senderDomain, "15551234@smsgw.test", 5, "SMS gateways are not for bulk mail"},
		{"ok@" + senderDomain, "full@" + rcptDomain, 5, "Mailbox full"},
		{"vip@" + senderDomain, "ok@" + rcptDomain, 0, ""},
		{"ok@" + senderDomain, "ok@" + rcptDomain, 0, ""},
	}
	exact := []want{
		{"ok@sub.spamdomain.test", "ok@" + rcptDomain, 0, ""},
		{"ok@" + senderDomain, "ok@sub.smsgw.test", 0, ""},
	}
	check := func(c mtaCheck, w want) (bool, string) {
		code, msg := c.rcpt(w.from, w.to)
		got := fmt.Sprintf("%d %s", code, msg)
		if w.code == 0 {
			return code == 250, got
		}
		return code/100 == w.code && strings.Contains(msg, w.text), got
	}
	settle := func(what string, c mtaCheck, w want) {
		deadline := time.Now().Add(15 * time.Second)
		for {
			ok, got := check(c, w)
			if ok {
				return
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(filepath.Join(e.maps, "spam_senders"))
				t.Errorf("%s: %s: RCPT %s -> %s: got %q, want %d.. %q\n--- spam_senders ---\n%s", what, c.name, w.from, w.to, got, w.code, w.text, b)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for _, c := range checks {
		for _, w := range cases {
			settle("after the bans", c, w)
		}
		if !c.subdomains {
			for _, w := range exact {
				settle("subdomains are not the domain", c, w)
			}
		}
	}
	// Pairs and defers: the policy server and (defer) the Postfix maps.
	for _, c := range checks {
		if c.pairs {
			settle("pair", c, want{"pair@" + senderDomain, "boss@" + rcptDomain, 5, "This recipient refuses your mail"})
			settle("pair, other recipient", c, want{"pair@" + senderDomain, "other@" + rcptDomain, 0, ""})
		}
		if c.defers {
			settle("defer", c, want{"slow@" + senderDomain, "ok@" + rcptDomain, 4, "Hourly limit reached"})
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	t.Logf("every MTA path refused the banned sender, sender domain, recipient, recipient domain and over-quota recipient, and accepted the allowlisted sender")

	// Unban through the CLI and the API: the same mail is accepted.
	if code, out := e.ctl("unban", "sender", "banned-sender@"+senderDomain, "--reason", "customer cleaned up"); code != 0 {
		t.Fatalf("ctl unban: %d %s", code, out)
	}
	req, _ := http.NewRequest("DELETE", "http://"+e.httpAddr+"/api/v1/bans/recipient_domain/smsgw.test?reason=contract", nil)
	req.Header.Set("Authorization", "Bearer "+enforcerAdminToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("API unban: %v", resp.Status)
	}
	for _, c := range checks {
		settle("after unban", c, want{"banned-sender@" + senderDomain, "ok@" + rcptDomain, 0, ""})
		settle("after unban", c, want{"ok@" + senderDomain, "15551234@smsgw.test", 0, ""})
		settle("still banned", c, want{"ok@" + senderDomain, "victim@" + rcptDomain, 5, "Recipient refuses your mail"})
	}
	if code, _ := e.ctl("unban", "sender", "banned-sender@"+senderDomain, "--reason", "again"); code != 3 {
		t.Errorf("second unban exit code %d, want 3 (not found)", code)
	}
	if !strings.Contains(e.stdout.String(), "UNBAN sender banned-sender@sender.test rule=invalid_recipients reason=lifted") {
		t.Errorf("no UNBAN printed:\n%s", e.stdout.String())
	}
}
