package parse

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// A real Solaris relay's delivery line (issue 9), and the Postfix lines
// the other framings carry (reconstructed faithfully from each framing's
// documented output: rsyslog/syslog-ng templates, journalctl -o json,
// CRI and Docker json-file container logs).
const (
	solarisLine  = "Nov 26 17:30:58 relay1 postfix/local[13410]: [ID 197553 mail.info] C589E3780: to=<ops@relay1.example>, relay=local, delay=0.07, delays=0.03/0.01/0/0.03, dsn=2.0.0, status=sent (delivered to mailbox)"
	framedMsg    = "C589E3780: to=<ops@relay1.example>, relay=local, delay=0.07, delays=0.03/0.01/0/0.03, dsn=2.0.0, status=sent (delivered to mailbox)"
	framedMsgPfx = "Nov 26 17:30:58 relay1 postfix/local[13410]: " + framedMsg
)

var framingCases = []struct {
	name  string
	lines []string // the last one completes the event
	ts    time.Time
	host  string
	prog  string // the Stats kind the last line counts under
}{
	{"bsd", []string{framedMsgPfx}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"solaris id tag", []string{solarisLine}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"solaris id tag numeric", []string{"Nov 26 17:30:58 relay1 postfix/local[13410]: [ID 197553 2.6] " + framedMsg}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"syslog-ng facility.level after date", []string{"Nov 26 17:30:58 <mail.info> relay1 postfix/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"pri after date", []string{"Nov 26 17:30:58 <22> relay1 postfix/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"rsyslog facility.level before tag", []string{"2026-11-26T17:30:58.041+01:00 relay1 mail.info postfix/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 16, 30, 58, 41000000, time.UTC), "relay1", "postfix_delivery"},
	{"rsyslog facility.level before host", []string{"Nov 26 17:30:58 mail.info relay1 postfix/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"pri in a file before iso", []string{"<22>2026-11-26T17:30:58Z relay1 postfix/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"journalctl short-iso", []string{"2026-11-26T17:30:58+0100 relay1 postfix/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 16, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"journalctl short-precise", []string{"Nov 26 17:30:58.123456 relay1 postfix/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 17, 30, 58, 123456000, time.UTC), "relay1", "postfix_delivery"},
	{"journalctl short-full", []string{"Thu 2026-11-26 17:30:58 UTC relay1 postfix/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"journalctl short-unix", []string{"1795714258.123456 relay1 postfix/local[13410]: " + framedMsg}, time.Unix(1795714258, 123456000).UTC(), "relay1", "postfix_delivery"},
	{"journalctl json", []string{`{"__CURSOR":"s=6f1;i=1a2","__REALTIME_TIMESTAMP":"1795714258123456","__MONOTONIC_TIMESTAMP":"12","_BOOT_ID":"b","PRIORITY":"6","SYSLOG_FACILITY":"2","SYSLOG_IDENTIFIER":"postfix/local","SYSLOG_PID":"13410","_PID":"13410","_HOSTNAME":"relay1","_TRANSPORT":"syslog","MESSAGE":"` + framedMsg + `"}`},
		time.UnixMicro(1795714258123456).UTC(), "relay1", "postfix_delivery"},
	{"journalctl json byte-array message", []string{`{"__REALTIME_TIMESTAMP":"1795714258123456","SYSLOG_IDENTIFIER":"postfix/local","_PID":"13410","_HOSTNAME":"relay1","MESSAGE":` + byteArray(framedMsg) + `}`},
		time.UnixMicro(1795714258123456).UTC(), "relay1", "postfix_delivery"},
	{"cri container", []string{"2026-11-26T17:30:58.123456789Z stdout F " + framedMsgPfx}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"cri container partial", []string{"2026-11-26T17:30:58.1Z stdout P " + framedMsgPfx[:60], "2026-11-26T17:30:58.2Z stdout F " + framedMsgPfx[60:]},
		time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"cri container bare tag", []string{"2026-11-26T17:30:58.5Z stderr F postfix/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 17, 30, 58, 500000000, time.UTC), "default", "postfix_delivery"},
	{"docker json-file", []string{`{"log":"` + framedMsgPfx + `\n","stream":"stdout","time":"2026-11-26T17:30:58.123456789Z"}`}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"docker json-file partial", []string{`{"log":"` + framedMsgPfx[:70] + `","stream":"stdout","time":"2026-11-26T17:30:58.1Z"}`, `{"log":"` + framedMsgPfx[70:] + `\n","stream":"stdout","time":"2026-11-26T17:30:58.2Z"}`},
		time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"postfix multi-instance", []string{"Nov 26 17:30:58 relay1 postfix-out/local[13410]: " + framedMsg}, time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "postfix_delivery"},
	{"postfix service name", []string{"Mar 11 23:27:54 server postfix-smo/submission/smtpd[22427]: 44JCRG5tYPzCqt2: reject: BDAT from signing-milter.example.com[192.0.2.109]: 550 5.5.3 <DATA>: Data command rejected: Multi-recipient bounce; from=<> to=<some@example.com> proto=ESMTP helo=<domain.tld>"},
		time.Date(2026, 3, 11, 23, 27, 54, 0, time.UTC), "server", "postfix_reject"},
	{"exim mainlog", []string{"2026-11-26 17:30:58.712 +0100 [4242] 1abcDE-00012A-Bc => ops@relay1.example R=dnslookup T=remote_smtp H=mx.relay1.example [192.0.2.7] C=\"250 OK\""},
		time.Date(2026, 11, 26, 16, 30, 58, 712000000, time.UTC), "default", "exim_delivery"},
	{"exim syslog solaris", []string{"Nov 26 17:30:58 relay1 exim[4242]: [ID 702911 mail.info] 1abcDE-00012A-Bc => ops@relay1.example R=dnslookup T=remote_smtp H=mx.relay1.example [192.0.2.7] C=\"250 OK\""},
		time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "relay1", "exim_delivery"},
}

func byteArray(s string) string {
	var sb strings.Builder
	sb.WriteByte('[')
	for i := 0; i < len(s); i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(itoa(int(s[i])))
	}
	sb.WriteByte(']')
	return sb.String()
}

// TestFramings feeds one line per framing and checks the event it yields.
func TestFramings(t *testing.T) {
	for _, c := range framingCases {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, Options{Host: "default"})
			evs, err := feedAll(t, p, c.lines...)
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d events, err %v", len(evs), err)
			}
			e := evs[0]
			if !e.TS.Equal(c.ts) || e.Host != c.host {
				t.Errorf("ts %v host %q, want %v %q", e.TS, e.Host, c.ts, c.host)
			}
			if e.Status != "sent" && e.Status != "rejected" || e.Recipient == "" {
				t.Errorf("event %+v", e)
			}
			if st := p.Stats(); st[c.prog] != 1 {
				t.Errorf("%s = %d, want 1 (%v)", c.prog, st[c.prog], st)
			}
			if want := "l" + itoa(len(c.lines)); e.ID != want {
				t.Errorf("id %q, want %q (the line that completes it)", e.ID, want)
			}
		})
	}
}

// TestFramingRejects: what is close to a framing but not one.
func TestFramingRejects(t *testing.T) {
	for _, c := range []struct{ name, line, kind string }{
		{"broken json", `{"MESSAGE":"x"`, KindUnparseable},
		{"json without time", `{"MESSAGE":"` + framedMsg + `","SYSLOG_IDENTIFIER":"postfix/local"}`, KindBadTimestamp},
		{"json bad byte", `{"__REALTIME_TIMESTAMP":"1795714258123456","SYSLOG_IDENTIFIER":"postfix/local","MESSAGE":[67,300]}`, KindUnparseable},
		{"docker bad time", `{"log":"x\n","time":"yesterday"}`, KindBadTimestamp},
		{"nested container", "2026-11-26T17:30:58Z stdout F 2026-11-26T17:30:58Z stdout F " + framedMsgPfx, KindUnparseable},
		{"not a solaris tag", "Nov 26 17:30:58 relay1 postfix/local[13410]: [ID x mail.info] " + framedMsg, KindUnrecognised},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, Options{Host: "default"})
			evs, err := feedAll(t, p, c.line)
			var le *LineError
			if !errors.As(err, &le) || le.Kind != c.kind || len(evs) != 0 {
				t.Fatalf("err %v, %d events; want kind %s", err, len(evs), c.kind)
			}
		})
	}
}

