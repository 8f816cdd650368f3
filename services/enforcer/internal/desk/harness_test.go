package desk_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/api"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/enforcer"
)

const (
	adminToken  = "admin-token-0123456789abcdef"
	viewerToken = "viewer-token-0123456789abcdef"
)

// env is one enforcer with the desk enabled, on an in-process Kafka
// (kfake), its policy server, its API and a client producing bans.
type env struct {
	t       *testing.T
	brokers []string
	prefix  string // of the topic names, on a shared real broker
	cfg     enforcer.Config
	svc     *enforcer.Service
	reg     *prometheus.Registry
	logs    *syncBuffer
	kc      *kgo.Client
	base    string // the desk, http://127.0.0.1:port
	apiBase string // the operator API
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startEnv starts an enforcer with the desk on the real Kafka broker of
// make test ($MXWARDEN_TEST_KAFKA_BROKERS, with topic names of the test's
// own) when there is one, else on an in-process kfake cluster.
func startEnv(t *testing.T, mod func(*enforcer.Config), opts ...enforcer.Option) *env {
	t.Helper()
	if b := os.Getenv("MXWARDEN_TEST_KAFKA_BROKERS"); b != "" {
		var rnd [4]byte
		_, _ = rand.Read(rnd[:])
		return startEnvOnBrokers(t, strings.Split(b, ","), fmt.Sprintf("desk-%x.", rnd), mod, opts...)
	}
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return startEnvOnBrokers(t, cluster.ListenAddrs(), "", mod, opts...)
}

// startEnvKfake starts an enforcer with the desk on an in-process kfake
// cluster the test can stop.
func startEnvKfake(t *testing.T, mod func(*enforcer.Config)) (*env, *kfake.Cluster) {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	return startEnvOnBrokers(t, cluster.ListenAddrs(), "", mod), cluster
}

// startEnvOn starts a second enforcer with the desk on the Kafka of e.
func startEnvOn(t *testing.T, e *env) *env {
	t.Helper()
	return startEnvOnBrokers(t, e.brokers, e.prefix, nil)
}

func startEnvOnBrokers(t *testing.T, brokers []string, prefix string, mod func(*enforcer.Config), opts ...enforcer.Option) *env {
	t.Helper()
	dir := t.TempDir()
	cfg := enforcer.Default()
	cfg.Kafka.Brokers = brokers
	if prefix != "" {
		tp := &cfg.Kafka.Topics
		for _, n := range []*string{&tp.Events, &tp.Verdicts, &tp.Bans, &tp.DeadLetter, &tp.Allowlist, &tp.Outcomes, &tp.Queue, &tp.Disputes} {
			*n = prefix + *n
		}
	}
	cfg.Kafka.Partitions = 1
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Policy.Addr = "127.0.0.1:0"
	cfg.Maps.Dir = filepath.Join(dir, "maps")
	cfg.State.Dir = filepath.Join(dir, "state")
	cfg.PrintBans = false
	cfg.API.Tokens = []api.Token{
		{Name: "desk-admin", Role: api.RoleAdmin, Token: adminToken},
		{Name: "desk-viewer", Role: api.RoleRead, Token: viewerToken},
	}
	cfg.Desk.Enabled = true
	cfg.Desk.Addr = "127.0.0.1:0"
	cfg.Desk.LookupBurst = 100
	cfg.Desk.LookupsPerMinute = 600
	cfg.Desk.DisputesPerHour = 100
	cfg.Desk.TicketURL = "https://help.example.net/tickets"
	cfg.Desk.Platform = "Example Mail"
	if mod != nil {
		mod(&cfg)
	}
	e := &env{t: t, brokers: brokers, prefix: prefix, cfg: cfg, reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("enforcer log:\n%s", e.logs.String())
		}
	})
	svc, err := enforcer.New(cfg, slog.New(slog.NewTextHandler(e.logs, nil)), e.reg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("enforcer run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("enforcer did not stop")
		}
	})
	select {
	case <-svc.Ready():
	case err := <-done:
		t.Fatalf("enforcer run: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("enforcer not ready after 30s")
	}
	select {
	case <-svc.Desk().Started():
	case <-time.After(10 * time.Second):
		t.Fatal("desk not listening after 10s")
	}
	e.base = "http://" + svc.Desk().Addr()
	e.apiBase = "http://" + svc.HTTPAddr()
	kc, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kc.Close)
	e.kc = kc
	return e
}

