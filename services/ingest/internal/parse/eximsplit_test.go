package parse

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// eximSyslogParts splits a log line the way write_syslog() in Exim's
// src/log.c does before handing it to syslog(3): at every newline and
// every max bytes (MAX_SYSLOG_LEN, 870), each part preceded by "[n/m] ",
// with a backslash for a part that ended at a newline (but the last); a
// line that makes one part gets no marker. s is the line as log_write
// passes it, with its trailing newline.
func eximSyslogParts(s string, max int) []string {
	type part struct {
		text string
		nl   bool
	}
	var parts []part
	for ss, tlen := s, len(s); tlen > 0; {
		plen := tlen
		if i := strings.IndexByte(ss, '\n'); i >= 0 {
			plen = i
		}
		plen = min(plen, max)
		tlen -= plen
		atNL := plen < len(ss) && ss[plen] == '\n'
		if atNL {
			tlen--
		}
		parts = append(parts, part{ss[:plen], atNL && tlen != 0})
		ss = ss[plen:]
		ss = strings.TrimPrefix(ss, "\n")
	}
	if len(parts) == 1 {
		return []string{parts[0].text}
	}
	out := make([]string, len(parts))
	for i, pt := range parts {
		c := '/'
		if pt.nl {
			c = '\\'
		}
		out[i] = fmt.Sprintf("[%d%c%d] %s", i+1, c, len(parts), pt.text)
	}
	return out
}

// TestEximSyslogPartsHelper pins the helper to log.c's loop, worked by
// hand with MAX_SYSLOG_LEN = 10.
func TestEximSyslogPartsHelper(t *testing.T) {
	for in, want := range map[string][]string{
		"short\n":                {"short"},
		"0123456789\n":           {"0123456789"}, // exactly MAX_SYSLOG_LEN: one part
		"0123456789abcde\n":      {"[1/2] 0123456789", "[2/2] abcde"},
		"01234567890123456789\n": {"[1/2] 0123456789", "[2/2] 0123456789"},
		"ab\ncd\n":               {`[1\2] ab`, "[2/2] cd"},
		"ab\n\ncd\n":             {`[1\3] ab`, `[2\3] `, "[3/3] cd"},
		"0123456789ab\ncd\n":     {"[1/3] 0123456789", `[2\3] ab`, "[3/3] cd"},
	} {
		if got := eximSyslogParts(in, 10); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%q: %q, want %q", in, got, want)
		}
	}
}

func TestSplitMarker(t *testing.T) {
	cases := []struct {
		in     string
		n, m   int
		nl     bool
		text   string
		isPart bool
	}{
		{"[1/2] 1999-03-02 09:44:33 x", 1, 2, false, "1999-03-02 09:44:33 x", true},
		{`[2\35] Envelope-from: <x@y.x>`, 2, 35, true, "Envelope-from: <x@y.x>", true},
		{"[10/12]  leading space kept", 10, 12, false, " leading space kept", true},
		{`[2\3] `, 2, 3, true, "", true},
		{`[2\3]`, 2, 3, true, "", true},
		{"[8003] SMTP protocol error", 0, 0, false, "", false}, // Exim's own [pid]
		{"[1/1] x", 0, 0, false, "", false},
		{"[0/2] x", 0, 0, false, "", false},
		{"[3/2] x", 0, 0, false, "", false},
		{"[1/2]x", 0, 0, false, "", false},
		{"[1/] x", 0, 0, false, "", false},
		{"[/2] x", 0, 0, false, "", false},
		{"[1-2] x", 0, 0, false, "", false},
		{"[99999999/99999999] x", 0, 0, false, "", false},
		{"[1/2", 0, 0, false, "", false},
	}
	for _, c := range cases {
		n, m, nl, text, ok := splitMarker(c.in)
		if ok != c.isPart || n != c.n || m != c.m || nl != c.nl || text != c.text {
			t.Errorf("splitMarker(%q) = %d %d %v %q %v", c.in, n, m, nl, text, ok)
		}
	}
}

