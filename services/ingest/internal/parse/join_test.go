package parse

import (
	"fmt"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

func TestMultiRecipient(t *testing.T) {
	p := newTestParser(t, Options{})
	lines := append(append([]string{}, preamble...),
		pfx+"smtp[4]: 3F1A2B4C5D: to=<b1@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
		pfx+"smtp[4]: 3F1A2B4C5D: to=<b2@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=4.2.2, status=deferred (host mx[198.51.100.2] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command))",
		pfx+"smtp[4]: 3F1A2B4C5D: to=<b3@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=5.1.1, status=bounced (host mx[198.51.100.2] said: 550 5.1.1 no such user (in reply to RCPT TO command))",
		pfx+"bounce[5]: 3F1A2B4C5D: sender non-delivery notification: 4A4A4A4A4A",
		"Nov 26 18:30:58 mx postfix/smtp[4]: 3F1A2B4C5D: to=<b2@example.net>, relay=mx[198.51.100.2]:25, delay=3600, delays=3599/0/0/1, dsn=4.2.2, status=deferred (host mx[198.51.100.2] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command))",
		"Nov 26 19:30:58 mx postfix/smtp[4]: 3F1A2B4C5D: to=<b2@example.net>, relay=mx[198.51.100.2]:25, delay=7200, delays=7199/0/0/1, dsn=2.0.0, status=sent (250 ok)",
	)
	evs, err := feedAll(t, p, lines...)
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, e := range evs {
		got += fmt.Sprintf("%s %s %s|", e.Recipient, e.Status, e.Reason)
		if e.Sender != "alice@example.org" || e.SASLUser != "alice@example.org" || e.ClientIP != "192.0.2.10" ||
			e.MessageID != "abc@example.org" || e.Size != 4321 || e.Subject != "Hello from Nantes" || e.QueueID != "3F1A2B4C5D" {
			t.Errorf("event not joined: %+v", e)
		}
	}
	want := "b1@example.net sent |b2@example.net deferred mailbox_full|b3@example.net bounced user_unknown|" +
		"b2@example.net deferred mailbox_full|b2@example.net sent |"
	if got != want {
		t.Errorf("events\n got %s\nwant %s", got, want)
	}
	if p.Pending() != 1 {
		t.Fatalf("pending %d, want 1", p.Pending())
	}
	if _, err := feedAll(t, p, "Nov 26 19:30:59 mx postfix/qmgr[3]: 3F1A2B4C5D: removed"); err != nil {
		t.Fatal(err)
	}
	if p.Pending() != 0 {
		t.Errorf("pending %d after removed", p.Pending())
	}
	// Nothing left to expire.
	if n := p.Expire(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), func(e *event.DeliveryEvent) { t.Errorf("expired %+v", e) }); n != 0 {
		t.Errorf("expired %d", n)
	}
}