// ruleBan is a ban as the detector makes it.
func ruleBan(rule string, kind event.SubjectKind, subject string, ev map[string]float64, msg string) *event.Ban {
	now := time.Now().UTC().Truncate(time.Second)
	return &event.Ban{
		Verdict: event.Verdict{
			ID: "v-" + rule + "-1", TS: now.Add(-time.Minute), Rule: rule, SubjectKind: kind, Subject: subject,
			Action: event.ActionBan, Message: msg, Evidence: ev, Expires: event.OptTime{Time: now.Add(24 * time.Hour)},
			WindowStart: now.Add(-time.Hour), WindowEnd: now.Add(-time.Minute),
			FirstEventID: "mx1:1:100", LastEventID: "mx1:1:9000",
		},
		Source: "rule", Level: 1,
	}
}

// produceBan produces b to the bans topic and waits until the enforcer
// has it.
func (e *env) produceBan(b *event.Ban) {
	e.t.Helper()
	v, err := event.MarshalBan(b)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.kc.ProduceSync(ctx, &kgo.Record{Topic: e.cfg.Kafka.Topics.Bans, Key: []byte(b.Key()), Value: v}).FirstErr(); err != nil {
		e.t.Fatal(err)
	}
	eventually(e.t, "ban "+b.Key()+" in the set", func() bool {
		_, ok := e.svc.Set().Get(b.Key())
		return ok
	})
}

// records reads every record of topic up to its high watermarks now.
func (e *env) records(topic string) []*kgo.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(e.kc).ListEndOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	var out []*kgo.Record
	for len(want) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		fs.EachRecord(func(r *kgo.Record) {
			out = append(out, r)
			if end, ok := want[r.Partition]; ok && r.Offset+1 >= end {
				delete(want, r.Partition)
			}
		})
	}
	return out
}

// policy asks the enforcer's policy server about a sender and recipient
// and returns the action line.
func (e *env) policy(sender, recipient string) string {
	e.t.Helper()
	c, err := net.DialTimeout("tcp", e.svc.PolicyAddr(), 2*time.Second)
	if err != nil {
		e.t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "request=smtpd_access_policy\nprotocol_state=RCPT\nclient_address=192.0.2.10\nsender=" + sender +
		"\nrecipient=" + recipient + "\n\n"
	if _, err := io.WriteString(c, req); err != nil {
		e.t.Fatal(err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		e.t.Fatal(err)
	}
	return strings.TrimSuffix(line, "\n")
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// client is an HTTP client with its own cookie jar that does not follow
// redirects (tests look at them).
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
}

func (e *env) get(c *http.Client, path string) (int, string) {
	e.t.Helper()
	resp, err := c.Get(e.base + path)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) post(c *http.Client, path string, form url.Values) (int, string) {
	e.t.Helper()
	resp, err := c.PostForm(e.base+path, form)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// login signs c in with token.
func (e *env) login(c *http.Client, token string) {
	e.t.Helper()
	code, body := e.post(c, "/staff/login", url.Values{"token": {token}, "next": {"/staff"}})
	if code != http.StatusSeeOther {
		e.t.Fatalf("login: %d %s", code, body)
	}
}

var csrfRE = regexp.MustCompile(`name="csrf" value="([0-9a-f]+)"`)

// csrf returns the CSRF token of the first form on the page.
func csrf(t *testing.T, body string) string {
	t.Helper()
	m := csrfRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatal("no csrf field on the page")
	}
	return m[1]
}

func banPath(kind event.SubjectKind, subject string) string {
	return "/staff/ban?" + url.Values{"kind": {string(kind)}, "subject": {subject}}.Encode()
}

// apiDo calls the operator API with a bearer token.
func (e *env) apiDo(method, path, token string, body string) int {
	e.t.Helper()
	req, err := http.NewRequest(method, e.apiBase+path, strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func invalidRecipientsBan(sender string) *event.Ban {
	return ruleBan("invalid_recipients", event.KindSender, sender, map[string]float64{
		"attempts": 40, "user_unknown": 31, "ratio": 0.775, "threshold_ratio": 0.5, "min_attempts": 20, "window_seconds": 3600,
	}, "Your sending address has been blocked by admins: you recently sent too many emails to invalid recipients (31 of 40 in 1h). Open a ticket at https://help.example.net/tickets")
}

// metric returns the value of the counter or gauge name with the given
// label pairs from the enforcer's registry (0 when absent).
func (e *env) metric(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			if c := m.GetCounter(); c != nil {
				return c.GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	return 0
}