// Real Exim main log lines longer than MAX_SYSLOG_LEN, from Exim's test
// suite (Exim/exim test/log/4130 and test/log/0214; 0511 is in
// testdata/exim/exim-testsuite.log).
const (
	eximLong4130 = `1999-03-02 09:44:33 10HmaX-000000005vi-0000 == userx@test.ex R=filter defer (-17): error in filter file: \n not followed by space in "000@test.ex, 001@test.ex, 002@test.ex, 003@test.ex, 004@test.ex,\n    005@test.ex, 006@test.ex, 007@test.ex, 008@test.ex, 009@test.ex,\n    010@test.ex, 011@test.ex, 012@test.ex, 013@test.ex, 014@test.ex,\n    015@test.ex, 016@test.ex, 017@test.ex, 018@test.ex, 019@test.ex,\n    020@test.ex, 021@test.ex, 022@test.ex, 023@test.ex, 024@test.ex,\n    025@test.ex, 026@test.ex, 027@test.ex, 028@test.ex, 029@test.ex,\n    030@test.ex, 031@test.ex, 032@test.ex, 033@test.ex, 034@test.ex,\n    035@test.ex, 036@test.ex, 037@test.ex, 038@test.ex, 039@test.ex,\n    040@test.ex, 041@test.ex, 042@test.ex, 043@test.ex, 044@test.ex,\n    045@test.ex, 046@test.ex, 047@test.ex, 048@test.ex, 049@test.ex,\n    050@test.ex, 051@test.ex, 052@test.ex, 053@test.ex, 054@test.ex,\n    055@test.ex, 056@test.ex, 057@test.ex, 058@test.ex, 059@test.ex,\n    060@test.ex, 061@test.ex, 062@test.ex, 063@test.ex, 064@test.ex,\n    065@test.ex, 066@test.ex, 067@test.ex, 068@test.ex, 069@test.ex,\n    070@test.ex, 071@test.ex, 072@test.ex, 073@t" in mail command`
	eximLong0214 = `1999-03-02 09:44:33 10HmaX-000000005vi-0000 H=(test) [127.0.0.1] F=<x@y.x> rejected after DATA: malformed address: ;bad@address;bad@address;bad@add may not follow bad@address: failing address in "To:" header begins: bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address;bad@address;bad@address;bad@address;bad@address;\n    bad@address;bad@address`
)

// eximLong0511 is the first "**" line of test/log/0511 (1127 bytes).
func eximLong0511(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile("testdata/exim/exim-testsuite.log")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if strings.Contains(l, " ** userx@myhost.test.ex R=r1 T=t1 ") && len(l) > maxSplitLen {
			return l
		}
	}
	t.Fatal("0511 line not found in testdata/exim/exim-testsuite.log")
	return ""
}

// syslogFraming frames the text of one syslog message of process pid as
// the lines a reader sees.
type syslogFraming struct {
	name       string
	ts         time.Time // of the framing, for text without Exim's timestamp
	frame      func(pid int, msg string) []string
	needEximTS bool // the framing has no timestamp of its own
	idLine     int  // which of the lines of a message gives its events their id
}

var splitTS = time.Date(2026, 3, 2, 9, 44, 33, 0, time.UTC)

var syslogFramings = []syslogFraming{
	{name: "classic", ts: splitTS, frame: func(pid int, msg string) []string {
		return []string{"Mar  2 09:44:33 mx exim[" + strconv.Itoa(pid) + "]: " + msg}
	}},
	{name: "iso exim4", ts: splitTS.Add(123456 * time.Microsecond), frame: func(pid int, msg string) []string {
		return []string{"2026-03-02T09:44:33.123456+00:00 mx exim4[" + strconv.Itoa(pid) + "]: " + msg}
	}},
	{name: "rfc5424", ts: splitTS, frame: func(pid int, msg string) []string {
		return []string{"<22>1 2026-03-02T09:44:33Z mx exim " + strconv.Itoa(pid) + " - - " + msg}
	}},
	{name: "exim date syslog file", ts: splitTS, frame: func(pid int, msg string) []string {
		return []string{"2026-03-02 09:44:33 mx exim[" + strconv.Itoa(pid) + "]: " + msg}
	}},
	{name: "journal short", needEximTS: true, frame: func(pid int, msg string) []string {
		return []string{"mx exim[" + strconv.Itoa(pid) + "]: " + msg}
	}},
	{name: "journal export", ts: splitTS, idLine: 4, frame: func(pid int, msg string) []string {
		return []string{
			"__REALTIME_TIMESTAMP=" + strconv.FormatInt(splitTS.UnixMicro(), 10),
			"_HOSTNAME=mx", "SYSLOG_IDENTIFIER=exim", "SYSLOG_PID=" + strconv.Itoa(pid),
			"MESSAGE=" + msg, "",
		}
	}},
}

