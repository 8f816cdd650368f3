package ingest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/event"
)

const logLines = `2026-11-26T10:00:00Z mx1 postfix/submission/smtpd[1]: 4ZAAAA0001: client=web.example[192.0.2.10], sasl_method=PLAIN, sasl_username=acme
2026-11-26T10:00:00Z mx1 postfix/qmgr[2]: 4ZAAAA0001: from=<billing@acme.example>, size=1234, nrcpt=2 (queue active)
2026-11-26T10:00:01Z mx1 postfix/smtp[3]: 4ZAAAA0001: to=<a@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=0.5, delays=0.1/0/0.2/0.2, dsn=2.0.0, status=sent (250 2.0.0 OK  1764177000 abc.5 - gsmtp)
2026-11-26T10:00:01Z mx1 postfix/smtp[3]: 4ZAAAA0001: to=<nobody@example.org>, relay=mx.example.org[198.51.100.7]:25, delay=0.4, delays=0.02/0/0.2/0.19, dsn=5.1.1, status=bounced (host mx.example.org[198.51.100.7] said: 550 5.1.1 <nobody@example.org>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))
2026-11-26T10:00:01Z mx1 postfix/qmgr[2]: 4ZAAAA0001: removed
2026-11-26T10:00:02Z mx1 amavis[9]: (12345-01) Passed CLEAN
this is not a log line
2026-11-26T10:00:03Z mx1 postfix/submission/smtpd[1]: 4ZAAAA0002: client=web.example[192.0.2.10], sasl_method=PLAIN, sasl_username=acme
2026-11-26T10:00:03Z mx1 postfix/qmgr[2]: 4ZAAAA0002: from=<billing@acme.example>, size=99, nrcpt=1 (queue active)
`

func testConfig(t *testing.T, brokers string, dir string) Config {
	t.Helper()
	cfg := Default()
	cfg.Kafka.Brokers = []string{brokers}
	cfg.Kafka.Partitions = 1
	cfg.HTTP.Addr = ""
	cfg.Source.File = filepath.Join(dir, "maillog")
	cfg.Source.CheckpointFile = filepath.Join(dir, "state", "checkpoint")
	cfg.Source.Host = "mx1"
	cfg.Source.Poll = 10 * time.Millisecond
	return cfg
}

