package desk_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/desk"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/enforcer"
)

// storedHistory answers from fixed rows: the interface's contract and its
// failure path. The real read side (history.Reader on the embedded
// engine) is tested in history_chdb_test.go.
type storedHistory struct {
	events []event.DeliveryEvent
	fail   atomic.Bool
	asked  atomic.Pointer[event.Ban]
}

func (h *storedHistory) Events(_ context.Context, b event.Ban, limit int) ([]event.DeliveryEvent, error) {
	if h.fail.Load() {
		return nil, errors.New("clickhouse: connection refused")
	}
	h.asked.Store(&b)
	return h.events[:min(limit, len(h.events))], nil
}

func (h *storedHistory) Timeline(_ context.Context, kind event.SubjectKind, subject string, _ int) ([]desk.TimelineEntry, error) {
	if h.fail.Load() {
		return nil, errors.New("clickhouse: connection refused")
	}
	return []desk.TimelineEntry{
		{TS: time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC), What: "unban", Rule: "invalid_recipients", Actor: "alice", Detail: "first offence " + string(kind) + ":" + subject},
	}, nil
}

func TestStaffViewShowsHistory(t *testing.T) {
	at := time.Now().UTC().Add(-30 * time.Minute)
	h := &storedHistory{events: []event.DeliveryEvent{
		{ID: "mx1:1:100", TS: at, Host: "mx1", Sender: "list@shop.example", Recipient: "<script>@gone.example", Status: event.StatusBounced,
			DSN: "5.1.1", ReplyText: "550 5.1.1 <x@gone.example>: Recipient address rejected: User unknown"},
	}}
	e := startEnv(t, nil, enforcer.WithDeskHistory(h))
	e.produceBan(invalidRecipientsBan("list@shop.example"))
	c := e.client()
	e.login(c, viewerToken)
	_, body := e.get(c, banPath(event.KindSender, "list@shop.example"))
	for _, want := range []string{"550 5.1.1 &lt;x@gone.example&gt;: Recipient address rejected", "&lt;script&gt;@gone.example", "first offence sender:list@shop.example", "alice"} {
		if !strings.Contains(body, want) {
			t.Errorf("ban page lacks %q", want)
		}
	}
	if b := h.asked.Load(); b == nil || b.LastEventID != "mx1:1:9000" || b.Subject != "list@shop.example" {
		t.Fatalf("history asked about %+v", b)
	}
	assertInert(t, "history ban page", body)

	// History failing: the page says so and falls back to the ban's own record.
	h.fail.Store(true)
	_, body = e.get(c, banPath(event.KindSender, "list@shop.example"))
	if !strings.Contains(body, "History did not answer") || !strings.Contains(body, "first event counted: mx1:1:100") {
		t.Fatal("no fallback when history fails")
	}
	if e.metric("mxwarden_enforcer_desk_history_errors_total") != 1 {
		t.Fatal("history error not counted")
	}
}
