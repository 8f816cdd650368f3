package event

import (
	"bufio"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"testing"
)

// TestOutcomeCodec: for every event of the real sample, AppendOutcome
// writes json.Marshal's bytes and DecodeOutcome gives back the outcome's
// fields.
func TestOutcomeCodec(t *testing.T) {
	f, err := os.Open("testdata/events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	n := 0
	for sc.Scan() {
		ev, err := UnmarshalEvent(sc.Bytes())
		if err != nil {
			continue
		}
		o, ok := OutcomeOf(ev)
		if !ok {
			if ev.Recipient != "" {
				t.Fatalf("event with recipient %q has no outcome", ev.Recipient)
			}
			continue
		}
		n++
		got := AppendOutcome(nil, &o)
		c := o
		c.TS = c.TS.UTC()
		want, err := json.Marshal(&c)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Fatalf("AppendOutcome:\n got %s\nwant %s", got, want)
		}
		var back DeliveryEvent
		if err := DecodeOutcome(got, &back); err != nil {
			t.Fatalf("DecodeOutcome(%s): %v", got, err)
		}
		exp := o.Event()
		exp.TS = exp.TS.UTC()
		back.TS = back.TS.UTC()
		if !reflect.DeepEqual(&back, exp) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", back, *exp)
		}
		if OutcomeKey(&o) != Domain(NormalizeAddress(o.Recipient)) {
			t.Fatalf("key %q for %q", OutcomeKey(&o), o.Recipient)
		}
	}
	if n < 50 {
		t.Fatalf("only %d outcomes in the sample", n)
	}
}

func TestDecodeOutcomeRefusesNoRecipient(t *testing.T) {
	var e DeliveryEvent
	err := DecodeOutcome([]byte(`{"v":1,"id":"x","ts":"2026-01-01T00:00:00Z","status":"sent"}`), &e)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v, want ErrInvalid", err)
	}
}

func FuzzDecodeOutcome(f *testing.F) {
	o := Outcome{ID: "a", Recipient: "b@c.example", Status: StatusSent}
	f.Add(AppendOutcome(nil, &o))
	f.Add([]byte(`{"recipient":"x@y","status":"bounced","ts":"2026-01-01T00:00:00Z"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var e DeliveryEvent
		if err := DecodeOutcome(b, &e); err != nil {
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrUnsupportedVersion) {
				t.Fatalf("error %v wraps neither ErrInvalid nor ErrUnsupportedVersion", err)
			}
			return
		}
		if e.Recipient == "" || e.Validate() != nil {
			t.Fatalf("accepted %q", b)
		}
	})
}
