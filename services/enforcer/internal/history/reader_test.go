//go:build chdb

package history

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

func TestReaderBanEventsAndTimeline(t *testing.T) {
	s, now := loaded(t)
	r := &Reader{Store: func() Store { return s }, RO: testRO}
	ctx := context.Background()
	base := now.Add(-2 * time.Hour)
	ban := event.Ban{Verdict: event.Verdict{ID: "v1", TS: base.Add(40 * time.Second), Rule: "invalid_recipients",
		SubjectKind: event.KindSender, Subject: "A@Shop.Example", Action: event.ActionBan,
		WindowStart: base, WindowEnd: base.Add(time.Hour), FirstEventID: "mx1:1-2:1", LastEventID: "mx1:1-2:34"}, Source: "rule", Level: 1}
	evs, err := r.BanEvents(ctx, ban, 200)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 34 {
		t.Fatalf("ban events: %d, want the 34 of a@shop.example", len(evs))
	}
	for i, e := range evs {
		if want := fmt.Sprintf("mx1:1-2:%d", i+1); e.ID != want || e.Sender != "a@shop.example" {
			t.Fatalf("event %d: %s %s, want %s of a@shop.example", i, e.ID, e.Sender, want)
		}
	}
	if e := evs[0]; e.Status != event.StatusBounced || e.ReplyCode != 550 || e.DSN != "5.1.1" || e.Reason != event.ReasonUserUnknown ||
		!e.TS.Equal(base.Add(time.Second)) || e.Recipient != "nobody0@corp.example" || e.SASLUser != "acct-a" || e.Size != 1000 {
		t.Fatalf("first event read back as %+v", e)
	}
	if evs[20].Subject != hostileSubject {
		t.Fatalf("hostile subject read back as %q", evs[20].Subject)
	}
	// The first and last event ids narrow the window; limit cuts it.
	ban.FirstEventID, ban.LastEventID = "mx1:1-2:5", "mx1:1-2:10"
	if evs, err = r.BanEvents(ctx, ban, 200); err != nil || len(evs) != 6 || evs[0].ID != "mx1:1-2:5" || evs[5].ID != "mx1:1-2:10" {
		t.Fatalf("narrowed to ids 5..10: %d events, %v", len(evs), err)
	}
	if evs, err = r.BanEvents(ctx, ban, 2); err != nil || len(evs) != 2 {
		t.Fatalf("limit 2: %d events, %v", len(evs), err)
	}
	// Outside the window: nothing; a manual ban without a window: nothing.
	ban.WindowStart, ban.WindowEnd, ban.FirstEventID, ban.LastEventID = base.Add(-time.Hour), base, "", ""
	if evs, err = r.BanEvents(ctx, ban, 200); err != nil || len(evs) != 0 {
		t.Fatalf("before the events: %d events, %v", len(evs), err)
	}
	if evs, err = r.BanEvents(ctx, event.Ban{Verdict: event.Verdict{SubjectKind: event.KindSender, Subject: "a@shop.example"}, Source: "api"}, 200); err != nil || len(evs) != 0 {
		t.Fatalf("manual ban: %d events, %v", len(evs), err)
	}
	// Other kinds pick their column.
	acct := event.Ban{Verdict: event.Verdict{SubjectKind: event.KindAccount, Subject: "acct-b", WindowStart: base, WindowEnd: now}}
	if evs, err = r.BanEvents(ctx, acct, 200); err != nil || len(evs) != 13 {
		t.Fatalf("account acct-b: %d events, %v", len(evs), err)
	}
	pair := event.Ban{Verdict: event.Verdict{SubjectKind: event.KindSenderRecipient, Subject: event.PairSubject("b@news.example", "late1@gmail.com"),
		WindowStart: base, WindowEnd: now}}
	if evs, err = r.BanEvents(ctx, pair, 200); err != nil || len(evs) != 1 || evs[0].Status != event.StatusDeferred {
		t.Fatalf("pair: %+v, %v", evs, err)
	}

	tl, err := r.Timeline(ctx, event.KindSender, "a@shop.example", 200)
	if err != nil {
		t.Fatal(err)
	}
	var whats []string
	for _, e := range tl {
		whats = append(whats, e.What)
	}
	// Newest first: the lift by alice (an hour ago), then the ban and the verdict.
	if fmt.Sprint(whats) != "[unban ban verdict]" || tl[0].Actor != "alice" || tl[0].Detail != "lifted by hand" ||
		tl[1].Rule != "invalid_recipients" || tl[2].Rule != "invalid_recipients" {
		t.Fatalf("timeline: %+v", tl)
	}
	tl, err = r.Timeline(ctx, event.KindSender, "b@news.example", 200)
	if err != nil || len(tl) != 1 || tl[0].What != "allow" || tl[0].Actor != "bob" || tl[0].Detail != "newsletter, checked" {
		t.Fatalf("allowlisted sender's timeline: %+v, %v", tl, err)
	}
	// Hostile subjects are values, never SQL.
	for _, subj := range []string{hostileSubject, "a@shop.example' OR '1'='1", `x\' OR 1=1 --`, "{subject:String}"} {
		tl, err := r.Timeline(ctx, event.KindSender, subj, 200)
		if err != nil || len(tl) != 0 {
			t.Fatalf("timeline of %q: %d rows, %v", subj, len(tl), err)
		}
		b := ban
		b.Subject, b.WindowStart, b.WindowEnd = subj, base, now
		if evs, err := r.BanEvents(ctx, b, 200); err != nil || len(evs) != 0 {
			t.Fatalf("events of %q: %d, %v", subj, len(evs), err)
		}
	}
	// Not open yet: a clear error.
	if _, err := (&Reader{Store: func() Store { return nil }}).Timeline(ctx, event.KindSender, "a@shop.example", 10); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("closed store: %v", err)
	}
}