func TestRunFileToKafka(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	dir := t.TempDir()
	cfg := testConfig(t, c.ListenAddrs()[0], dir)
	cfg.Source.MaxLine = 300
	long := "2026-11-26T10:00:04Z mx1 postfix/smtpd[1]: " + strings.Repeat("x", 400)
	if err := os.WriteFile(cfg.Source.File, []byte(logLines+long+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	svc, err := New(cfg, slog.New(slog.DiscardHandler), reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...),
		kgo.ConsumeTopics(cfg.Kafka.Topics.Events, cfg.Kafka.Topics.DeadLetter),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var events []*event.DeliveryEvent
	dead := map[string]string{}
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	for (len(events) < 2 || len(dead) < 3) && pctx.Err() == nil {
		cl.PollFetches(pctx).EachRecord(func(r *kgo.Record) {
			if r.Topic == cfg.Kafka.Topics.DeadLetter {
				for _, h := range r.Headers {
					if h.Key == "mxwarden-error" {
						dead[string(h.Value)] = string(r.Value)
					}
				}
				return
			}
			e, err := event.UnmarshalEvent(r.Value)
			if err != nil {
				t.Errorf("bad event record: %v", err)
				return
			}
			if string(r.Key) != e.Account() {
				t.Errorf("record key %q, want account %q", r.Key, e.Account())
			}
			events = append(events, e)
		})
	}
	if len(events) != 2 {
		t.Fatalf("%d events, want 2", len(events))
	}
	byRcpt := map[string]*event.DeliveryEvent{}
	for _, e := range events {
		byRcpt[e.Recipient] = e
	}
	sent, bounced := byRcpt["a@gmail.com"], byRcpt["nobody@example.org"]
	if sent == nil || sent.Status != event.StatusSent || sent.Sender != "billing@acme.example" || sent.SASLUser != "acme" || sent.ClientIP != "192.0.2.10" {
		t.Errorf("sent event: %+v", sent)
	}
	if bounced == nil || bounced.Status != event.StatusBounced || bounced.Reason != "user_unknown" || bounced.ReplyCode != 550 || bounced.DSN != "5.1.1" {
		t.Errorf("bounced event: %+v", bounced)
	}
	if !strings.HasPrefix(sent.ID, "mx1:") {
		t.Errorf("event id %q lacks host", sent.ID)
	}
	if _, ok := dead["unparseable"]; !ok {
		t.Errorf("garbage line not dead-lettered as unparseable: %v", dead)
	}
	if v, ok := dead["truncated"]; !ok || len(v) != 300 {
		t.Errorf("long line not dead-lettered as truncated (cut to 300 bytes): %d bytes", len(v))
	}
	// The long line's head is a Postfix text of no known shape.
	if v, ok := dead["unrecognised"]; !ok || !strings.HasPrefix(v, "2026-11-26T10:00:04Z mx1 postfix/smtpd[1]: xxx") {
		t.Errorf("unrecognised line not dead-lettered as unrecognised: %v", dead)
	}
	if got := testutil.ToFloat64(svc.linesRejected.WithLabelValues("unrecognised")); got != 1 {
		t.Errorf("unrecognised counted %v times, want 1", got)
	}
	if _, ok := dead[string("unknown_program")]; ok {
		t.Error("amavis line dead-lettered; other programs are only counted")
	}
	if got := testutil.ToFloat64(svc.linesRejected.WithLabelValues("unknown_program")); got != 1 {
		t.Errorf("unknown_program counted %v times, want 1", got)
	}

	// The checkpoint holds the position and the second message, still in flight.
	deadline := time.Now().Add(10 * time.Second)
	var cp checkpoint
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(cfg.Source.CheckpointFile)
		if err == nil && json.Unmarshal(b, &cp) == nil && cp.Position != nil && cp.Position.Offset > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cp.Position == nil || len(cp.Pending) != 1 || cp.Pending[0].QueueID != "4ZAAAA0002" || cp.Pending[0].Sender != "billing@acme.example" {
		t.Errorf("checkpoint: %+v", cp)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run returned %v on cancel", err)
	}
}

func TestConfig(t *testing.T) {
	cfg := Default()
	_, err := config.Load([]string{"--set", "source.file=/var/log/mail.log"},
		func() []string {
			return []string{"MXWARDEN_INGEST_SYSLOG_UDP=127.0.0.1:5514", "MXWARDEN_INGEST_SOURCE_BACKFILL=a.gz,b"}
		},
		"MXWARDEN_INGEST_", &cfg)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Source.File != "/var/log/mail.log" || cfg.Syslog.UDP != "127.0.0.1:5514" || len(cfg.Source.Backfill) != 2 {
		t.Errorf("loaded %+v", cfg)
	}
	bad := []struct{ name, set, want string }{
		{"no source", "source.format=postfix", "nothing to read"},
		{"format", "source.format=qmail", "source.format"},
		{"queue format", "queue.command=postqueue -j,queue.format=xml", "queue.format"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			var args []string
			for _, kv := range strings.Split(tc.set, ",") {
				args = append(args, "--set", kv)
			}
			if tc.name != "no source" {
				args = append(args, "--set", "source.file=/x")
			}
			_, err := config.Load(args, nil, "MXWARDEN_INGEST_", &c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want mention of %q", err, tc.want)
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "mail.log")
	if err := os.WriteFile(f, []byte(logLines), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if err := ParseCommand([]string{"--host", "mx1", f}, nil, &out, &errOut); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d event lines, want 2:\n%s", len(lines), out.String())
	}
	if !strings.Contains(errOut.String(), "mail.log:7: unparseable") || !strings.Contains(errOut.String(), "1 of other programs, 1 messages still in flight") {
		t.Errorf("stderr:\n%s", errOut.String())
	}
	if err := ParseCommand([]string{filepath.Join(dir, "missing")}, nil, &out, &errOut); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

// The issue 9 case: a Solaris relay's log (an [ID n facility.level] tag
// after the program) with Postfix and Exim lines in one file, parsed with
// the default format; a line of no known shape is counted and listed.
func TestParseCommandAutoAndSummary(t *testing.T) {
	in := strings.Join([]string{
		"Nov 26 17:30:58 relay1 postfix/local[13410]: [ID 197553 mail.info] C589E3780: to=<ops@relay1.example>, relay=local, delay=0.07, delays=0.03/0.01/0/0.03, dsn=2.0.0, status=sent (delivered to mailbox)",
		"Nov 26 17:30:59 relay1 postfix/smtpd[13411]: [ID 197553 mail.info] connect from unknown[192.0.2.1]",
		"Nov 26 17:31:00 relay1 postfix/smtpd[13411]: [ID 197553 mail.info] C589E3781: something postfix 9 might log",
		"Nov 26 17:31:01 relay1 exim[4242]: 1abcDE-00012A-Bc ** x@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.2] : SMTP error from remote mail server after RCPT TO:<x@example.net>: 550 5.1.1 No such user",
		"Nov 26 17:31:02 relay1 postfix/smtpd[13411]: [ID 197553 mail.warning] warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=ops",
	}, "\n") + "\n"
	var out, errOut bytes.Buffer
	if err := ParseCommand([]string{"--host", "relay1"}, strings.NewReader(in), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	var statuses []string
	for _, l := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		e, err := event.UnmarshalEvent([]byte(l))
		if err != nil {
			t.Fatalf("%v: %s", err, l)
		}
		statuses = append(statuses, string(e.Status)+":"+e.MTA)
	}
	if got := strings.Join(statuses, " "); got != "sent:postfix bounced:exim auth_failed:postfix" {
		t.Errorf("events %s", got)
	}
	for _, want := range []string{"-:3: unrecognised: parse line: unrecognised", "parsed 5 lines, 1 rejected", "  1 unrecognised (-:3)"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut.String())
		}
	}
	out.Reset()
	errOut.Reset()
	if err := ParseCommand([]string{"--host", "relay1", "--format", "exim", "--quiet"}, strings.NewReader(in), &out, &errOut); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(errOut.String(), "parsed 5 lines, 0 rejected, 4 of other programs") {
		t.Errorf("--format exim: %d events, stderr %s", n, errOut.String())
	}
	if err := ParseCommand([]string{"--format", "sendmail"}, strings.NewReader(in), &out, &errOut); err == nil {
		t.Error("--format sendmail accepted")
	}
}

// With stdin as the only source, ingest produces every event of the input
// and stops by itself when the input ends.
func TestRunStdinEnds(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cfg := testConfig(t, c.ListenAddrs()[0], t.TempDir())
	cfg.Source.File = ""
	cfg.Source.Stdin = true
	svc, err := New(cfg, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	// Many lines, so the last batches are still queued when stdin ends.
	var in strings.Builder
	for range 200 {
		in.WriteString(logLines)
	}
	svc.stdin = strings.NewReader(in.String())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := svc.Run(ctx); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Run did not stop when stdin ended")
	}
	// The same two deliveries 200 times (same queue ids, joined again each time).
	if got := testutil.ToFloat64(svc.events.WithLabelValues("sent")) + testutil.ToFloat64(svc.events.WithLabelValues("bounced")); got != 400 {
		t.Errorf("%v events acknowledged, want 400", got)
	}
}
