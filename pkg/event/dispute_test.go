package event

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func validDispute() *Dispute {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	return &Dispute{ID: "d-20261201-abcdef", TS: now, Filed: now, Subject: "a@x.example", Bans: []string{"sender:a@x.example"},
		Rules: []string{"invalid_recipients"}, Contact: "me@x.example", Message: "We fixed it.\nThanks.", Status: DisputeOpen}
}

func TestDisputeRoundTrip(t *testing.T) {
	d := validDispute()
	b, err := MarshalDispute(d)
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnmarshalDispute(b)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != d.ID || got.Message != d.Message || !got.Filed.Equal(d.Filed) || got.V != SchemaVersion {
		t.Fatalf("round trip: %+v", got)
	}
}

func TestDisputeValidate(t *testing.T) {
	for name, mod := range map[string]func(*Dispute){
		"id":           func(d *Dispute) { d.ID = "D/../x" },
		"subject":      func(d *Dispute) { d.Subject = "a b@x.example" },
		"contact":      func(d *Dispute) { d.Contact = "nobody" },
		"long message": func(d *Dispute) { d.Message = strings.Repeat("x", MaxDisputeMessage+1) },
		"bidi":         func(d *Dispute) { d.Message = "ok\u202etxt" },
		"nul":          func(d *Dispute) { d.Message = "a\x00" },
		"blank":        func(d *Dispute) { d.Message = " \n " },
		"status":       func(d *Dispute) { d.Status = "pending" },
		"note":         func(d *Dispute) { d.Note = "a\nb" },
		"bans":         func(d *Dispute) { d.Bans = make([]string, MaxDisputeBans+1) },
	} {
		d := validDispute()
		mod(d)
		if err := d.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if _, err := UnmarshalDispute([]byte("{")); !errors.Is(err, ErrDecode) {
		t.Errorf("bad JSON: %v", err)
	}
}

func FuzzUnmarshalDispute(f *testing.F) {
	b, _ := MarshalDispute(validDispute())
	f.Add(b)
	f.Add([]byte(`{"id":"x","message":"<script>"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, err := UnmarshalDispute(data)
		if err != nil {
			return
		}
		if err := d.Validate(); err != nil {
			t.Fatalf("decoded dispute does not validate: %v", err)
		}
		again, err := MarshalDispute(d)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := UnmarshalDispute(again); err != nil {
			t.Fatalf("re-encoded dispute refused: %v", err)
		}
	})
}
