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

// A container line split across a checkpoint: the head saved with
// PartialLine and restored into a new Parser joins the last record.
func TestPartialLineRestore(t *testing.T) {
	line := "Nov 26 17:30:58 relay1 postfix/local[13410]: C589E3780: to=<ops@relay1.example>, relay=local, delay=0.07, delays=0.03/0.01/0/0.03, dsn=2.0.0, status=sent (delivered to mailbox)"
	p := newTestParser(t, Options{})
	if _, err := feedAll(t, p, "2026-11-26T17:30:58.1Z stdout P "+line[:50]); err != nil {
		t.Fatal(err)
	}
	saved := p.PartialLine()
	if saved != line[:50] {
		t.Fatalf("PartialLine %q", saved)
	}
	q := newTestParser(t, Options{})
	q.SetPartialLine(saved)
	evs, err := feedAll(t, q, "2026-11-26T17:30:58.2Z stdout F "+line[50:])
	if err != nil || len(evs) != 1 || evs[0].Recipient != "ops@relay1.example" {
		t.Fatalf("%d events, %v", len(evs), err)
	}
	if q.PartialLine() != "" {
		t.Errorf("partial line left: %q", q.PartialLine())
	}
}