func TestEventIDs(t *testing.T) {
	p := newTestParser(t, Options{})
	var ids []string
	emit := func(e *event.DeliveryEvent) { ids = append(ids, e.ID) }
	for _, l := range []string{
		preamble[3],
		pfx + "smtp[4]: 3F1A2B4C5D: to=<b1@example.net>, relay=none, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred (connect to x[1.2.3.4]:25: Connection refused)",
		pfx + "smtp[4]: 3F1A2B4C5D: to=<b2@example.net>, relay=none, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred (connect to x[1.2.3.4]:25: Connection refused)",
	} {
		if err := p.Feed([]byte(l), "h:f:1", emit); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Feed([]byte(pfx+"qmgr[3]: 3F1A2B4C5D: from=<alice@example.org>, status=expired, returned to sender"), "h:f:999", emit); err != nil {
		t.Fatal(err)
	}
	want := []string{"h:f:1", "h:f:1", "h:f:999", "h:f:999/1"}
	if fmt.Sprint(ids) != fmt.Sprint(want) {
		t.Errorf("ids %v, want %v", ids, want)
	}
}

func TestExpire(t *testing.T) {
	p := newTestParser(t, Options{PendingTTL: time.Hour})
	lines := append(append([]string{}, preamble...),
		pfx+"smtp[4]: 3F1A2B4C5D: to=<b1@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
		pfx+"smtp[4]: 3F1A2B4C5D: to=<b2@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=4.7.0, status=deferred (host mx[198.51.100.2] said: 421 4.7.0 [TSS04] Messages from 203.0.113.25 temporarily deferred due to unexpected volume or user complaints (in reply to MAIL FROM command))",
		// A queued message that never got a delivery line.
		"Nov 26 17:40:00 mx postfix/qmgr[3]: 5A5A5A5A5A: from=<carol@example.org>, size=10, nrcpt=1 (queue active)",
		// A message that never reached the queue manager: nothing to report.
		"Nov 26 17:41:00 mx postfix/smtpd[1]: 6B6B6B6B6B: client=x.example.org[192.0.2.99]",
		// Still fresh at the expiry time below.
		"Nov 26 18:30:00 mx postfix/qmgr[3]: 7C7C7C7C7C: from=<dave@example.org>, size=10, nrcpt=1 (queue active)",
	)
	if _, err := feedAll(t, p, lines...); err != nil {
		t.Fatal(err)
	}
	if p.Pending() != 4 {
		t.Fatalf("pending %d", p.Pending())
	}
	if w := p.Watermark(); !w.Equal(time.Date(2026, 11, 26, 18, 30, 0, 0, time.UTC)) {
		t.Errorf("watermark %v", w)
	}
	var evs []*event.DeliveryEvent
	n := p.Expire(time.Date(2026, 11, 26, 18, 45, 0, 0, time.UTC), func(e *event.DeliveryEvent) {
		if err := e.Validate(); err != nil {
			t.Error(err)
		}
		evs = append(evs, e)
	})
	if n != 3 || p.Pending() != 1 {
		t.Fatalf("expired %d, pending %d; want 3, 1", n, p.Pending())
	}
	// The deferred recipient b2 already had its deferred event: giving up
	// on its message adds nothing (it may still be queued).
	if len(evs) != 1 {
		t.Fatalf("%d expiry events, want 1: %+v", len(evs), evs)
	}
	b := evs[0]
	if b.Status != event.StatusExpired || b.Recipient != "" || b.Sender != "carol@example.org" || b.QueueID != "5A5A5A5A5A" || b.ID != "l7/expired" {
		t.Errorf("queued message expiry %+v", b)
	}
	if p.Stats()["messages_expired"] != 3 {
		t.Errorf("stats %v", p.Stats())
	}
}

func TestMaxPending(t *testing.T) {
	p := newTestParser(t, Options{MaxPending: 3})
	var evs []*event.DeliveryEvent
	emit := func(e *event.DeliveryEvent) { evs = append(evs, e) }
	for i := 0; i < 10; i++ {
		l := fmt.Sprintf("Nov 26 17:%02d:00 mx postfix/qmgr[3]: %X: from=<s%d@example.org>, size=10, nrcpt=1 (queue active)", i, 0xA00000+i, i)
		if err := p.Feed([]byte(l), fmt.Sprint("l", i), emit); err != nil {
			t.Fatal(err)
		}
		if p.Pending() > 3 {
			t.Fatalf("pending %d > MaxPending", p.Pending())
		}
	}
	if p.Pending() != 3 || len(evs) != 7 || p.Stats()["messages_evicted"] != 7 {
		t.Fatalf("pending %d, %d evicted events, stats %v", p.Pending(), len(evs), p.Stats())
	}
	// The least recently seen go first.
	for i, e := range evs {
		if want := fmt.Sprintf("s%d@example.org", i); e.Sender != want || e.Status != event.StatusExpired {
			t.Errorf("evicted #%d: %+v", i, e)
		}
	}
	// Touching a message keeps it.
	p2 := newTestParser(t, Options{MaxPending: 2})
	feedAll(t, p2,
		pfx+"qmgr[3]: 1A1A1A1A1A: from=<a@example.org>, size=1, nrcpt=1 (queue active)",
		pfx+"qmgr[3]: 2B2B2B2B2B: from=<b@example.org>, size=1, nrcpt=1 (queue active)",
		pfx+"smtp[4]: 1A1A1A1A1A: to=<x@example.net>, relay=none, delay=1, delays=0/0/0/1, dsn=4.4.1, status=deferred (connect to x[1.2.3.4]:25: Connection refused)",
	)
	ev2, _ := feedAll(t, p2, pfx+"qmgr[3]: 3C3C3C3C3C: from=<c@example.org>, size=1, nrcpt=1 (queue active)")
	if len(ev2) != 1 || ev2[0].Sender != "b@example.org" {
		t.Errorf("evicted %+v, want b@example.org's message", ev2)
	}
}

func TestHostsSeparate(t *testing.T) {
	p := newTestParser(t, Options{})
	evs, err := feedAll(t, p,
		"Nov 26 17:30:58 mx1 postfix/qmgr[3]: 3F1A2B4C5D: from=<one@example.org>, size=1, nrcpt=1 (queue active)",
		"Nov 26 17:30:58 mx2 postfix/qmgr[3]: 3F1A2B4C5D: from=<two@example.org>, size=2, nrcpt=1 (queue active)",
		"Nov 26 17:30:59 mx1 postfix/smtp[4]: 3F1A2B4C5D: to=<x@example.net>, relay=none, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
		"Nov 26 17:30:59 mx2 postfix/smtp[4]: 3F1A2B4C5D: to=<x@example.net>, relay=none, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
	)
	if err != nil || len(evs) != 2 {
		t.Fatal(err, len(evs))
	}
	if evs[0].Sender != "one@example.org" || evs[0].Host != "mx1" || evs[1].Sender != "two@example.org" || evs[1].Host != "mx2" {
		t.Errorf("hosts mixed: %+v %+v", evs[0], evs[1])
	}
}

func TestEximJoin(t *testing.T) {
	p := newTestParser(t, Options{Host: "exim1"})
	evs, err := feedAll(t, p,
		"2026-11-26 17:30:58 [1] 10HmaX-000000005vi-0000 <= s@example.org H=c.example.org [192.0.2.5]:4000 P=esmtpa A=login:bob S=999 id=m1@example.org T=\"Invoice\" for a@x.example b@y.example",
		"2026-11-26 17:30:59 [2] 10HmaX-000000005vi-0000 => a@x.example R=dnslookup T=remote_smtp H=mx.x.example [198.51.100.1] C=\"250 OK\"",
		"2026-11-26 17:30:59 [2] 10HmaX-000000005vi-0000 == b@y.example R=dnslookup T=remote_smtp defer (-53): retry time not reached for any host for 'y.example'",
	)
	if err != nil || len(evs) != 2 {
		t.Fatalf("%v, %d events", err, len(evs))
	}
	for _, e := range evs {
		if e.Sender != "s@example.org" || e.SASLUser != "bob" || e.ClientIP != "192.0.2.5" || e.Size != 999 ||
			e.MessageID != "m1@example.org" || e.Subject != "Invoice" || e.MTA != "exim" || e.Host != "exim1" {
			t.Errorf("not joined: %+v", e)
		}
	}
	if p.Pending() != 1 {
		t.Fatalf("pending %d", p.Pending())
	}
	feedAll(t, p, "2026-11-27 17:30:59 [3] 10HmaX-000000005vi-0000 Completed")
	if p.Pending() != 0 {
		t.Errorf("pending %d after Completed", p.Pending())
	}
}
