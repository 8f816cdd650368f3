package parse

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// seedFuzz adds every line of testdata/<dir>/*.log, and pairs of
// consecutive lines (so the fuzzer starts from joined messages).
func seedFuzz(f *testing.F, dir string) {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.log"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds in testdata/%s: %v", dir, err)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		for i, l := range lines {
			f.Add([]byte(l))
			if i > 0 {
				f.Add([]byte(lines[i-1] + "\n" + l))
			}
		}
	}
}

const fuzzMaxPending = 8

// fuzzLines feeds up to 16 newline-separated lines through one parser
// with small limits and checks the invariants: no panic, every event
// valid, pending bounded, every line counted once, nothing retained from
// the caller's buffers, and the join state emptied by a final Expire.
func fuzzLines(t *testing.T, data []byte, format string) {
	p, err := New(Options{
		Format: format, Host: "fuzz", MaxPending: fuzzMaxPending, MaxLineLen: 2048,
		Now: func() time.Time { return time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC) },
	})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.DeliveryEvent
	var encoded [][]byte
	emit := func(e *event.DeliveryEvent) {
		if err := e.Validate(); err != nil {
			t.Fatalf("invalid event %+v: %v", e, err)
		}
		if !e.Status.Valid() || e.MTA == "" {
			t.Fatalf("event without status or MTA: %+v", e)
		}
		b, err := event.MarshalEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		evs, encoded = append(evs, e), append(encoded, b)
	}
	lines := bytes.SplitN(data, []byte("\n"), 16)
	for i, l := range lines {
		err := p.Feed(l, "f:"+itoa(i), emit)
		if err != nil {
			if _, ok := err.(*LineError); !ok {
				t.Fatalf("Feed returned %T %v, want *LineError", err, err)
			}
		}
		if p.Pending() > fuzzMaxPending {
			t.Fatalf("pending %d > MaxPending %d", p.Pending(), fuzzMaxPending)
		}
		for k := range l {
			l[k] = 0xAA // the caller reuses its buffer
		}
	}
	var counted uint64
	for k, v := range p.Stats() {
		if isLineKind(k) {
			counted += v
		}
	}
	if counted != uint64(len(lines)) {
		t.Fatalf("%d lines, %d counted", len(lines), counted)
	}
	for i, e := range evs {
		b, _ := event.MarshalEvent(e)
		if !bytes.Equal(b, encoded[i]) {
			t.Fatalf("event changed after its line's buffer was reused:\n%s\n%s", encoded[i], b)
		}
	}
	p.Expire(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), emit)
	if p.Pending() != 0 {
		t.Fatalf("pending %d after final Expire", p.Pending())
	}
}

func FuzzPostfix(f *testing.F) {
	seedFuzz(f, "postfix")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLines(t, data, FormatPostfix) })
}

func FuzzExim(f *testing.F) {
	seedFuzz(f, "exim")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLines(t, data, FormatExim) })
}