// eventJSON is an event as JSON, without its id, and without its time
// unless withTS.
func eventJSON(t *testing.T, e *event.DeliveryEvent, withTS bool) string {
	t.Helper()
	c := *e
	c.ID = ""
	if !withTS {
		c.TS = time.Time{}
	}
	b, err := event.MarshalEvent(&c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestEximSyslogSplit feeds real long Exim lines split as Exim's log.c
// splits them, in every syslog framing, and checks that they give the
// events the same lines give unsplit in a main log file, with the id of
// the last part's line.
func TestEximSyslogSplit(t *testing.T) {
	rcpts := make([]string, 80)
	for i := range rcpts {
		rcpts[i] = "user" + strconv.Itoa(i) + "@lists.example.net"
	}
	arrival := "1999-03-02 09:44:33 1wZx8b-000ABC-Dq <= news@example.org H=mail.example.org (helo.example.org) [192.0.2.10]:41234 I=[203.0.113.25]:587 P=esmtpsa X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=no A=dovecot_plain:news@example.org S=18320 id=20260302.GA1@example.org T=\"Newsletter =?UTF-8?Q?M=C3=A4rz?=\" for " + strings.Join(rcpts, " ")
	cases := []struct {
		name  string
		setup []string // main log lines, logged by another process, unsplit
		line  string   // the long main log line
		after []string // main log lines that follow, unsplit
		parts int
	}{
		{name: "bounce 0511", setup: []string{"1999-03-02 09:44:33 10HmaX-000000005vi-0000 <= CALLER@myhost.test.ex U=CALLER P=local S=sss"}, line: eximLong0511(t), parts: 2},
		{name: "defer 4130", setup: []string{"1999-03-02 09:44:33 10HmaX-000000005vi-0000 <= CALLER@test.ex U=CALLER P=local S=sss"}, line: eximLong4130, parts: 2},
		{name: "rejected after DATA 0214", line: eximLong0214, parts: 2},
		{name: "arrival for many recipients", line: arrival, parts: 3, after: []string{
			"1999-03-02 09:44:34 1wZx8b-000ABC-Dq => user7@lists.example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.2]:25 C=\"250 2.0.0 OK\"",
			"1999-03-02 09:44:35 1wZx8b-000ABC-Dq ** user9@lists.example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.2]:25 : SMTP error from remote mail server after RCPT TO:<user9@lists.example.net>: 550 5.1.1 User unknown",
		}},
	}
	for _, c := range cases {
		// The reference: the lines of the main log file.
		ref := newTestParser(t, Options{Host: "mx"})
		if _, err := feedAll(t, ref, c.setup...); err != nil {
			t.Fatal(err)
		}
		refLine, err := feedAll(t, ref, c.line)
		if err != nil {
			t.Fatalf("%s: reference: %v", c.name, err)
		}
		refAfter, err := feedAll(t, ref, c.after...)
		if err != nil {
			t.Fatalf("%s: reference: %v", c.name, err)
		}
		if len(refLine)+len(refAfter) == 0 {
			t.Fatalf("%s: no reference event", c.name)
		}
		for _, withTS := range []bool{true, false} {
			for _, f := range syslogFramings {
				if f.needEximTS && !withTS {
					continue
				}
				name := fmt.Sprintf("%s/%s/exim_ts=%v", c.name, f.name, withTS)
				t.Run(name, func(t *testing.T) {
					text := func(l string) string {
						if withTS {
							return l // syslog_timestamp (the default)
						}
						return l[len("1999-03-02 09:44:33 "):]
					}
					p := newTestParser(t, Options{Host: "default"})
					var lines []string
					for _, l := range c.setup {
						lines = append(lines, f.frame(100, text(l))...)
					}
					parts := eximSyslogParts(text(c.line)+"\n", maxSplitLen)
					if len(parts) != c.parts {
						t.Fatalf("%d parts, want %d", len(parts), c.parts)
					}
					for _, part := range parts {
						lines = append(lines, f.frame(4242, part)...)
					}
					lastPart := len(lines) - len(f.frame(4242, parts[len(parts)-1])) + f.idLine + 1
					for _, l := range c.after {
						lines = append(lines, f.frame(100, text(l))...)
					}
					var evs []*event.DeliveryEvent
					for i, l := range lines {
						err := p.Feed([]byte(l), "l"+strconv.Itoa(i+1), func(e *event.DeliveryEvent) {
							if verr := e.Validate(); verr != nil {
								t.Errorf("event fails Validate: %v", verr)
							}
							evs = append(evs, e)
						})
						if err != nil {
							t.Fatalf("line %d %q: %v", i+1, l, err)
						}
					}
					want := append(append([]*event.DeliveryEvent(nil), refLine...), refAfter...)
					if len(evs) != len(want) {
						t.Fatalf("%d events, want %d", len(evs), len(want))
					}
					for i := range evs {
						if i < len(refLine) && evs[i].ID != "l"+strconv.Itoa(lastPart) {
							t.Errorf("event id %s, want l%d (the last part's line)", evs[i].ID, lastPart)
						}
						if g, w := eventJSON(t, evs[i], withTS), eventJSON(t, want[i], withTS); g != w {
							t.Errorf("event %d\n got: %s\nwant: %s", i, g, w)
						}
						if !withTS && !evs[i].TS.Equal(f.ts) {
							t.Errorf("event time %v, want the syslog time %v", evs[i].TS, f.ts)
						}
					}
					st := p.Stats()
					if st["exim_part"] != uint64(c.parts-1) || st["messages_split_dropped"] != 0 || len(p.splits) != 0 {
						t.Errorf("exim_part %d, dropped %d, in flight %d", st["exim_part"], st["messages_split_dropped"], len(p.splits))
					}
				})
			}
		}
	}
}

// TestEximSyslogSplitJournalShortNoTime: the journal's short format has no
// time of its own, so a split line without Exim's timestamp cannot be dated.
func TestEximSyslogSplitJournalShortNoTime(t *testing.T) {
	p := newTestParser(t, Options{})
	var lines []string
	for _, part := range eximSyslogParts(eximLong4130[20:]+"\n", maxSplitLen) {
		lines = append(lines, "mx exim[1]: "+part)
	}
	evs, err := feedAll(t, p, lines...)
	if !errors.Is(err, ErrBadTimestamp) || len(evs) != 0 {
		t.Fatalf("%v, %d events", err, len(evs))
	}
	if p.Expire(time.Now(), nil) != 0 || len(p.splits) != 0 {
		t.Error("split state left")
	}
}

// TestEximSyslogSplitSequence covers parts missing, repeated or out of
// order, and the bounds.
func TestEximSyslogSplitSequence(t *testing.T) {
	const hdr = "Mar  2 09:44:33 mx exim[%d]: %s"
	parts := eximSyslogParts(eximLong4130+"\n", maxSplitLen) // 2 parts
	long3 := eximLong0214 + " " + eximLong0214[20:]          // 3 parts
	parts3 := eximSyslogParts(long3+"\n", maxSplitLen)
	if len(parts) != 2 || len(parts3) != 3 {
		t.Fatalf("%d and %d parts", len(parts), len(parts3))
	}
	line := func(pid int, msg string) string { return fmt.Sprintf(hdr, pid, msg) }
	completed := "1999-03-02 09:44:33 10HmaX-000000005vi-0000 == a@b.example R=r T=t defer (-44) H=mx [192.0.2.1]: SMTP error from remote mail server after RCPT TO:<a@b.example>: 452 4.2.2 Mailbox full"
	type step struct {
		line    string
		errKind string // "" for no error
		events  int
	}
	cases := []struct {
		name    string
		opts    Options
		steps   []step
		dropped uint64
		expire  bool // Expire after the steps, then check nothing is left
	}{
		{name: "complete", steps: []step{{line(1, parts[0]), "", 0}, {line(1, parts[1]), "", 1}}},
		{name: "first part missing", steps: []step{{line(1, parts[1]), KindUnparseable, 0}}},
		{name: "middle part missing", steps: []step{
			{line(1, parts3[0]), "", 0}, {line(1, parts3[2]), KindUnparseable, 0}}, dropped: 1},
		{name: "parts of another line", steps: []step{
			{line(1, parts3[0]), "", 0}, {line(1, parts3[1]), "", 0}, {line(1, parts[1]), KindUnparseable, 0}}, dropped: 1},
		{name: "last part missing, next line shows it", steps: []step{
			{line(1, parts[0]), "", 0}, {line(1, completed), "", 1}}, dropped: 1},
		{name: "last part missing, next split line shows it", steps: []step{
			{line(1, parts3[0]), "", 0}, {line(1, parts[0]), "", 0}, {line(1, parts[1]), "", 1}}, dropped: 1},
		{name: "out of order", steps: []step{
			{line(1, parts[1]), KindUnparseable, 0}, {line(1, parts[0]), "", 0}}, dropped: 1, expire: true},
		{name: "repeated part", steps: []step{
			{line(1, parts[0]), "", 0}, {line(1, parts[1]), "", 1}, {line(1, parts[1]), KindUnparseable, 0}}},
		{name: "processes interleaved", steps: []step{
			{line(1, parts[0]), "", 0}, {line(2, parts3[0]), "", 0}, {line(3, completed), "", 1},
			{line(2, parts3[1]), "", 0}, {line(1, parts[1]), "", 1}, {line(2, parts3[2]), "", 1}}},
		{name: "hosts apart", steps: []step{
			{line(1, parts[0]), "", 0},
			{"Mar  2 09:44:33 mx2 exim[1]: " + parts[0], "", 0},
			{"Mar  2 09:44:33 mx2 exim[1]: " + parts[1], "", 1},
			{line(1, parts[1]), "", 1}}},
		{name: "not markers", steps: []step{
			{line(1, "[1/1] "+completed), "", 0}, {line(1, "[0/2] "+completed), "", 0}, {line(1, "[2/1] x"), "", 0}}},
		{name: "reassembled line cut at MaxLineLen", opts: Options{MaxLineLen: 1000}, steps: []step{
			{line(1, parts[0]), "", 0}, {line(1, parts[1]), KindTruncated, 1}}},
		{name: "hostile host", steps: []step{
			{"Mar  2 09:44:33 m\x01x exim[1]: " + parts[0], "", 0},
			{"Mar  2 09:44:33 m\x01x exim[1]: " + parts[1], KindHostileField, 0}}},
		{name: "wrong MTA", opts: Options{Format: FormatPostfix}, steps: []step{
			{line(1, parts[0]), KindUnknownProgram, 0}}},
		{name: "left for Expire", steps: []step{{line(1, parts3[0]), "", 0}, {line(1, parts3[1]), "", 0}}, dropped: 1, expire: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, c.opts)
			for i, s := range c.steps {
				evs, err := feedAll(t, p, s.line)
				var le *LineError
				switch {
				case s.errKind == "" && err != nil:
					t.Fatalf("step %d: %v", i+1, err)
				case s.errKind != "" && (!errors.As(err, &le) || le.Kind != s.errKind):
					t.Fatalf("step %d: error %v, want kind %s", i+1, err, s.errKind)
				}
				if len(evs) != s.events {
					t.Fatalf("step %d: %d events, want %d", i+1, len(evs), s.events)
				}
			}
			if c.expire {
				p.Expire(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), func(*event.DeliveryEvent) {})
				if len(p.splits) != 0 {
					t.Errorf("%d split lines left after Expire", len(p.splits))
				}
			}
			if got := p.Stats()["messages_split_dropped"]; got != c.dropped {
				t.Errorf("messages_split_dropped %d, want %d", got, c.dropped)
			}
			var lines uint64
			for k, v := range p.Stats() {
				if isLineKind(k) {
					lines += v
				}
			}
			if lines != uint64(len(c.steps)) {
				t.Errorf("%d lines counted, %d fed", lines, len(c.steps))
			}
		})
	}
}

