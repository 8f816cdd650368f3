package parse

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Postfix header_checks INFO lines as cleanup logs them (Postfix 3.7
// cleanup_act_log: "QID: info: header <text> from <client>; from=<s>
// to=<r> proto=P helo=<h>", "from local;" and no proto/helo for pickup).
const (
	pfxCleanup = "Nov 26 17:30:58 mx postfix/cleanup[2]: 3F1A2B4C5D: info: header "
	pfxTail    = " from mail.example.org[192.0.2.10]; from=<alice@example.org> to=<bob@example.net> proto=ESMTP helo=<mail.example.org>"
	pfxLocal   = " from local; from=<root@web1.example> to=<root>"
	pfxSent    = pfx + "smtp[4]: 3F1A2B4C5D: to=<bob@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"
	eximMid    = "2026-11-24 17:00:14 1xYW6G-00018o-2R "
	eximArr    = eximMid + "<= news@shoes.example H=web7.example.net (web7) [198.51.100.7]:51234 P=esmtpsa A=dovecot_plain:news S=18320 id=n1@shoes.example T=\"Sale\" for a@gmail.com"
	eximSent   = eximMid + "=> a@gmail.com R=dnslookup T=remote_smtp H=gmail-smtp-in.l.google.com [142.250.102.27]:25 C=\"250 2.0.0 OK\""
)

// TestPostfixHeaderLines: each header of the README's
// mxwarden_header_checks, logged by an INFO line, reaches the event of the
// delivery that follows, as "Name: value" with the canonical name.
func TestPostfixHeaderLines(t *testing.T) {
	cases := []struct {
		name, line string
		want       []string
		sanitised  uint64
	}{
		{"list-unsubscribe", pfxCleanup + "List-Unsubscribe: <https://shoes.example/u/1?x=1&y=2>, <mailto:unsub@shoes.example?subject=unsubscribe>" + pfxTail,
			[]string{"List-Unsubscribe: <https://shoes.example/u/1?x=1&y=2>, <mailto:unsub@shoes.example?subject=unsubscribe>"}, 0},
		{"list-unsubscribe-post", pfxCleanup + "List-Unsubscribe-Post: List-Unsubscribe=One-Click" + pfxTail,
			[]string{"List-Unsubscribe-Post: List-Unsubscribe=One-Click"}, 0},
		{"precedence", pfxCleanup + "Precedence: bulk" + pfxTail, []string{"Precedence: bulk"}, 0},
		{"list-id", pfxCleanup + "List-Id: Shoes news <news.shoes.example>" + pfxTail, []string{"List-Id: Shoes news <news.shoes.example>"}, 0},
		{"x-mailer with from in value", pfxCleanup + "X-Mailer: Sent from my PHPlist v3.6" + pfxTail, []string{"X-Mailer: Sent from my PHPlist v3.6"}, 0},
		{"auto-submitted lower case, pickup", pfxCleanup + "auto-submitted: auto-generated" + pfxLocal, []string{"Auto-Submitted: auto-generated"}, 0},
		{"x-cron-env, pickup", pfxCleanup + "X-Cron-Env: <SHELL=/bin/sh>" + pfxLocal, []string{"X-Cron-Env: <SHELL=/bin/sh>"}, 0},
		{"INFO with its optional text", pfxCleanup + "Precedence: list" + pfxTail + ": mxwarden", []string{"Precedence: list"}, 0},
		{"forged envelope in the value", pfxCleanup + "Precedence: bulk; from=<x@evil.example> to=<y@evil.example>" + pfxTail,
			[]string{"Precedence: bulk; from=<x@evil.example> to=<y@evil.example>"}, 0},
		{"bidi override, NUL and invalid UTF-8", pfxCleanup + "X-Mailer: a\u202eb\x00c\xffd\u200be" + pfxTail, []string{"X-Mailer: a b c\uFFFDd e"}, 1},
		{"subject is no header entry", pfxCleanup + "Subject: Hello" + pfxTail, nil, 0},
		{"other headers are not kept", pfxCleanup + "X-Spam-Flag: YES" + pfxTail, nil, 0},
		{"empty value", pfxCleanup + "Precedence:" + pfxTail, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, Options{Host: "mx"})
			lines := append(append([]string{}, preamble...), c.line, pfxSent)
			evs, err := feedAll(t, p, lines...)
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d events, %v", len(evs), err)
			}
			if !reflect.DeepEqual(evs[0].Headers, c.want) {
				t.Errorf("headers %q, want %q", evs[0].Headers, c.want)
			}
			if evs[0].Subject != "Hello from Nantes" && c.name != "subject is no header entry" {
				t.Errorf("subject %q", evs[0].Subject)
			}
			st := p.Stats()
			if st["postfix_header"] != 2 || st["headers_sanitised"] != c.sanitised {
				t.Errorf("postfix_header %d, headers_sanitised %d (want 2, %d)", st["postfix_header"], st["headers_sanitised"], c.sanitised)
			}
			for _, h := range evs[0].Headers {
				if strings.ContainsAny(h, "\n\r\x00") {
					t.Errorf("header holds a control character: %q", h)
				}
			}
		})
	}
}

