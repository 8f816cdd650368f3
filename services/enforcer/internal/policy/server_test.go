package policy

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func put(s *banset.Set, kind event.SubjectKind, subject, msg string) {
	s.Put(&event.Ban{Verdict: event.Verdict{
		Rule: "r", SubjectKind: kind, Subject: subject, Action: event.ActionBan, Message: msg, TS: t0,
	}})
}

type fixture struct {
	t    *testing.T
	set  *banset.Set
	srv  *Server
	reg  *prometheus.Registry
	addr string
}

func start(t *testing.T, cfg Config) *fixture {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 16
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = 5 * time.Second
	}
	set := banset.New(func() time.Time { return t0 })
	put(set, event.KindSender, "root@localhost", "Your sending address has been blocked by admins: open a ticket")
	put(set, event.KindAccount, "customer7", "account blocked")
	put(set, event.KindSenderDomain, "spam.example", "domain blocked")
	put(set, event.KindClientIP, "192.0.2.66", "ip blocked")
	put(set, event.KindRecipient, "victim@gmail.example", "recipient blocked")
	put(set, event.KindRecipientDomain, "sms.example", "sms gateway")
	put(set, event.KindSender, "nasty@x.example", "two\nlines\r\x00 here")
	reg := prometheus.NewRegistry()
	srv, err := New(cfg, set, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("server did not stop")
		}
	})
	return &fixture{t: t, set: set, srv: srv, reg: reg, addr: srv.Addr()}
}

type client struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func (f *fixture) dial() *client {
	f.t.Helper()
	c, err := net.DialTimeout("tcp", f.addr, 2*time.Second)
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	return &client{t: f.t, c: c, r: bufio.NewReader(c)}
}

// request sends attrs as a Postfix request (the usual attributes first)
// and returns the action line's value.
func (c *client) request(attrs ...string) string {
	c.t.Helper()
	var b strings.Builder
	b.WriteString("request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nhelo_name=mx.example\nqueue_id=\n")
	for _, a := range attrs {
		b.WriteString(a)
		b.WriteByte('\n')
	}
	b.WriteString("\n")
	if _, err := io.WriteString(c.c, b.String()); err != nil {
		c.t.Fatal(err)
	}
	return c.answer()
}

func (c *client) answer() string {
	c.t.Helper()
	line, err := c.r.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read answer: %v", err)
	}
	blank, err := c.r.ReadString('\n')
	if err != nil || blank != "\n" {
		c.t.Fatalf("answer not ended by an empty line: %q %v", blank, err)
	}
	if !strings.HasPrefix(line, "action=") {
		c.t.Fatalf("answer %q", line)
	}
	return strings.TrimSuffix(strings.TrimPrefix(line, "action="), "\n")
}

// closed reports whether the server closed the connection (EOF or reset)
// without sending anything more.
func (c *client) closed() bool {
	c.t.Helper()
	_ = c.c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := c.r.ReadByte()
	if err == nil {
		c.t.Fatalf("server sent %q instead of closing", b)
	}
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func TestDecisions(t *testing.T) {
	f := start(t, Config{})
	c := f.dial() // one connection for every request, as Postfix does
	tests := []struct {
		name  string
		attrs []string
		want  string
	}{
		{"unbanned", []string{"sender=ok@ok.example", "recipient=friend@ok.example", "client_address=192.0.2.1"}, "DUNNO"},
		{"sender", []string{"sender=root@localhost", "recipient=friend@ok.example"}, "REJECT Your sending address has been blocked by admins: open a ticket"},
		{"sender case and brackets", []string{"sender=<ROOT@LocalHost>", "recipient=friend@ok.example"}, "REJECT Your sending address has been blocked by admins: open a ticket"},
		{"sasl_username", []string{"sender=any@ok.example", "sasl_username=Customer7", "recipient=x@ok.example"}, "REJECT account blocked"},
		{"sender domain", []string{"sender=whoever@spam.example", "recipient=x@ok.example"}, "REJECT domain blocked"},
		{"client address", []string{"sender=a@ok.example", "client_address=192.0.2.66", "client_name=unknown"}, "REJECT ip blocked"},
		{"recipient", []string{"sender=a@ok.example", "recipient=victim@gmail.example"}, "REJECT recipient blocked"},
		{"recipient domain", []string{"sender=a@ok.example", "recipient=15551234567@SMS.example"}, "REJECT sms gateway"},
		{"null sender", []string{"sender=", "recipient=x@ok.example"}, "DUNNO"},
		{"message sanitised", []string{"sender=nasty@x.example"}, "REJECT two lines here"},
		{"unknown attributes ignored", []string{"ccert_subject=", "policy_context=", "x_future=1=2"}, "DUNNO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.request(tt.attrs...); got != tt.want {
				t.Fatalf("answer %q, want %q", got, tt.want)
			}
		})
	}
	// The server counts a request after writing its answer, so the last
	// count may land a moment after the client read the answer.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && testutil.ToFloat64(f.srv.requests.WithLabelValues(DecisionDunno)) < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	if got := testutil.ToFloat64(f.srv.requests.WithLabelValues(DecisionReject)); got != 8 {
		t.Errorf("reject count = %v, want 8", got)
	}
	if got := testutil.ToFloat64(f.srv.requests.WithLabelValues(DecisionDunno)); got != 3 {
		t.Errorf("dunno count = %v, want 3", got)
	}
	if n := testutil.CollectAndCount(f.reg, "mxwarden_enforcer_policy_request_duration_seconds"); n != 1 {
		t.Errorf("latency histogram missing")
	}
}

