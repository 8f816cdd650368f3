package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestCodecHeaders: the logged headers go out as encoding/json writes
// them (omitted when empty) and come back through DecodeEvent.
func TestCodecHeaders(t *testing.T) {
	base := DeliveryEvent{V: SchemaVersion, ID: "h:1", TS: time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC), MTA: "postfix",
		Sender: "news@shop.example", Recipient: "a@b.example", Status: StatusSent, Subject: "March"}
	for _, hs := range [][]string{nil, {}, {"List-Unsubscribe: <https://shop.example/u?x=1&y=<2>>"},
		{"List-Unsubscribe-Post: List-Unsubscribe=One-Click", "Precedence: bulk", "X-Mailer: PHPlist v3.6 \u2028\"q\""}} {
		e := base
		e.Headers = hs
		got := AppendEvent(nil, &e)
		want, err := json.Marshal(&e)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("AppendEvent:\n%s\nwant\n%s", got, want)
		}
		var back DeliveryEvent
		if err := DecodeEvent(got, &back); err != nil {
			t.Fatal(err)
		}
		if len(hs) == 0 {
			e.Headers = nil
		}
		if !reflect.DeepEqual(back, e) {
			t.Errorf("DecodeEvent: %+v, want %+v", back, e)
		}
	}
	e := base
	for range MaxHeaders + 1 {
		e.Headers = append(e.Headers, "Precedence: bulk")
	}
	if err := e.Validate(); err == nil {
		t.Error("too many headers validated")
	}
}