// TestEximHeaderLine: the README's logwrite line, with Exim's ${quote:}
// escaping and the log writer's \NNN, gives the header entries; it is an
// exim_headers line, never unrecognised.
func TestEximHeaderLine(t *testing.T) {
	cases := []struct {
		name, line string
		want       []string
	}{
		{"readme example", eximMid + `MXWARDEN-HEADERS lu="<https://shoes.example/u/1>" lup="List-Unsubscribe=One-Click" prec=bulk xm="PHPlist v3.6" as="" cron=0`,
			[]string{"List-Unsubscribe: <https://shoes.example/u/1>", "List-Unsubscribe-Post: List-Unsubscribe=One-Click", "Precedence: bulk", "X-Mailer: PHPlist v3.6"}},
		{"cron", eximMid + `MXWARDEN-HEADERS lu="" lup="" prec="" xm="" as=auto-generated cron=1`,
			[]string{"Auto-Submitted: auto-generated", "X-Cron-Env: present"}},
		{"nothing logged", eximMid + `MXWARDEN-HEADERS lu="" lup="" prec="" xm="" as="" cron=0`, nil},
		{"escapes, folding, utf-8", eximMid + `MXWARDEN-HEADERS lu="<https://l.example/u?a=\"1\">,\n <mailto:u@l.example>" lup="" prec=list xm="Outil \303\251t\303\251 C:\\x" as="" cron=0`,
			[]string{`List-Unsubscribe: <https://l.example/u?a="1">, <mailto:u@l.example>`, "Precedence: list", `X-Mailer: Outil été C:\x`}},
		{"a quoted value cannot add a key", eximMid + `MXWARDEN-HEADERS lu="" lup="" prec="" xm="x\" prec=bulk cron=1" as="" cron=0`,
			[]string{`X-Mailer: x" prec=bulk cron=1`}},
		{"newline and bidi override replaced", eximMid + `MXWARDEN-HEADERS xm="a\nb\342\200\256c\r" cron=0`, []string{"X-Mailer: a b c"}},
		{"unknown keys and words skipped, list-id read", eximMid + `MXWARDEN-HEADERS v=2 note lid="News <n.example>" prec=junk`,
			[]string{"List-Id: News <n.example>", "Precedence: junk"}},
		{"syslog framing", "Nov 24 17:00:14 mx exim[5101]: 1xYW6G-00018o-2R MXWARDEN-HEADERS prec=bulk cron=0", []string{"Precedence: bulk"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, Options{Host: "mx"})
			if _, err := feedAll(t, p, c.line); err != nil {
				t.Fatalf("header line: %v", err)
			}
			if n := p.Stats()["exim_headers"]; n != 1 {
				t.Fatalf("exim_headers %d, want 1 (stats %v)", n, p.Stats())
			}
			evs, err := feedAll(t, p, eximArr, eximSent)
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d events, %v", len(evs), err)
			}
			if !reflect.DeepEqual(evs[0].Headers, c.want) {
				t.Errorf("headers %q, want %q", evs[0].Headers, c.want)
			}
			if evs[0].Subject != "Sale" || evs[0].SASLUser != "news" {
				t.Errorf("the arrival's fields were lost: %+v", evs[0])
			}
		})
	}
	// Outside a message ACL the line has no id: counted, nothing joined.
	p := newTestParser(t, Options{Host: "mx"})
	evs, err := feedAll(t, p, "2026-11-24 17:00:14 MXWARDEN-HEADERS prec=bulk cron=0")
	if err != nil || len(evs) != 0 || p.Stats()["exim_headers"] != 1 || p.Pending() != 0 {
		t.Errorf("line without id: %d events, %v, stats %v, pending %d", len(evs), err, p.Stats(), p.Pending())
	}
}

