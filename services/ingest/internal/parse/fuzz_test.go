package parse

import (
	"bytes"
	"errors"
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
		idb := []byte("f:" + itoa(i))
		err := p.Feed(l, view(idb), emit)
		for k := range idb {
			idb[k] = 'Z' // and its id buffer
		}
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) {
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
	if len(p.splits) > maxSplits {
		t.Fatalf("%d split lines in flight > %d", len(p.splits), maxSplits)
	}
	for _, s := range p.splits {
		if len(s.buf) > 2048 {
			t.Fatalf("split line of %d bytes held > MaxLineLen", len(s.buf))
		}
	}
	p.Expire(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), emit)
	if p.Pending() != 0 || len(p.splits) != 0 {
		t.Fatalf("pending %d, split lines %d after final Expire", p.Pending(), len(p.splits))
	}
}

func FuzzPostfix(f *testing.F) {
	seedFuzz(f, "postfix")
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLines(t, data, FormatPostfix) })
}

func FuzzExim(f *testing.F) {
	seedFuzz(f, "exim") // syslog-split.log: lines split for syslog, see eximSyslogParts
	// Whole split lines (seedFuzz pairs only consecutive lines): a
	// rejection after DATA with the reject log's copy, and two processes
	// interleaving their parts.
	var b strings.Builder
	for _, text := range []string{eximLong0214 + "\n", eximLong0214 + "\nEnvelope-from: <x@y.x>\nP Received: from [127.0.0.1] (helo=test)\n\tby myhost.test.ex\n"} {
		for _, part := range eximSyslogParts(text, maxSplitLen) {
			b.WriteString("Mar  2 09:44:33 mx exim[6001]: " + part + "\n")
		}
	}
	f.Add([]byte(b.String()))
	a, c := eximSyslogParts(eximLong4130+"\n", maxSplitLen), eximSyslogParts(eximLong0214+"\n", maxSplitLen)
	f.Add([]byte("2026-03-02 09:44:33 mx exim4[1]: " + a[0] + "\n2026-03-02 09:44:33 mx exim4[2]: " + c[0] +
		"\n2026-03-02 09:44:33 mx exim4[1]: " + a[1] + "\n2026-03-02 09:44:33 mx exim4[2]: " + c[1]))
	f.Fuzz(func(t *testing.T, data []byte) { fuzzLines(t, data, FormatExim) })
}
