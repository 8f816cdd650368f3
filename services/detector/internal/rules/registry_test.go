package rules

import (
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

func TestRegistry(t *testing.T) {
	if got := Codes(); len(got) == 0 || got[0] != CodeInvalidRecipients {
		t.Fatalf("codes %v", got)
	}
	c := DefaultConfig()
	if !c.InvalidRecipients.On || c.InvalidRecipients.Ratio != 0.10 {
		t.Fatalf("defaults %+v", c.InvalidRecipients)
	}
	if err := c.Check("https://example.com/t", 5*time.Minute); err != nil {
		t.Fatal(err)
	}
	// Every section is checked, enabled or not, and the errors name it.
	c.InvalidRecipients.On = false
	c.InvalidRecipients.Ratio = 2
	if err := c.Check("https://example.com/t", 5*time.Minute); err == nil || !strings.Contains(err.Error(), "rules.invalid_recipients: ratio 2") {
		t.Fatalf("err = %v", err)
	}
	// A window the bucket width does not divide.
	c = DefaultConfig()
	if err := c.Check("https://example.com/t", 7*time.Minute); err == nil || !strings.Contains(err.Error(), "bucket width") {
		t.Fatalf("err = %v", err)
	}
	// A ticket URL making a message too long, or breaking the line.
	for _, u := range []string{"https://example.com/" + strings.Repeat("a", 300), "https://x\n"} {
		if err := c.Check(u, 5*time.Minute); err == nil {
			t.Fatalf("ticket url %q accepted", u)
		}
	}
	// New builds only the enabled rules, on the given layouts.
	layouts := map[event.SubjectKind]*state.Layout{}
	env := Env{TicketURL: "https://example.com/t", Layout: func(k event.SubjectKind) *state.Layout {
		if layouts[k] == nil {
			layouts[k], _ = state.NewLayout(5 * time.Minute)
		}
		return layouts[k]
	}}
	rs, err := New(DefaultConfig(), env, 5*time.Minute)
	if err != nil || len(rs) != len(Codes()) || rs[0].Info().Code != CodeInvalidRecipients || layouts[event.KindSender].Empty() {
		t.Fatalf("rules %v, err %v", rs, err) // every rule is on by default
	}
	c.InvalidRecipients.On = false
	rs, err = New(c, env, 5*time.Minute)
	if err != nil || len(rs) != len(Codes())-1 {
		t.Fatalf("disabled: %v %v", rs, err)
	}
	for _, r := range rs {
		if r.Info().Code == CodeInvalidRecipients {
			t.Fatal("a disabled rule was built into the run")
		}
	}
}

func TestStagesAndKeys(t *testing.T) {
	if !StageSender.KindAllowed(event.KindAccount) || StageSender.KindAllowed(event.KindRecipient) ||
		!StageRecipient.KindAllowed(event.KindSenderRecipient) || StageRecipient.KindAllowed(event.KindSender) {
		t.Fatal("stage kinds")
	}
	ev := &event.DeliveryEvent{Sender: "Bob@Shop.Example", Recipient: "Ann@Mail.Example", SASLUser: "Shop", ClientIP: "192.0.2.1"}
	for k, want := range map[event.SubjectKind]string{
		event.KindSender: "bob@shop.example", event.KindAccount: "shop", event.KindSenderDomain: "shop.example",
		event.KindClientIP: "192.0.2.1", event.KindRecipient: "ann@mail.example", event.KindRecipientDomain: "mail.example",
		event.KindSenderRecipient: "bob@shop.example=>ann@mail.example",
	} {
		if got := KeyOf(k, ev); got != want {
			t.Errorf("KeyOf(%s) = %q, want %q", k, got, want)
		}
	}
	if KeyOf(event.KindSender, &event.DeliveryEvent{}) != "" || KeyOf(event.KindSenderRecipient, &event.DeliveryEvent{Sender: "a@b"}) != "" {
		t.Error("empty keys")
	}
}

func TestFormatWindowAndID(t *testing.T) {
	for d, want := range map[time.Duration]string{time.Hour: "1h", 90 * time.Minute: "1h30m", 45 * time.Minute: "45m", 24 * time.Hour: "24h"} {
		if got := FormatWindow(d); got != want {
			t.Errorf("FormatWindow(%s) = %q", d, got)
		}
	}
	v := event.Verdict{Rule: "r", SubjectKind: event.KindSender, Subject: "a@x", LastEventID: "e"}
	w := v
	w.Rule, w.Subject = "ra@", "x"
	if VerdictID(&v) == VerdictID(&w) || len(VerdictID(&v)) != 32 {
		t.Fatal("verdict ids")
	}
}
