package history

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// TestServerReader: the desk's read side on Debian's ClickHouse 18.16 (the
// legacy dialect: whole-second DateTime, no DateTime64). Several events
// share a second, as log lines do: the first and last event ids cut it.
func TestServerReader(t *testing.T) {
	srv := startServer(t)
	ctx := context.Background()
	s, err := OpenServer(ctx, srv.DSN(), "mxwarden")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := Migrate(ctx, s, DefaultConfig().TTL, nil); err != nil {
		t.Fatal(err)
	}
	base := time.Now().UTC().Add(-time.Hour).Truncate(time.Second)
	var evs [][]any
	for i := 1; i <= 12; i++ {
		sender := "A@Shop.Example"
		if i > 10 {
			sender = "other@shop.example"
		}
		e := &event.DeliveryEvent{ID: fmt.Sprintf("mx1:9-1:%d", i), TS: base.Add(time.Duration(i/4)*time.Second + 300*time.Millisecond), MTA: "postfix",
			Host: "mx1", Sender: sender, Recipient: fmt.Sprintf("n%d@corp.example", i), Status: event.StatusBounced, DSN: "5.1.1",
			ReplyCode: 550, ReplyText: "550 5.1.1 <x>' OR 1=1", Reason: event.ReasonUserUnknown, Size: 10}
		evs = append(evs, EventRow(e))
	}
	if err := s.Insert(ctx, eventsTable, evs); err != nil {
		t.Fatal(err)
	}
	v := event.Verdict{ID: "v9", TS: base.Add(11 * time.Second), Rule: "invalid_recipients", SubjectKind: event.KindSender,
		Subject: "a@shop.example", Action: event.ActionBan, Evidence: map[string]float64{"attempts": 10},
		WindowStart: base, WindowEnd: base.Add(11 * time.Second), FirstEventID: "mx1:9-1:2", LastEventID: "mx1:9-1:9"}
	if err := s.Insert(ctx, verdictsTable, [][]any{VerdictRow(&v)}); err != nil {
		t.Fatal(err)
	}
	b := event.Ban{Verdict: v, Source: "rule", Level: 1}
	b.Expires = event.OptTime{Time: base.Add(24 * time.Hour)}
	ext := b
	ext.Actor, ext.Expires = "desk-admin", event.OptTime{Time: base.Add(720 * time.Hour)}
	if err := s.Insert(ctx, bansTable, [][]any{BanRow(&b, b.Key(), b.TS, "0/1", ""), BanRow(&ext, b.Key(), b.TS, "0/2", "desk-admin"),
		BanRow(nil, b.Key(), base.Add(time.Minute), "0/3", "alice")}); err != nil {
		t.Fatal(err)
	}
	r := &Reader{Store: func() Store { return s }, RO: ReadOnly{Timeout: 10 * time.Second}}
	got, err := r.BanEvents(ctx, b, 100)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range got {
		if e.ID != fmt.Sprintf("mx1:9-1:%d", i+2) {
			t.Fatalf("event %d is %s: %+v", i, e.ID, got)
		}
	}
	if len(got) != 8 || got[0].ID != "mx1:9-1:2" || got[7].ID != "mx1:9-1:9" || got[0].ReplyText != "550 5.1.1 <x>' OR 1=1" || got[0].ReplyCode != 550 {
		t.Fatalf("events on the server: %+v", got)
	}
	tl, err := r.Timeline(ctx, event.KindSender, "a@shop.example", 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(tl) != 4 || tl[0].What != "unban" || tl[0].Actor != "alice" || tl[3].What != "verdict" {
		t.Fatalf("timeline on the server: %+v", tl)
	}
	var extended bool
	for _, e := range tl {
		extended = extended || e.What == "ban" && e.Actor == "desk-admin" && len(e.Detail) > 16 && e.Detail[:16] == "extended by hand"
	}
	if !extended {
		t.Fatalf("no extension on the timeline: %+v", tl)
	}
	if tl, err := r.Timeline(ctx, event.KindSender, "a@shop.example' OR '1'='1", 100); err != nil || len(tl) != 0 {
		t.Fatalf("hostile subject: %+v %v", tl, err)
	}
}
