//go:build chdb

package desk_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/enforcer"
)

// TestStaffViewFromEmbeddedHistory: an enforcer with history.path (the
// embedded engine, the writer's own store) shows, on a ban's page, the
// delivery events behind it read back from history — those of its subject
// inside its window and event ids, no other sender's — and the subject's
// timeline with the actor of a manual change; hostile subjects and reply
// texts stay inert.
func TestStaffViewFromEmbeddedHistory(t *testing.T) {
	dir := t.TempDir()
	e := startEnv(t, func(c *enforcer.Config) {
		c.History.Path = filepath.Join(dir, "history")
		c.History.FlushInterval = 50 * time.Millisecond
		c.History.Group = fmt.Sprintf("desk-history-%d", time.Now().UnixNano())
	})
	now := time.Now().UTC().Truncate(time.Second)
	base := now.Add(-30 * time.Minute)
	sender := hostileSubjects[0] // `"><script>alert(1)</script>@evil.example`
	var recs []*kgo.Record
	evs := func(n int, from string, id func(int) string, at func(int) time.Time, rcpt func(int) string) {
		for i := 1; i <= n; i++ {
			ev := &event.DeliveryEvent{ID: id(i), TS: at(i), MTA: "postfix", Host: "mx1", QueueID: fmt.Sprintf("Q%d", i),
				Sender: from, Recipient: rcpt(i), Status: event.StatusBounced, DSN: "5.1.1", ReplyCode: 550,
				ReplyText: "550 5.1.1 <" + rcpt(i) + ">: Recipient address rejected: User unknown <script>x</script>",
				Reason:    event.ReasonUserUnknown}
			b, err := event.MarshalEvent(ev)
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, &kgo.Record{Topic: e.cfg.Kafka.Topics.Events, Key: []byte(ev.Account()), Value: b})
		}
	}
	// 25 events of the banned sender inside the window (ids 1..25), four
	// outside it, and another sender's events at the same times.
	// Log times are whole seconds, five lines a second: 28 and 29 share
	// the last counted event's second but come after it in the log.
	evs(29, sender, func(i int) string { return fmt.Sprintf("mx1:7-1:%d", i) },
		func(i int) time.Time {
			switch {
			case i > 27:
				return base.Add(5 * time.Second)
			case i > 25:
				return base.Add(-time.Duration(i) * time.Minute)
			}
			return base.Add(time.Duration(i/5) * time.Second)
		},
		func(i int) string { return fmt.Sprintf("nobody%d@corp.example", i) })
	evs(5, "bystander@other.example", func(i int) string { return fmt.Sprintf("mx1:7-2:%d", i) },
		func(i int) time.Time { return base.Add(time.Duration(i) * time.Second) },
		func(i int) string { return fmt.Sprintf("secret%d@third.example", i) })
	b := invalidRecipientsBan(sender)
	b.TS, b.WindowStart, b.WindowEnd = base.Add(26*time.Second), base, base.Add(26*time.Second)
	b.FirstEventID, b.LastEventID = "mx1:7-1:1", "mx1:7-1:25"
	vb, err := event.MarshalVerdict(&b.Verdict)
	if err != nil {
		t.Fatal(err)
	}
	recs = append(recs, &kgo.Record{Topic: e.cfg.Kafka.Topics.Verdicts, Key: []byte(b.Key()), Value: vb})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := e.kc.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	e.produceBan(b)

	c := e.client()
	e.login(c, adminToken)
	path := banPath(event.KindSender, sender)
	var body string
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, body = e.get(c, path)
		if strings.Count(body, "nobody") >= 2*25 && strings.Contains(body, "<td>verdict</td>") && strings.Contains(body, "<td>ban</td>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the ban's page never listed its 25 events and its timeline from history:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := 1; i <= 25; i++ {
		want := fmt.Sprintf("550 5.1.1 &lt;nobody%d@corp.example&gt;: Recipient address rejected: User unknown &lt;script&gt;x&lt;/script&gt;", i)
		if !strings.Contains(body, want) {
			t.Errorf("event %d missing from the ban's page", i)
		}
	}
	for _, no := range []string{"nobody26@", "nobody27@", "nobody28@", "nobody29@", "bystander@other.example", "secret1@third.example", "History did not answer"} {
		if strings.Contains(body, no) {
			t.Errorf("ban page shows %q", no)
		}
	}
	if !strings.Contains(body, "&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;@evil.example") {
		t.Error("the hostile sender is not shown escaped in the events")
	}
	assertInert(t, "ban page from history", body)

	// Extend through the staff view (the API's extend): history records it
	// with its actor, and the extended ban still lists the events behind it.
	code, _ := e.post(c, "/staff/extend", map[string][]string{"csrf": {csrf(t, body)}, "kind": {"sender"}, "subject": {sender},
		"reason": {"still bouncing"}, "ttl": {"720h"}})
	if code != 303 {
		t.Fatalf("extend: %d", code)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		_, body = e.get(c, path)
		if strings.Contains(body, "<td>desk-admin</td><td>extended by hand: ban, level 1, expires ") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the extension never reached the timeline:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if n := strings.Count(body, "&lt;nobody"); n != 25 {
		t.Errorf("the extended ban lists %d events, want 25", n)
	}

	// A manual unban through the staff view reaches history with its actor.
	code, _ = e.post(c, "/staff/unban", map[string][]string{"csrf": {csrf(t, body)}, "kind": {"sender"}, "subject": {sender},
		"reason": {"customer cleaned the list"}})
	if code != 303 {
		t.Fatalf("unban: %d", code)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		_, body = e.get(c, path)
		if strings.Contains(body, "<td>unban</td>") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the unban never reached the timeline:\n%s", body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if !strings.Contains(body, "<td>desk-admin</td><td>lifted by hand</td>") {
		t.Errorf("the unban's actor is not on the timeline:\n%s", body)
	}
	assertInert(t, "timeline from history", body)
}
