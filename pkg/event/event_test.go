package event

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEventRoundTrip(t *testing.T) {
	e := &DeliveryEvent{
		ID: "mx1:1-2:300", TS: time.Date(2026, 11, 26, 17, 30, 58, 0, time.FixedZone("CET", 3600)),
		MTA: "postfix", Host: "mx1", QueueID: "4ABC", Sender: "a@b.example", Recipient: "c@d.example",
		Status: StatusBounced, DSN: "5.1.1", ReplyCode: 550, ReplyText: "550 5.1.1 user unknown", Reason: "user_unknown",
		SASLUser: "acme", Size: 1234,
	}
	b, err := MarshalEvent(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"v":1`, `"ts":"2026-11-26T16:30:58Z"`, `"mta":"postfix"`, `"queue_id":"4ABC"`, `"status":"bounced"`,
		`"reply_code":550`, `"client_ip":""`, `"sasl_user":"acme"`, `"message_id":""`, `"size":1234`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("encoded event lacks %s: %s", field, b)
		}
	}
	if strings.Contains(string(b), `"subject"`) {
		t.Errorf("empty subject should be omitted: %s", b)
	}
	got, err := UnmarshalEvent(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.Sender != e.Sender || !got.TS.Equal(e.TS) || got.Status != e.Status || got.Account() != "acme" {
		t.Errorf("round trip: got %+v", got)
	}
}

func TestEventRejects(t *testing.T) {
	cases := map[string]string{
		"newline in sender": `{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":"a@b\nc REJECT"}`,
		"NUL in recipient":  `{"ts":"2026-01-01T00:00:00Z","status":"sent","recipient":"a\u0000@b"}`,
		"space":             `{"ts":"2026-01-01T00:00:00Z","status":"sent","recipient":"a b@c"}`,
		"overlong":          `{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":"` + strings.Repeat("a", 400) + `"}`,
		"bad status":        `{"ts":"2026-01-01T00:00:00Z","status":"lost"}`,
		"no ts":             `{"status":"sent"}`,
		"not json":          `{"ts":`,
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := UnmarshalEvent([]byte(in))
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("got %v, want ErrInvalid", err)
			}
		})
	}
	_, err := UnmarshalEvent([]byte(`{"v":2,"ts":"2026-01-01T00:00:00Z","status":"sent"}`))
	if !errors.Is(err, ErrUnsupportedVersion) {
		t.Errorf("v2: got %v, want ErrUnsupportedVersion", err)
	}
}

func TestBanRoundTrip(t *testing.T) {
	b := &Ban{Verdict: Verdict{
		ID: "x", TS: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Rule: "invalid_recipients",
		SubjectKind: KindSender, Subject: "Root@Localhost", Action: ActionBan, Message: "blocked",
		Evidence: map[string]float64{"attempts": 30, "ratio": 0.8},
		Expires:  OptTime{time.Date(2026, 1, 2, 0, 0, 0, 0, time.UTC)},
	}, Source: "rule", Level: 1}
	enc, err := MarshalBan(b)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(enc), `"expires":"2026-01-02T00:00:00Z"`) || !strings.Contains(string(enc), `"subject_kind":"sender"`) {
		t.Errorf("encoded ban: %s", enc)
	}
	got, err := UnmarshalBan(enc)
	if err != nil {
		t.Fatal(err)
	}
	if got.Key() != "sender:root@localhost" || got.Evidence["attempts"] != 30 || got.Level != 1 {
		t.Errorf("round trip: %+v", got)
	}
	if !got.Active(time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)) || got.Active(time.Date(2026, 1, 3, 0, 0, 0, 0, time.UTC)) {
		t.Error("Active ignores expiry")
	}
	b.Expires = OptTime{}
	enc, _ = MarshalBan(b)
	if !strings.Contains(string(enc), `"expires":""`) {
		t.Errorf("no expiry should encode as empty string: %s", enc)
	}
	b.Message = "two\nlines"
	if _, err := UnmarshalBan(mustBan(t, b)); !errors.Is(err, ErrInvalid) {
		t.Errorf("multi-line message accepted: %v", err)
	}
}

func mustBan(t *testing.T, b *Ban) []byte {
	t.Helper()
	enc, err := MarshalBan(b)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

func FuzzUnmarshalBan(f *testing.F) {
	f.Add([]byte(`{"rule":"r","subject_kind":"sender","subject":"a@b","action":"ban","message":"m","expires":""}`))
	f.Add([]byte(`{"subject":"a\nb"}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := UnmarshalBan(in)
		if err != nil {
			return
		}
		if CheckToken(b.Subject) != nil || strings.ContainsAny(b.Message, "\r\n\x00") {
			t.Fatalf("accepted hostile ban %+v", b)
		}
	})
}
