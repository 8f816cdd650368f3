package parse

import (
	"encoding/json"
	"reflect"
	"testing"
)

// A restart between the early lines of a message and its delivery lines
// must give the same events as one uninterrupted parse.
func TestSnapshotRestore(t *testing.T) {
	rest := []string{
		pfx + "smtp[4]: 3F1A2B4C5D: to=<b1@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=4.7.0, status=deferred (host mx[198.51.100.2] said: 421 4.7.0 try later (in reply to MAIL FROM command))",
		pfx + "smtp[4]: 3F1A2B4C5D: to=<b1@example.net>, relay=mx[198.51.100.2]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
		pfx + "qmgr[3]: 3F1A2B4C5D: removed",
	}
	whole := newTestParser(t, Options{})
	want, err := feedAll(t, whole, append(append([]string{}, preamble...), rest...)...)
	if err != nil {
		t.Fatal(err)
	}

	first := newTestParser(t, Options{})
	if _, err := feedAll(t, first, preamble...); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(first.Snapshot())
	if err != nil {
		t.Fatal(err)
	}
	var saved []PendingMessage
	if err := json.Unmarshal(b, &saved); err != nil {
		t.Fatal(err)
	}
	second := newTestParser(t, Options{})
	if err := second.Restore(saved); err != nil {
		t.Fatal(err)
	}
	if second.Pending() != 1 {
		t.Fatalf("pending after restore: %d", second.Pending())
	}
	// Ids differ by construction of feedAll (l1, l2...): compare the rest.
	got, err := feedAll(t, second, rest...)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("%d events after restore, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := *got[i], *want[i]
		g.ID, w.ID = "", ""
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d after restore:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if second.Pending() != 0 {
		t.Errorf("pending after removed: %d", second.Pending())
	}
	if err := newTestParser(t, Options{}).Restore([]PendingMessage{{Host: "mx", QueueID: "A", Sender: "a\nb@c"}}); err == nil {
		t.Error("hostile saved sender accepted")
	}
}
