package rules

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

// ev builds an event at t0 plus sec seconds.
func ev(sec int, sender string, status event.Status, reason event.Reason) *event.DeliveryEvent {
	return &event.DeliveryEvent{
		ID: fmt.Sprintf("h:f:%d", sec), TS: t0.Add(time.Duration(sec) * time.Second),
		Sender: sender, Recipient: "r@x.example", Status: status, Reason: reason,
	}
}

func unknown(sec int, sender string) *event.DeliveryEvent {
	return ev(sec, sender, event.StatusBounced, ReasonUserUnknown)
}

func sent(sec int, sender string) *event.DeliveryEvent {
	return ev(sec, sender, event.StatusSent, "")
}

func newRule(t *testing.T, mut func(*InvalidRecipientsConfig), gate Gate) *InvalidRecipients {
	t.Helper()
	cfg := DefaultInvalidRecipients()
	cfg.MinAttempts = 4
	if mut != nil {
		mut(&cfg)
	}
	r, err := NewInvalidRecipients(cfg, Env{TicketURL: "https://example.com/t", Gate: gate})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func observe(r Rule, evs ...*event.DeliveryEvent) []event.Verdict {
	var out []event.Verdict
	for _, e := range evs {
		out = r.Observe(e, out)
	}
	return out
}

func TestInvalidRecipientsCounting(t *testing.T) {
	tests := []struct {
		name   string
		events []*event.DeliveryEvent
		fires  int // verdicts with no gate (every crossing)
		want   [2]uint64
	}{
		{
			name:   "two of four unknown crosses at the fourth",
			events: []*event.DeliveryEvent{unknown(1, "a@x"), sent(2, "a@x"), unknown(3, "a@x"), sent(4, "a@x")},
			fires:  1, want: [2]uint64{4, 2},
		},
		{
			name:   "below ratio",
			events: []*event.DeliveryEvent{unknown(1, "a@x"), sent(2, "a@x"), sent(3, "a@x"), sent(4, "a@x"), unknown(5, "a@x")},
			want:   [2]uint64{5, 2},
		},
		{
			name: "deferred and expired do not count",
			events: []*event.DeliveryEvent{
				unknown(1, "a@x"), unknown(2, "a@x"), unknown(3, "a@x"),
				ev(4, "a@x", event.StatusDeferred, ReasonUserUnknown), ev(5, "a@x", event.StatusExpired, ""),
			},
			want: [2]uint64{3, 3},
		},
		{
			name: "rejected user unknown counts, other bounces are attempts only",
			events: []*event.DeliveryEvent{
				ev(1, "a@x", event.StatusRejected, ReasonUserUnknown), ev(2, "a@x", event.StatusBounced, "mailbox_full"),
				ev(3, "a@x", event.StatusRejected, "policy"), ev(4, "a@x", event.StatusRejected, ReasonUserUnknown),
			},
			fires: 1, want: [2]uint64{4, 2},
		},
		{
			name:   "a sent with an odd reason is not unknown",
			events: []*event.DeliveryEvent{ev(1, "a@x", event.StatusSent, ReasonUserUnknown), sent(2, "a@x"), unknown(3, "a@x"), sent(4, "a@x")},
			want:   [2]uint64{4, 1},
		},
		{
			name:   "null sender ignored",
			events: []*event.DeliveryEvent{unknown(1, ""), unknown(2, ""), unknown(3, ""), unknown(4, ""), unknown(5, "")},
		},
		{
			name:   "case folded",
			events: []*event.DeliveryEvent{unknown(1, "A@X"), unknown(2, "a@X"), unknown(3, "a@x"), unknown(4, "A@x"), unknown(5, "a@x")},
			fires:  2, want: [2]uint64{5, 5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRule(t, nil, nil)
			got := observe(r, tt.events...)
			if len(got) != tt.fires {
				t.Fatalf("%d verdicts, want %d", len(got), tt.fires)
			}
			var sums [2]uint64
			if ref, ok := r.eng.Lookup("a@x"); ok {
				ref.Sums(sums[:])
			}
			if sums != tt.want {
				t.Fatalf("counts %v, want %v", sums, tt.want)
			}
		})
	}
}

func TestInvalidRecipientsVerdict(t *testing.T) {
	r := newRule(t, nil, nil)
	got := observe(r, sent(0, "a@x"), unknown(10, "a@x"), unknown(20, "a@x"), unknown(30, "a@x"))
	if len(got) != 1 {
		t.Fatalf("%d verdicts", len(got))
	}
	v := got[0]
	if err := v.Validate(); err != nil {
		t.Fatal(err)
	}
	want := "Your sending address has been blocked by admins: you recently sent too many emails to invalid recipients (3 of 4 in 1h). Open a ticket at https://example.com/t"
	if v.Message != want {
		t.Errorf("message %q", v.Message)
	}
	if v.Rule != CodeInvalidRecipients || v.SubjectKind != event.KindSender || v.Subject != "a@x" || v.Action != event.ActionBan || v.Shadow {
		t.Errorf("verdict %+v", v)
	}
	if v.FirstEventID != "h:f:10" || v.LastEventID != "h:f:30" {
		t.Errorf("event ids %s..%s", v.FirstEventID, v.LastEventID)
	}
	if !v.TS.Equal(t0.Add(30*time.Second)) || !v.WindowEnd.Equal(v.TS) || !v.WindowStart.Equal(t0.Add(-55*time.Minute)) {
		t.Errorf("times ts %v window %v..%v", v.TS, v.WindowStart, v.WindowEnd)
	}
	wantEv := map[string]float64{"attempts": 4, "user_unknown": 3, "ratio": 0.75, "threshold_ratio": 0.5, "min_attempts": 4, "window_seconds": 3600}
	if fmt.Sprint(v.Evidence) != fmt.Sprint(wantEv) {
		t.Errorf("evidence %v", v.Evidence)
	}
	if v.ID != VerdictID(&v) || len(v.ID) != 32 {
		t.Errorf("id %q", v.ID)
	}
}

func TestInvalidRecipientsShadow(t *testing.T) {
	r := newRule(t, func(c *InvalidRecipientsConfig) { c.Shadow = true }, nil)
	got := observe(r, unknown(1, "a@x"), unknown(2, "a@x"), unknown(3, "a@x"), unknown(4, "a@x"))
	if len(got) != 1 || got[0].Action != event.ActionFlag || !got[0].Shadow || !r.Shadow() {
		t.Fatalf("verdicts %+v", got)
	}
}

// TestInvalidRecipientsFirstUnknown checks that the first event id
// belongs to the current run of windows holding unknowns.
func TestInvalidRecipientsFirstUnknown(t *testing.T) {
	r := newRule(t, func(c *InvalidRecipientsConfig) { c.MinAttempts = 3 }, nil)
	observe(r, unknown(0, "a@x"), sent(60, "a@x")) // 1 of 2
	// An hour later the first unknown has left the window, but "a@x" is
	// still tracked (its sends keep coming).
	for m := 5; m <= 65; m += 5 {
		observe(r, sent(m*60, "a@x"))
	}
	got := observe(r, unknown(66*60, "a@x"), unknown(66*60+1, "a@x"), unknown(66*60+2, "a@x"), unknown(66*60+3, "a@x"),
		unknown(66*60+4, "a@x"), unknown(66*60+5, "a@x"), unknown(66*60+6, "a@x"), unknown(66*60+7, "a@x"), unknown(66*60+8, "a@x"),
		unknown(66*60+9, "a@x"), unknown(66*60+10, "a@x"), unknown(66*60+11, "a@x"), unknown(66*60+12, "a@x"))
	if len(got) == 0 {
		t.Fatal("no verdict")
	}
	if got[0].FirstEventID != fmt.Sprintf("h:f:%d", 66*60) {
		t.Fatalf("first event %s, want the first unknown of the new run", got[0].FirstEventID)
	}
	if ref, _ := r.eng.Lookup("a@x"); ref.Value().firstUnknown == "" {
		t.Fatal("first unknown not kept")
	}
}

type stubGate struct{ calls int }

func (g *stubGate) Suppressed(rule string, kind event.SubjectKind, subject string, ts time.Time) bool {
	g.calls++
	return g.calls > 1
}

func TestInvalidRecipientsGate(t *testing.T) {
	g := &stubGate{}
	r := newRule(t, nil, g)
	got := observe(r, unknown(1, "a@x"), unknown(2, "a@x"), unknown(3, "a@x"), unknown(4, "a@x"), unknown(5, "a@x"), unknown(6, "a@x"))
	if len(got) != 1 || g.calls != 3 {
		t.Fatalf("%d verdicts, %d gate calls", len(got), g.calls)
	}
}

func TestInvalidRecipientsLate(t *testing.T) {
	r := newRule(t, nil, nil)
	observe(r, sent(2*3600, "b@x"), unknown(0, "a@x"), unknown(1, "a@x"))
	if st := r.Stats(); st.Late != 2 || st.Tracked != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		mut  func(*InvalidRecipientsConfig)
		want string
	}{
		{"ratio", func(c *InvalidRecipientsConfig) { c.Ratio = 1.01 }, "ratio"},
		{"negative ratio", func(c *InvalidRecipientsConfig) { c.Ratio = -0.1 }, "ratio"},
		{"min attempts", func(c *InvalidRecipientsConfig) { c.MinAttempts = 0 }, "min_attempts"},
		{"window", func(c *InvalidRecipientsConfig) { c.Window = 0 }, "window"},
		{"buckets", func(c *InvalidRecipientsConfig) { c.Buckets = 5000 }, "buckets"},
		{"uneven", func(c *InvalidRecipientsConfig) { c.Window = time.Hour + time.Nanosecond }, "multiple"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			tt.mut(&c.InvalidRecipients)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "rules.invalid_recipients") {
				t.Fatalf("err = %v", err)
			}
			if _, err := New(c, Env{TicketURL: "https://x"}); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}

func TestNew(t *testing.T) {
	rs, err := New(DefaultConfig(), Env{TicketURL: "https://example.com/t"})
	if err != nil || len(rs) != 1 || rs[0].Code() != CodeInvalidRecipients {
		t.Fatalf("rules %v, err %v", rs, err)
	}
	c := DefaultConfig()
	c.InvalidRecipients.Enabled = false
	if rs, err := New(c, Env{TicketURL: "https://example.com/t"}); err != nil || len(rs) != 0 {
		t.Fatalf("disabled: rules %v, err %v", rs, err)
	}
	// A ticket URL that makes the longest message exceed 400 bytes is refused,
	// even for a disabled rule; % in it is kept literally.
	if _, err := New(c, Env{TicketURL: "https://example.com/" + strings.Repeat("a", 250)}); err == nil || !strings.Contains(err.Error(), "ticket_url") {
		t.Fatalf("long url: %v", err)
	}
	r, _ := NewInvalidRecipients(DefaultInvalidRecipients(), Env{TicketURL: "https://example.com/t?a=%20"})
	if m := r.message(1, 2); !strings.HasSuffix(m, "https://example.com/t?a=%20") {
		t.Fatalf("message %q", m)
	}
	if _, err := New(DefaultConfig(), Env{TicketURL: "https://x\n"}); err == nil {
		t.Fatal("line break accepted")
	}
}

func TestFormatWindow(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour: "1h", 90 * time.Minute: "1h30m", 45 * time.Minute: "45m", 90 * time.Second: "1m30s",
		30 * time.Second: "30s", 24 * time.Hour: "24h", time.Hour + time.Second: "1h0m1s",
	} {
		if got := FormatWindow(d); got != want {
			t.Errorf("FormatWindow(%s) = %q, want %q", d, got, want)
		}
	}
}

func TestVerdictID(t *testing.T) {
	v := event.Verdict{Rule: "r", SubjectKind: event.KindSender, Subject: "a@x", TS: t0, WindowStart: t0.Add(-time.Hour), LastEventID: "e"}
	id := VerdictID(&v)
	if id != VerdictID(&v) {
		t.Fatal("not deterministic")
	}
	for _, mut := range []func(*event.Verdict){
		func(v *event.Verdict) { v.Rule = "s" },
		func(v *event.Verdict) { v.Subject = "b@x" },
		func(v *event.Verdict) { v.SubjectKind = event.KindAccount },
		func(v *event.Verdict) { v.TS = v.TS.Add(time.Nanosecond) },
		func(v *event.Verdict) { v.WindowStart = v.TS },
		func(v *event.Verdict) { v.LastEventID = "f" },
		func(v *event.Verdict) { v.Rule, v.Subject = "ra@", "x" }, // field boundaries matter
	} {
		c := v
		mut(&c)
		if VerdictID(&c) == id {
			t.Errorf("id unchanged by %+v", c)
		}
	}
}
