package parse

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// benchLines replicates the real Postfix corpus lines (every line of the
// fail2ban and modoboa logs, other programs included, plus the whyscream
// bodies framed as syslog lines) to about n lines. Each copy gets its own
// queue ids, so the join state behaves like a log of distinct messages.
func benchLines(b *testing.B, n int) [][]byte {
	b.Helper()
	var base []string
	c := postfixCorpus(b)
	for _, k := range []string{"fail2ban/postfix", "modoboa/mail.log", "whyscream"} {
		base = append(base, c[k]...)
	}
	out := make([][]byte, 0, n)
	for copyN := 0; len(out) < n; copyN++ {
		suffix := strings.ToUpper(strconv.FormatInt(int64(copyN), 16))
		for _, l := range base {
			out = append(out, []byte(renameQueueIDs(l, suffix)))
		}
	}
	return out[:n]
}

// renameQueueIDs appends suffix to the queue id of a Postfix line, keeping
// it a valid id of the same kind.
func renameQueueIDs(l, suffix string) string {
	i := strings.Index(l, "]: ")
	if i < 0 {
		return l
	}
	msg := l[i+3:]
	qid, _, ok := splitQueueID(msg)
	if !ok || len(qid)+len(suffix) > 20 {
		return l
	}
	return l[:i+3] + qid + suffix + msg[len(qid):]
}

// BenchmarkPostfixCorpus measures parse + join throughput over the real
// Postfix corpus, replicated in memory to 200k lines, and reports lines/s:
// "all" feeds every line of the logs (a third are amavis, dovecot,
// policyd-spf... lines, rejected early), "postfix" only the Postfix lines.
func BenchmarkPostfixCorpus(b *testing.B) {
	all := benchLines(b, 200_000)
	var pf [][]byte
	for _, l := range all {
		if strings.Contains(string(l[:min(len(l), 40)]), " postfix") {
			pf = append(pf, l)
		}
	}
	b.Run("all", func(b *testing.B) { benchFeed(b, all) })
	b.Run("postfix", func(b *testing.B) { benchFeed(b, pf) })
}

func benchFeed(b *testing.B, lines [][]byte) {
	ids := make([]string, len(lines))
	for i := range ids {
		ids[i] = "bench:maillog:" + strconv.Itoa(i*100)
	}
	p, err := New(Options{Now: func() time.Time { return time.Date(2017, 12, 1, 0, 0, 0, 0, time.UTC) }})
	if err != nil {
		b.Fatal(err)
	}
	events := 0
	emit := func(*event.DeliveryEvent) { events++ }
	var bytes int64
	for _, l := range lines {
		bytes += int64(len(l)) + 1
	}
	b.ReportAllocs()
	b.SetBytes(bytes)
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		for k, l := range lines {
			_ = p.Feed(l, ids[k], emit)
		}
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*len(lines))/el.Seconds(), "lines/s")
	b.ReportMetric(float64(events)/float64(b.N*len(lines)), "events/line")
}

// BenchmarkPendingMemory reports the heap held per in-flight message: the
// smtpd, cleanup and qmgr lines of distinct messages, without deliveries.
func BenchmarkPendingMemory(b *testing.B) {
	const n = 100_000
	lines := make([][]byte, 0, 4*n)
	for i := 0; i < n; i++ {
		qid := fmt.Sprintf("%X", 0x10000000+i*7919)
		lines = append(lines,
			[]byte("Nov 16 11:03:15 server postfix/smtpd[30647]: "+qid+": client=mail-ed1-f65.google.com[209.85.208.65], sasl_method=PLAIN, sasl_username=customer"+strconv.Itoa(i%5000)+"@example.com"),
			[]byte("Nov 16 11:03:15 server postfix/cleanup[30637]: "+qid+": message-id=<de35d4cf3b0862e276fc1afc"+strconv.Itoa(i)+"@link.example.pl>"),
			[]byte("Nov 16 11:03:15 server postfix/cleanup[30637]: "+qid+": warning: header Subject: Your invoice "+strconv.Itoa(i%300)+" from mail-ed1-f65.google.com[209.85.208.65]; from=<billing@example.com> to=<x@example.net> proto=ESMTP helo=<mail-ed1-f65.google.com>"),
			[]byte("Nov 16 11:03:15 server postfix/qmgr[26163]: "+qid+": from=<bounce-"+strconv.Itoa(i%20000)+"@mailer.example.com>, size=53549, nrcpt=3 (queue active)"),
		)
	}
	for i := 0; i < b.N; i++ {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		p, err := New(Options{Now: func() time.Time { return time.Date(2017, 12, 1, 0, 0, 0, 0, time.UTC) }})
		if err != nil {
			b.Fatal(err)
		}
		for k, l := range lines {
			_ = p.Feed(l, "id"+strconv.Itoa(k), func(*event.DeliveryEvent) {})
		}
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if p.Pending() != n {
			b.Fatalf("pending %d, want %d", p.Pending(), n)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/float64(p.Pending()), "B/msg")
		runtime.KeepAlive(p)
	}
}