func TestLiveBanSet(t *testing.T) {
	f := start(t, Config{})
	c := f.dial()
	if got := c.request("sender=later@ok.example"); got != "DUNNO" {
		t.Fatalf("before ban: %q", got)
	}
	put(f.set, event.KindSender, "later@ok.example", "now banned")
	if got := c.request("sender=later@ok.example"); got != "REJECT now banned" {
		t.Fatalf("after ban: %q", got)
	}
	f.set.Delete(event.BanKey(event.KindSender, "later@ok.example"))
	if got := c.request("sender=later@ok.example"); got != "DUNNO" {
		t.Fatalf("after lift: %q", got)
	}
}

func TestPipelinedRequests(t *testing.T) {
	f := start(t, Config{})
	c := f.dial()
	// Several requests in one write: answered in order.
	req := "sender=root@localhost\n\nsender=ok@ok.example\n\n\n\nrecipient=victim@gmail.example\r\n\r\n"
	if _, err := io.WriteString(c.c, req); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"REJECT Your sending address has been blocked by admins: open a ticket", "DUNNO", "REJECT recipient blocked"} {
		if got := c.answer(); got != want {
			t.Fatalf("answer %q, want %q", got, want)
		}
	}
}

func TestHostileAttributeValues(t *testing.T) {
	f := start(t, Config{})
	c := f.dial()
	tests := []struct {
		name  string
		attrs []string
		want  string
	}{
		{"NUL in sender", []string{"sender=root@localhost\x00"}, "DUNNO"},
		{"not UTF-8", []string{"sender=\xff\xfe@spam.examplf"}, "DUNNO"},
		{"CR inside", []string{"sender=root@local\rhost"}, "DUNNO"},
		{"equals in value", []string{"sender=a=b@ok.example"}, "DUNNO"},
		{"injected answer text", []string{"sender=x@ok.example\taction=OK"}, "DUNNO"},
		{"domain of hostile sender", []string{"sender=evil\x00@spam.example"}, "REJECT domain blocked"},
		{"long value", []string{"recipient=" + strings.Repeat("a", 4000)}, "DUNNO"},
		{"empty name", []string{"=root@localhost"}, "DUNNO"},
		{"repeated attribute: last wins", []string{"sender=root@localhost", "sender=ok@ok.example"}, "DUNNO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := c.request(tt.attrs...); got != tt.want {
				t.Fatalf("answer %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOversizeAndMalformedClose(t *testing.T) {
	f := start(t, Config{})
	tests := []struct {
		name   string
		send   string
		reason string
	}{
		{"line over 4 KiB", "sender=" + strings.Repeat("a", MaxLineLen) + "\n\n", "too_long"},
		{"endless line", strings.Repeat("b", 3*MaxLineLen), "too_long"},
		{"too many attributes", strings.Repeat("x=1\n", MaxAttrs+1) + "\n", "too_many_attrs"},
		{"line without =", "sender root@localhost\n\n", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := f.dial()
			// A good request first: the connection works until the bad one.
			if got := c.request("sender=root@localhost"); !strings.HasPrefix(got, "REJECT") {
				t.Fatalf("first answer %q", got)
			}
			_, _ = io.WriteString(c.c, tt.send)
			if !c.closed() {
				t.Fatal("connection not closed")
			}
			if got := testutil.ToFloat64(f.srv.closed.WithLabelValues(tt.reason)); got < 1 {
				t.Fatalf("closed{reason=%s} = %v", tt.reason, got)
			}
		})
	}
	if got := testutil.ToFloat64(f.srv.requests.WithLabelValues(DecisionError)); got != float64(len(tests)) {
		t.Errorf("error count = %v, want %d", got, len(tests))
	}
	// Exactly MaxLineLen and MaxAttrs are fine.
	c := f.dial()
	if got := c.request("sender=" + strings.Repeat("a", MaxLineLen-len("sender="))); got != "DUNNO" {
		t.Fatalf("line of MaxLineLen: %q", got)
	}
	if got := c.request(strings.Split(strings.Repeat("y=1\n", MaxAttrs-5), "\n")[:MaxAttrs-5]...); got != "DUNNO" {
		t.Fatalf("MaxAttrs attributes: %q", got)
	}
}

func TestReadTimeout(t *testing.T) {
	f := start(t, Config{ReadTimeout: 200 * time.Millisecond})
	idle := f.dial()
	if got := idle.request("sender=root@localhost"); !strings.HasPrefix(got, "REJECT") {
		t.Fatal(got)
	}
	if !idle.closed() {
		t.Fatal("idle connection not closed")
	}
	// A request trickled slower than the timeout is cut too.
	slow := f.dial()
	_, _ = io.WriteString(slow.c, "sender=root@localhost\n")
	for range 4 {
		time.Sleep(80 * time.Millisecond)
		if _, err := io.WriteString(slow.c, "x=1\n"); err != nil {
			break
		}
	}
	if !slow.closed() {
		t.Fatal("trickling connection not closed")
	}
	if got := testutil.ToFloat64(f.srv.closed.WithLabelValues("timeout")); got != 2 {
		t.Fatalf("closed{timeout} = %v", got)
	}
}

func TestMaxConns(t *testing.T) {
	f := start(t, Config{MaxConns: 2})
	a, b := f.dial(), f.dial()
	a.request("sender=x@ok.example")
	b.request("sender=x@ok.example")
	// The third connection is not served while two are open...
	c := f.dial()
	_, _ = io.WriteString(c.c, "sender=root@localhost\n\n")
	_ = c.c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if _, err := c.r.ReadByte(); err == nil {
		t.Fatal("third connection served beyond max_conns")
	}
	// ... and is once one closes.
	_ = a.c.Close()
	_ = c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if got := c.answer(); !strings.HasPrefix(got, "REJECT") {
		t.Fatalf("queued connection answer %q", got)
	}
}

func TestConcurrentClients(t *testing.T) {
	f := start(t, Config{MaxConns: 64})
	var wg sync.WaitGroup
	errs := make(chan string, 32)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				errs <- err.Error()
				return
			}
			defer c.Close()
			r := bufio.NewReader(c)
			for j := range 50 {
				sender, want := "ok@ok.example", "action=DUNNO\n"
				if (i+j)%2 == 0 {
					sender, want = "root@localhost", "action=REJECT Your sending address has been blocked by admins: open a ticket\n"
				}
				if _, err := io.WriteString(c, "sender="+sender+"\n\n"); err != nil {
					errs <- err.Error()
					return
				}
				line, _ := r.ReadString('\n')
				blank, _ := r.ReadString('\n')
				if line != want || blank != "\n" {
					errs <- line
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestShutdownClosesConnections(t *testing.T) {
	set := banset.New(nil)
	srv, err := New(Config{Addr: "127.0.0.1:0", MaxConns: 4, ReadTimeout: time.Minute}, set, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "sender=a@b.example\n\n")
	_, _ = bufio.NewReader(c).ReadString('\n')
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return with an idle connection open")
	}
	if _, err := net.DialTimeout("tcp", srv.Addr(), time.Second); err == nil {
		t.Fatal("still accepting after shutdown")
	}
}

func TestNewValidates(t *testing.T) {
	l := slog.New(slog.DiscardHandler)
	if _, err := New(Config{MaxConns: 0, ReadTimeout: time.Second}, banset.New(nil), l, prometheus.NewRegistry()); err == nil {
		t.Error("max_conns 0 accepted")
	}
	if _, err := New(Config{MaxConns: 1}, banset.New(nil), l, prometheus.NewRegistry()); err == nil {
		t.Error("read_timeout 0 accepted")
	}
}