func FuzzFraming(f *testing.F) {
	for _, c := range framingCases {
		f.Add([]byte(strings.Join(c.lines, "\n")))
	}
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLines(t, data, FormatAuto) })
}

func FuzzJournalJSON(f *testing.F) {
	for _, c := range framingCases {
		if strings.HasPrefix(c.lines[0], "{") {
			f.Add(c.lines[0], framedMsg)
		}
	}
	f.Add(`{"__REALTIME_TIMESTAMP":"1","MESSAGE":null}`, "")
	f.Fuzz(func(t *testing.T, obj, msg string) {
		// The object as given, and a journal entry carrying msg as a
		// string and as a byte array.
		m, _ := json.Marshal(msg)
		data := obj + "\n" + `{"__REALTIME_TIMESTAMP":"1795714258123456","SYSLOG_IDENTIFIER":"postfix/smtp","_HOSTNAME":"h","MESSAGE":` + string(m) + "}\n" +
			`{"__REALTIME_TIMESTAMP":"1795714258123456","SYSLOG_IDENTIFIER":"exim","_HOSTNAME":"h","MESSAGE":` + byteArray(msg) + "}"
		fuzzLines(t, []byte(data), FormatAuto)
	})
}

// Dovecot's login failure lines, reconstructed from Dovecot 2.3's and
// 2.4's login-common wording.
func TestDovecotAuthFailed(t *testing.T) {
	for _, c := range []struct {
		name, line string
		n          int
		user, ip   string
	}{
		{"2.3", "Nov 26 17:30:58 mx1 dovecot: imap-login: Disconnected (auth failed, 3 attempts in 15 secs): user=<admin>, method=PLAIN, rip=192.0.2.7, lip=192.0.2.1, TLS, session=<x8Kd1Z0Y8J/AwKgBAg>", 3, "admin", "192.0.2.7"},
		{"2.4", "Nov 26 17:30:58 mx1 dovecot: submission-login: Login aborted: Connection closed (auth failed, 1 attempts in 2 secs) (auth_failed): user=<info@example.com>, method=LOGIN, rip=203.0.113.9, lip=192.0.2.1, TLS, session=<q0Zk>", 1, "info@example.com", "203.0.113.9"},
		{"own ident", "Nov 26 17:30:58 mx1 imap-login[812]: Disconnected: Connection closed (auth failed, 2 attempts in 4 secs): user=<x>, rip=198.51.100.4, lip=192.0.2.1", 2, "x", "198.51.100.4"},
		{"no user", "Nov 26 17:30:58 mx1 dovecot: pop3-login: Disconnected (auth failed, 1 attempts in 6 secs): method=PLAIN, rip=198.51.100.5, lip=192.0.2.1", 1, "", "198.51.100.5"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, Options{Host: "mx"})
			evs, err := feedAll(t, p, c.line)
			if err != nil || len(evs) != c.n {
				t.Fatalf("%d events, %v; want %d", len(evs), err, c.n)
			}
			for _, e := range evs {
				if e.Status != "auth_failed" || e.SASLUser != c.user || e.ClientIP != c.ip || e.MTA != "dovecot" || e.Reason != "auth_failure" {
					t.Errorf("event %+v", e)
				}
			}
			if p.Stats()["dovecot_auth_failed"] != 1 {
				t.Errorf("stats %v", p.Stats())
			}
		})
	}
	p := newTestParser(t, Options{Host: "mx"})
	if _, err := feedAll(t, p, "Nov 26 17:30:58 mx1 dovecot: imap(anomalie@test2.com): Logged out in=86 out=892"); !errors.Is(err, ErrUnknownProgram) {
		t.Errorf("other dovecot line: %v", err)
	}
}
