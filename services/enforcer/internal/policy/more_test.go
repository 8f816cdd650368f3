package policy

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

func TestDeferPairAndAllowlist(t *testing.T) {
	f := start(t, Config{})
	f.set.Put(&event.Ban{Verdict: event.Verdict{Rule: "rate", SubjectKind: event.KindAccount, Subject: "busy", Action: event.ActionDefer, Message: "4.7.1 hourly limit"}})
	f.set.Put(&event.Ban{Verdict: event.Verdict{Rule: "recipient_block", SubjectKind: event.KindSenderRecipient,
		Subject: event.PairSubject("fan@a.example", "star@b.example"), Action: event.ActionBan, Message: "refused by the recipient"}})
	f.set.PutAllow(&event.AllowEntry{Kind: event.KindSender, Subject: "root@localhost", Reason: "ops"})
	c := f.dial()
	tests := []struct {
		attrs []string
		want  string
	}{
		{[]string{"sasl_username=busy", "sender=x@ok.example", "recipient=r@ok.example"}, "DEFER_IF_PERMIT 4.7.1 hourly limit"},
		{[]string{"sasl_username=busy", "sender=x@spam.example", "recipient=r@ok.example"}, "REJECT domain blocked"}, // a ban beats a defer
		{[]string{"sender=<FAN@a.example>", "recipient=star@b.example"}, "REJECT refused by the recipient"},
		{[]string{"sender=fan@a.example", "recipient=other@b.example"}, "DUNNO"},
		{[]string{"sender=root@localhost", "recipient=r@ok.example"}, "DUNNO"}, // allowlisted although banned
	}
	for _, tt := range tests {
		if got := c.request(tt.attrs...); got != tt.want {
			t.Errorf("%v: %q, want %q", tt.attrs, got, tt.want)
		}
	}
	if got := testutil.ToFloat64(f.srv.requests.WithLabelValues(DecisionDefer)); got != 1 {
		t.Errorf("defer decisions = %v", got)
	}
}

func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "private", "mxwarden")
	// A stale socket file from a crash is replaced.
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()
	f := start(t, Config{Addr: "127.0.0.1:0", Unix: path, UnixMode: 0o660})
	fi, err := os.Stat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket %v %v", fi, err)
	}
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	if got := cl.request("sender=root@localhost"); !strings.HasPrefix(got, "REJECT ") {
		t.Fatalf("over the unix socket: %q", got)
	}
	// TCP still works.
	if got := f.dial().request("sender=ok@ok.example"); got != "DUNNO" {
		t.Fatalf("tcp: %q", got)
	}
	// A regular file in the way is not removed.
	other := filepath.Join(dir, "file")
	if err := os.WriteFile(other, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	srv, _ := New(Config{Unix: other, MaxConns: 1, ReadTimeout: time.Second}, banset.New(nil), slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err := srv.Listen(); err == nil {
		t.Fatal("listened over a regular file")
	}
	if b, _ := os.ReadFile(other); string(b) != "x" {
		t.Fatal("regular file clobbered")
	}
}

// slowMatcher is a ban set whose lock is held by a writer: TryMatch fails
// and Match blocks until released.
type slowMatcher struct {
	release chan struct{}
}

func (m slowMatcher) Match(banset.Query) (event.Ban, bool) {
	<-m.release
	return event.Ban{Verdict: event.Verdict{Action: event.ActionBan, Message: "late"}}, true
}

func (m slowMatcher) TryMatch(banset.Query) (event.Ban, bool, bool) { return event.Ban{}, false, false }

func TestDeadlineAnswersDefaultAction(t *testing.T) {
	m := slowMatcher{release: make(chan struct{})}
	defer close(m.release)
	reg := prometheus.NewRegistry()
	srv, err := New(Config{Addr: "127.0.0.1:0", MaxConns: 4, ReadTimeout: 5 * time.Second, Deadline: 50 * time.Millisecond},
		m, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	c, err := net.Dial("tcp", srv.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl := &client{t: t, c: c, r: bufio.NewReader(c)}
	if got := cl.request("sender=a@b.example"); got != "DUNNO" {
		t.Fatalf("past the deadline: %q", got)
	}
	// Counted once the answer is written, just after we read it.
	for deadline := time.Now().Add(5 * time.Second); testutil.ToFloat64(srv.requests.WithLabelValues(DecisionDeadline)) != 1; {
		if time.Now().After(deadline) {
			t.Fatal("deadline decision not counted")
		}
		time.Sleep(time.Millisecond)
	}
}

// nopConn is the deadline side of a net.Conn, for readRequest.
type nopConn struct{ net.Conn }

func (nopConn) SetReadDeadline(time.Time) error { return nil }

// FuzzReadRequest feeds arbitrary bytes to the request reader: it never
// panics, never returns a query holding a line break or NUL, and the
// answer to whatever it returns is one action line of printable ASCII.
func FuzzReadRequest(f *testing.F) {
	f.Add([]byte("request=smtpd_access_policy\nsender=a@b.example\nrecipient=c@d.example\n\n"))
	f.Add([]byte("sender=a@b\x00\nclient_address=::1\r\n\r\n"))
	f.Add([]byte("no equals sign\n\n"))
	f.Add([]byte(strings.Repeat("x", MaxLineLen+10) + "\n\n"))
	f.Add([]byte("\n\n\nsender=<A@B.EXAMPLE>\nsasl_username=U\n\n"))
	set := banset.New(nil)
	set.Put(&event.Ban{Verdict: event.Verdict{Rule: "r", SubjectKind: event.KindSender, Subject: "a@b.example", Action: event.ActionBan, Message: "m\u202e\x1b[1m"}})
	srv, err := New(Config{Addr: "127.0.0.1:0", MaxConns: 1, ReadTimeout: time.Second}, set, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bufio.NewReaderSize(bytes.NewReader(in), MaxLineLen+1)
		for range 10 {
			q, _, err := srv.readRequest(nopConn{}, r)
			if err != nil {
				if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, ErrLineTooLong) ||
					errors.Is(err, ErrTooManyAttrs) || errors.Is(err, ErrMalformed) {
					return
				}
				t.Fatalf("unexpected error %v", err)
			}
			for _, v := range []string{q.Sender, q.Recipient, q.Account, q.ClientIP} {
				if strings.Contains(v, "\n") { // NULs may pass: they only fail to match (bans are validated)
					t.Fatalf("query holds a line break: %+v", q)
				}
			}
			answer, _ := srv.decide(q)
			lines := strings.Split(answer, "\n")
			if len(lines) != 3 || lines[1] != "" || lines[2] != "" || !strings.HasPrefix(lines[0], "action=") || !utf8.ValidString(answer) {
				t.Fatalf("answer %q", answer)
			}
			for i := 0; i < len(lines[0]); i++ {
				if lines[0][i] < ' ' || lines[0][i] > '~' {
					t.Fatalf("answer holds byte %#x: %q", lines[0][i], answer)
				}
			}
		}
	})
}