// TestEximSyslogSplitRejectLogCopy: the reject log's copy of a rejection
// after DATA, with its envelope and header listing, yields no second event.
func TestEximSyslogSplitRejectLogCopy(t *testing.T) {
	entry := eximLong0214 + "\nEnvelope-from: <x@y.x>\nEnvelope-to: <x@test.ex>\nP Received: from [127.0.0.1] (helo=test)\n\tby myhost.test.ex with smtp (Exim x.yz)\nF From: Me <x@y.z>\n"
	short := "1999-03-02 09:44:33 10HmaX-000000005vi-0000 H=(test) [127.0.0.1] F=<x@y.x> rejected after DATA: spam\n"
	for name, c := range map[string]struct {
		main, reject string
	}{
		"long":          {eximLong0214 + "\n", entry},
		"short":         {short, short + "Envelope-from: <x@y.x>\nEnvelope-to: <x@test.ex>\nT To: x@test.ex\n"},
		"no recipients": {short, short + "P Received: from [127.0.0.1] (helo=test)\n"},
	} {
		t.Run(name, func(t *testing.T) {
			p := newTestParser(t, Options{})
			var lines []string
			for _, text := range []string{c.main, c.reject} {
				for _, part := range eximSyslogParts(text, maxSplitLen) {
					lines = append(lines, "Mar  2 09:44:33 mx exim[6001]: "+part)
				}
			}
			evs, err := feedAll(t, p, lines...)
			if err != nil || len(evs) != 1 || evs[0].Status != event.StatusRejected {
				t.Fatalf("%v, events %+v", err, evs)
			}
			if st := p.Stats(); st["exim_reject"] != 1 || st["exim_other"] != 1 || st["messages_split_dropped"] != 0 {
				t.Errorf("stats %v", st)
			}
		})
	}
	// A line with newlines that is no reject log copy is parsed (its first line).
	p := newTestParser(t, Options{})
	var lines []string
	for _, part := range eximSyslogParts("1999-03-02 09:44:33 10HmaX-000000005vi-0000 ** a@b.example: retry timeout exceeded\nsecond line\n", maxSplitLen) {
		lines = append(lines, "Mar  2 09:44:33 mx exim[6001]: "+part)
	}
	if evs, err := feedAll(t, p, lines...); err != nil || len(evs) != 1 || evs[0].Status != event.StatusExpired {
		t.Fatalf("%v, events %+v", err, evs)
	}
}