// TestHeadersJoinEveryEvent: a message's logged headers reach the event of
// every recipient (sent, deferred, bounced, expired, rejected after DATA),
// and an event's headers do not change when the message gets more later.
func TestHeadersJoinEveryEvent(t *testing.T) {
	t.Run("postfix", func(t *testing.T) {
		p := newTestParser(t, Options{Host: "mx"})
		lines := append(append([]string{}, preamble...),
			pfxCleanup+"List-Unsubscribe: <https://shoes.example/u/1>"+pfxTail,
			pfxCleanup+"Precedence: bulk"+pfxTail,
			pfx+"smtp[4]: 3F1A2B4C5D: to=<b1@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
			pfx+"smtp[4]: 3F1A2B4C5D: to=<b2@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=4.2.2, status=deferred (host mx[198.51.100.2] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command))",
			pfx+"smtp[4]: 3F1A2B4C5D: to=<b3@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx[198.51.100.2] said: 550 5.1.1 no such user (in reply to RCPT TO command))",
			pfx+"qmgr[3]: 3F1A2B4C5D: from=<alice@example.org>, status=expired, returned to sender",
		)
		evs, err := feedAll(t, p, lines...)
		if err != nil || len(evs) != 4 {
			t.Fatalf("%d events, %v", len(evs), err)
		}
		want := []string{"List-Unsubscribe: <https://shoes.example/u/1>", "Precedence: bulk"}
		for _, e := range evs {
			if !reflect.DeepEqual(e.Headers, want) {
				t.Errorf("%s %s: headers %q, want %q", e.Status, e.Recipient, e.Headers, want)
			}
		}
		// A header logged after the first delivery (a re-run of cleanup)
		// joins the later events only.
		m := p.lookup(p.hosts["mx"], "3F1A2B4C5D")
		if m == nil {
			t.Fatal("message forgotten")
		}
		p.addHeader(m, hdrXMailer, "late")
		if len(evs[0].Headers) != 2 {
			t.Errorf("an emitted event changed: %q", evs[0].Headers)
		}
	})
	t.Run("exim", func(t *testing.T) {
		p := newTestParser(t, Options{Host: "mx"})
		evs, err := feedAll(t, p,
			eximMid+`MXWARDEN-HEADERS lu="<https://shoes.example/u/1>" lup="" prec=bulk xm="" as="" cron=0`,
			eximMid+"<= news@shoes.example H=web7.example.net (web7) [198.51.100.7]:51234 P=esmtpsa S=1 for a@gmail.com b@gmail.com c@web.de d@x.example",
			eximMid+"=> a@gmail.com R=dnslookup T=remote_smtp H=gmail-smtp-in.l.google.com [142.250.102.27]:25 C=\"250 OK\"",
			eximMid+"-> b@gmail.com R=dnslookup T=remote_smtp H=gmail-smtp-in.l.google.com [142.250.102.27]:25 C=\"250 OK\"",
			eximMid+"== c@web.de R=dnslookup T=remote_smtp defer (-44) H=mx-ha03.web.de [212.227.17.8]: SMTP error from remote mail server after RCPT TO:<c@web.de>: 452 4.2.2 Mailbox full",
			eximMid+"** d@x.example R=dnslookup T=remote_smtp H=mx.x.example [192.0.2.9]:25: SMTP error from remote mail server after RCPT TO:<d@x.example>: 550 5.1.1 unknown user",
			"2026-11-24 17:00:20 1xYW6H-00018o-2S MXWARDEN-HEADERS prec=bulk cron=0",
			"2026-11-24 17:00:20 1xYW6H-00018o-2S H=web7.example.net [198.51.100.7]:51240 F=<news@shoes.example> rejected after DATA: bulk mail refused",
		)
		if err != nil || len(evs) != 5 {
			t.Fatalf("%d events, %v", len(evs), err)
		}
		for i, e := range evs {
			want := []string{"List-Unsubscribe: <https://shoes.example/u/1>", "Precedence: bulk"}
			if i == 4 {
				want = want[1:]
			}
			if !reflect.DeepEqual(e.Headers, want) {
				t.Errorf("%s %s: headers %q, want %q", e.Status, e.Recipient, e.Headers, want)
			}
		}
	})
}

