package enforcer

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

// syncBuffer is a goroutine-safe bytes.Buffer.
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

type running struct {
	once   sync.Once
	t      *testing.T
	svc    *Service
	reg    *prometheus.Registry
	stdout *syncBuffer
	cancel context.CancelFunc
	done   chan error
}

func testConfig(t *testing.T, c *kfake.Cluster, dir string) Config {
	cfg := Default()
	cfg.Kafka.Brokers = c.ListenAddrs()
	cfg.Kafka.Partitions = 3
	cfg.HTTP.Addr = "127.0.0.1:0"
	cfg.Policy.Addr = "127.0.0.1:0"
	cfg.Maps.Dir = dir
	cfg.Maps.Debounce = 20 * time.Millisecond
	cfg.State.Dir = filepath.Join(t.TempDir(), "state")
	if dir != "" {
		cfg.State.Dir = filepath.Join(dir, "state")
	}
	return cfg
}

func startService(t *testing.T, cfg Config, opts ...Option) *running {
	t.Helper()
	logs := &syncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("service log:\n%s", logs.String())
		}
	})
	r := &running{t: t, reg: prometheus.NewRegistry(), stdout: &syncBuffer{}, done: make(chan error, 1)}
	svc, err := New(cfg, slog.New(slog.NewTextHandler(logs, nil)), r.reg, append([]Option{WithStdout(r.stdout)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	r.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- svc.Run(ctx) }()
	t.Cleanup(r.stop)
	select {
	case <-svc.Started():
	case err := <-r.done:
		t.Fatalf("run: %v", err)
	}
	return r
}

func (r *running) stop() {
	r.once.Do(func() {
		r.cancel()
		select {
		case err := <-r.done:
			if err != nil {
				r.t.Errorf("run returned %v", err)
			}
		case <-time.After(15 * time.Second):
			r.t.Error("service did not stop")
		}
	})
}

func (r *running) waitReady() {
	r.t.Helper()
	select {
	case <-r.svc.Ready():
	case err := <-r.done:
		r.t.Fatalf("run: %v", err)
	case <-time.After(30 * time.Second):
		r.t.Fatal("not ready after 30s")
	}
}

func (r *running) readyz() int {
	r.t.Helper()
	resp, err := http.Get("http://" + r.svc.HTTPAddr() + "/readyz")
	if err != nil {
		r.t.Fatal(err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// policyClient speaks the Postfix policy protocol over one connection.
type policyClient struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dialPolicy(t *testing.T, addr string) *policyClient {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &policyClient{t: t, c: c, r: bufio.NewReader(c)}
}

func (p *policyClient) ask(attrs ...string) string {
	p.t.Helper()
	_ = p.c.SetDeadline(time.Now().Add(5 * time.Second))
	req := "request=smtpd_access_policy\nprotocol_state=RCPT\n" + strings.Join(attrs, "\n") + "\n\n"
	if _, err := io.WriteString(p.c, req); err != nil {
		p.t.Fatal(err)
	}
	line, err := p.r.ReadString('\n')
	if err != nil {
		p.t.Fatal(err)
	}
	if blank, err := p.r.ReadString('\n'); err != nil || blank != "\n" {
		p.t.Fatalf("answer not ended by an empty line: %q %v", blank, err)
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

func producer(t *testing.T, c *kfake.Cluster) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("mail.bans"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func produce(t *testing.T, cl *kgo.Client, key string, value []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: value}).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func produceBan(t *testing.T, cl *kgo.Client, b *event.Ban) {
	t.Helper()
	v, err := event.MarshalBan(b)
	if err != nil {
		t.Fatal(err)
	}
	produce(t, cl, b.Key(), v)
}

func fileHas(path, s string) bool {
	b, err := os.ReadFile(path)
	return err == nil && strings.Contains(string(b), s)
}

func newBan(kind event.SubjectKind, subject, msg string, expires time.Time) *event.Ban {
	b := &event.Ban{Verdict: event.Verdict{
		Rule: "invalid_recipients", SubjectKind: kind, Subject: subject, Action: event.ActionBan,
		Message: msg, TS: time.Now().UTC(),
	}, Source: "rule", Level: 1}
	b.Expires.Time = expires
	return b
}

func TestRunEndToEnd(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	dir := t.TempDir()
	cfg := testConfig(t, cluster, dir)
	senderMap := filepath.Join(dir, "sender_access")
	eximSender := filepath.Join(dir, "exim_sender_bans")
	recipientMap := filepath.Join(dir, "recipient_access")

	// --- first enforcer: empty topic, ready at once.
	r1 := startService(t, cfg)
	r1.waitReady()
	if code := r1.readyz(); code != http.StatusOK {
		t.Fatalf("readyz = %d", code)
	}
	p := dialPolicy(t, r1.svc.PolicyAddr())
	if got := p.ask("sender=root@localhost", "recipient=x@ok.example"); got != "action=DUNNO" {
		t.Fatalf("before any ban: %q", got)
	}
	if !fileHas(senderMap, "# postfix-access sender map") {
		t.Fatal("maps not written at start")
	}

	prod := producer(t, cluster)
	msg := "Your sending address has been blocked by admins: open a ticket"
	expires := time.Now().Add(365 * 24 * time.Hour).UTC().Truncate(time.Second)
	produceBan(t, prod, newBan(event.KindSender, "root@localhost", msg, expires))

	eventually(t, "REJECT for the ban", func() bool {
		return p.ask("sender=root@localhost", "recipient=x@ok.example") == "action=REJECT "+msg
	})
	eventually(t, "the ban in the maps", func() bool {
		return fileHas(senderMap, "\nroot@localhost REJECT "+msg+"\n") && fileHas(eximSender, "\nroot@localhost: "+msg+"\n")
	})
	wantLine := fmt.Sprintf("BAN sender root@localhost rule=invalid_recipients expires=%s: %s\n", expires.Format(time.RFC3339), msg)
	eventually(t, "the printed ban", func() bool { return strings.Contains(r1.stdout.String(), wantLine) })

	// A record that is not a ban is counted and changes nothing.
	produce(t, prod, "sender:junk@x.example", []byte("{not json"))
	eventually(t, "the rejected record counted", func() bool {
		return testutil.ToFloat64(r1.svc.m.rejected.WithLabelValues(reasonDecode)) == 1
	})

	// A tombstone lifts the ban everywhere.
	produce(t, prod, event.BanKey(event.KindSender, "root@localhost"), nil)
	eventually(t, "DUNNO after the tombstone", func() bool {
		return p.ask("sender=root@localhost", "recipient=x@ok.example") == "action=DUNNO"
	})
	eventually(t, "the map entry gone", func() bool {
		return !fileHas(senderMap, "root@localhost") && !fileHas(eximSender, "root@localhost") && fileHas(senderMap, "# postfix")
	})
	eventually(t, "the printed unban", func() bool {
		return strings.Contains(r1.stdout.String(), "UNBAN sender root@localhost rule=invalid_recipients reason=lifted\n")
	})

	// A ban that expires is lifted without a tombstone (expiry has second
	// precision on the wire).
	soon := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	produceBan(t, prod, newBan(event.KindRecipient, "brief@gmail.example", "brief", soon))
	eventually(t, "REJECT for the brief ban", func() bool {
		return p.ask("sender=a@ok.example", "recipient=brief@gmail.example") == "action=REJECT brief"
	})
	eventually(t, "the brief ban in the map", func() bool { return fileHas(recipientMap, "brief@gmail.example REJECT brief") })
	eventually(t, "the brief ban expired", func() bool {
		return p.ask("sender=a@ok.example", "recipient=brief@gmail.example") == "action=DUNNO" &&
			!fileHas(recipientMap, "brief@gmail.example") &&
			strings.Contains(r1.stdout.String(), "UNBAN recipient brief@gmail.example rule=invalid_recipients reason=expired\n")
	})

	produceBan(t, prod, newBan(event.KindRecipientDomain, "sms.example", "sms gateway", time.Time{}))
	eventually(t, "the recipient domain ban", func() bool { return fileHas(recipientMap, "sms.example REJECT sms gateway") })
	if got := testutil.ToFloat64(r1.svc.m.applied.WithLabelValues("ban")); got != 3 {
		t.Errorf("applied{ban} = %v, want 3", got)
	}
	r1.stop()

	// --- while it is down: more bans, the last one among many records.
	for i := range 200 {
		produceBan(t, prod, newBan(event.KindSender, fmt.Sprintf("bulk%03d@x.example", i), "bulk", time.Time{}))
	}
	produceBan(t, prod, newBan(event.KindSender, "later@x.example", "banned while down", time.Time{}))

	// --- second enforcer, without a local snapshot: its first fetch is
	// held back, so it cannot catch up; it must not be ready, listen, or
	// rewrite the maps. (With a snapshot it answers at once: TestRestartKafkaDown.)
	cfg.State.Dir = ""
	release := make(chan struct{})
	var held atomic.Bool
	cluster.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		if held.CompareAndSwap(false, true) {
			cluster.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	r2 := startService(t, cfg)
	eventually(t, "the held fetch", held.Load)
	time.Sleep(300 * time.Millisecond)
	select {
	case <-r2.svc.Ready():
		t.Fatal("ready before catching up")
	default:
	}
	if code := r2.readyz(); code != http.StatusServiceUnavailable {
		t.Fatalf("readyz before catch-up = %d", code)
	}
	if fileHas(senderMap, "later@x.example") {
		t.Fatal("map written before catch-up")
	}
	if !fileHas(recipientMap, "sms.example REJECT") {
		t.Fatal("map lost its entries before catch-up")
	}
	close(release)
	r2.waitReady()

	// Ready means caught up: the first answers are right, no waiting.
	p2 := dialPolicy(t, r2.svc.PolicyAddr())
	if got := p2.ask("sender=later@x.example", "recipient=x@ok.example"); got != "action=REJECT banned while down" {
		t.Fatalf("after restart: %q", got)
	}
	if got := p2.ask("sender=a@ok.example", "recipient=x@sms.example"); got != "action=REJECT sms gateway" {
		t.Fatalf("old ban after restart: %q", got)
	}
	if got := p2.ask("sender=root@localhost", "recipient=x@ok.example"); got != "action=DUNNO" {
		t.Fatalf("lifted ban after restart: %q", got)
	}
	if !fileHas(senderMap, "later@x.example REJECT banned while down") || !fileHas(senderMap, "bulk199@x.example") {
		t.Fatal("maps not complete at ready")
	}
	if code := r2.readyz(); code != http.StatusOK {
		t.Fatalf("readyz after catch-up = %d", code)
	}
	if out := r2.stdout.String(); strings.Contains(out, "BAN ") {
		t.Fatalf("catch-up printed history:\n%s", out)
	}
	// New bans after the restart are printed.
	produceBan(t, prod, newBan(event.KindAccount, "customer7", "account blocked", time.Time{}))
	eventually(t, "the account ban", func() bool {
		return p2.ask("sender=x@ok.example", "sasl_username=customer7") == "action=REJECT account blocked" &&
			strings.Contains(r2.stdout.String(), "BAN account customer7 rule=invalid_recipients expires=never: account blocked\n")
	})
	if got := testutil.ToFloat64(r2.svc.m.caughtUp); got != 1 {
		t.Errorf("caught_up = %v", got)
	}
	if n, err := testutil.GatherAndCount(r2.reg, "mxwarden_enforcer_bans_active"); err != nil || n != len(banset.Kinds) {
		t.Errorf("bans_active series = %d, %v", n, err)
	}
}

func TestRunDisabledOutputs(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	cfg := testConfig(t, cluster, "")
	cfg.HTTP.Addr, cfg.Policy.Addr, cfg.PrintBans = "", "", false
	r := startService(t, cfg)
	r.waitReady()
	if r.svc.PolicyAddr() != "" || r.svc.HTTPAddr() != "" {
		t.Fatal("disabled servers have addresses")
	}
	prod := producer(t, cluster)
	produceBan(t, prod, newBan(event.KindSender, "quiet@x.example", "m", time.Time{}))
	eventually(t, "the ban applied", func() bool {
		_, ok := r.svc.Set().Lookup(event.KindSender, "quiet@x.example")
		return ok
	})
	if r.stdout.String() != "" {
		t.Fatalf("printed with print_bans=false: %q", r.stdout.String())
	}
}

func TestNewRejectsInvalidConfig(t *testing.T) {
	cfg := Default()
	cfg.Policy.MaxConns = 0
	if _, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry()); err == nil {
		t.Fatal("invalid config accepted")
	}
}

func TestRunFailsOnUnwritableMapDir(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, cluster, filepath.Join(file, "maps"))
	svc, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := svc.Run(ctx); err == nil || !strings.Contains(err.Error(), "connect map") {
		t.Fatalf("run = %v, want a map error", err)
	}
}