// TestEximSyslogSplitMaxSplits checks the bound on the lines in flight.
func TestEximSyslogSplitMaxSplits(t *testing.T) {
	parts := eximSyslogParts(eximLong4130+"\n", maxSplitLen)
	p := newTestParser(t, Options{})
	for pid := 0; pid <= maxSplits; pid++ {
		if _, err := feedAll(t, p, fmt.Sprintf("Mar  2 09:44:33 mx exim[%d]: %s", pid, parts[0])); err != nil {
			t.Fatal(err)
		}
	}
	if len(p.splits) != maxSplits || p.Stats()["messages_split_dropped"] != 1 {
		t.Fatalf("%d in flight, %d dropped", len(p.splits), p.Stats()["messages_split_dropped"])
	}
	if _, err := feedAll(t, p, "Mar  2 09:44:33 mx exim[0]: "+parts[1]); !errors.Is(err, ErrUnparseable) {
		t.Errorf("the oldest line was not the one dropped: %v", err)
	}
	if evs, err := feedAll(t, p, "Mar  2 09:44:33 mx exim[1]: "+parts[1]); err != nil || len(evs) != 1 {
		t.Errorf("%v, %d events", err, len(evs))
	}
}

// TestEximSyslogSplitNoRetention checks that the events of a reassembled
// line keep nothing of the parts' buffers, nor of the reassembly buffer
// that the next split line reuses.
func TestEximSyslogSplitNoRetention(t *testing.T) {
	p := newTestParser(t, Options{})
	var evs []*event.DeliveryEvent
	var before []string
	emit := func(e *event.DeliveryEvent) {
		evs = append(evs, e)
		b, _ := event.MarshalEvent(e)
		before = append(before, string(b))
	}
	buf := make([]byte, 0, 4096)
	for _, text := range []string{eximLong0214, eximLong4130, eximLong0214} {
		for _, part := range eximSyslogParts(text+"\n", maxSplitLen) {
			buf = append(buf[:0], "Mar  2 09:44:33 mx exim[1]: "+part...)
			_ = p.Feed(buf, "x", emit)
			for i := range buf {
				buf[i] = '#'
			}
		}
	}
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for i, e := range evs {
		if b, _ := event.MarshalEvent(e); string(b) != before[i] {
			t.Errorf("event %d changed:\n%s\n%s", i, before[i], b)
		}
	}
}