// TestHeaderBounds: at most event.MaxHeaders entries of at most
// event.MaxHeaderLen bytes, the rest counted.
func TestHeaderBounds(t *testing.T) {
	p := newTestParser(t, Options{Host: "mx"})
	lines := append([]string{}, preamble...)
	for i := range event.MaxHeaders + 4 {
		lines = append(lines, pfxCleanup+"X-Mailer: mailer "+itoa(i)+pfxTail)
	}
	lines = append(lines, pfxCleanup+"X-Mailer: mailer 0"+pfxTail) // a repeat: kept once, not counted
	lines = append(lines, pfxSent)
	evs, err := feedAll(t, p, lines...)
	if err != nil || len(evs) != 1 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	if len(evs[0].Headers) != event.MaxHeaders || evs[0].Headers[0] != "X-Mailer: mailer 0" {
		t.Errorf("%d headers, first %q", len(evs[0].Headers), evs[0].Headers[0])
	}
	if n := p.Stats()["headers_dropped"]; n != 4 {
		t.Errorf("headers_dropped %d, want 4", n)
	}

	q := newTestParser(t, Options{Host: "mx"})
	long := strings.Repeat("é", 600) // 1200 bytes, as Exim logs it (no 200-character cut)
	evs, err = feedAll(t, q, eximMid+`MXWARDEN-HEADERS xm="`+long+`" cron=0`, eximArr, eximSent)
	if err != nil || len(evs) != 1 || len(evs[0].Headers) != 1 {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	h := evs[0].Headers[0]
	if len(h) > event.MaxHeaderLen || len(h) < event.MaxHeaderLen-1 || !strings.HasPrefix(h, "X-Mailer: éé") || strings.ContainsRune(h, '\uFFFD') {
		t.Errorf("cut header of %d bytes: %q", len(h), h)
	}
	if n := q.Stats()["headers_cut"]; n != 1 {
		t.Errorf("headers_cut %d, want 1", n)
	}
	if err := evs[0].Validate(); err != nil {
		t.Error(err)
	}
}

// TestHeadersCheckpoint: the headers are part of the saved join state, so
// a restart between the header lines and the deliveries gives the same
// events; an edited checkpoint with a hostile or oversized header list is
// refused.
func TestHeadersCheckpoint(t *testing.T) {
	head := append(append([]string{}, preamble...),
		pfxCleanup+"List-Unsubscribe-Post: List-Unsubscribe=One-Click"+pfxTail,
		pfxCleanup+"X-Mailer: PHPlist v3.6"+pfxTail,
	)
	rest := []string{pfxSent,
		pfx + "smtp[4]: 3F1A2B4C5D: to=<c@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)"}
	whole := newTestParser(t, Options{Host: "mx"})
	want, err := feedAll(t, whole, append(append([]string{}, head...), rest...)...)
	if err != nil || len(want) != 2 || len(want[1].Headers) != 2 {
		t.Fatalf("uninterrupted: %d events, %v", len(want), err)
	}

	first := newTestParser(t, Options{Host: "mx"})
	if _, err := feedAll(t, first, head...); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(first.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"headers":["List-Unsubscribe-Post: List-Unsubscribe=One-Click","X-Mailer: PHPlist v3.6"]`) {
		t.Errorf("saved state without the headers: %s", b)
	}
	var saved []PendingMessage
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	second := newTestParser(t, Options{Host: "mx"})
	if err := second.Restore(saved); err != nil {
		t.Fatal(err)
	}
	got, err := feedAll(t, second, rest...)
	if err != nil || len(got) != len(want) {
		t.Fatalf("after restore: %d events, %v", len(got), err)
	}
	for i := range got {
		g, w := *got[i], *want[i]
		g.ID, w.ID = "", ""
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d after restore:\n got %+v\nwant %+v", i, g, w)
		}
	}

	for name, hs := range map[string][]string{
		"newline":       {"X-Mailer: a\nX-Injected: b"},
		"bidi override": {"X-Mailer: a\u202eb"},
		"unknown name":  {"Received: from x"},
		"no value":      {"Precedence: "},
		"too long":      {"X-Mailer: " + strings.Repeat("a", event.MaxHeaderLen)},
		"too many":      strings.Split(strings.Repeat("Precedence: bulk,", event.MaxHeaders+1), ",")[:event.MaxHeaders+1],
	} {
		pm := []PendingMessage{{Host: "mx", QueueID: "ABCDE12345", MTA: "postfix", Headers: hs}}
		err := newTestParser(t, Options{Host: "mx"}).Restore(pm)
		if err == nil {
			t.Errorf("%s: restored", name)
		} else if name != "too many" && !errors.Is(err, ErrHostileField) {
			t.Errorf("%s: %v, want ErrHostileField", name, err)
		}
	}
}
