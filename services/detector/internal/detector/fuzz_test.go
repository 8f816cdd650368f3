package detector

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/rules"
)

// hostileRecords are event records an attacker or a broken producer could
// write: each is refused with a known reason, or processed harmlessly.
var hostileRecords = []string{
	`{"v":99,"id":"h1","ts":"2025-03-03T09:00:00Z","sender":"a@b.example","status":"sent"}`,
	`{"v":1,"id":"h2","ts":"2025-03-03T09:00:00Z","sender":"a@b.example\nREJECT","status":"bounced","reason":"user_unknown"}`,
	`{"v":1,"id":"h3","ts":"2025-03-03T09:00:00Z","sender":"a\u0000@b.example","status":"bounced","reason":"user_unknown"}`,
	`{"v":1,"id":"h4","ts":"2025-03-03T09:00:00Z","sender":"a@b.example","status":"sent","subject":"<script>alert(1)</script>\r\nBcc: x@y\u202e` + strings.Repeat("A", 70000) + `"}`,
	`{"v":1,"id":"h5","ts":"0001-01-01T00:00:01Z","sender":"a@b.example","status":"sent"}`,
	`{"v":1,"id":"h6","ts":"9999-12-31T23:59:59Z","sender":"a@b.example","status":"sent"}`,
	`{"v":1,"id":"h7","ts":"1999-01-01T00:00:00Z","sender":"old@b.example","status":"bounced","reason":"user_unknown"}`,
	`{"v":1,"id":"h8","ts":"2025-03-03T09:00:00Z","sender":"` + strings.Repeat("x", 400) + `@b.example","status":"sent"}`,
	`{"v":1,"id":"h9","ts":"2025-03-03T09:00:00Z","sender":"a@b.example","status":"lost"}`,
	`{"v":1,"id":"h10","ts":"2025-03-03T09:00:00Z","sender":"a@b.example","recipient":"\u00ff\u0301@x","status":"bounced","reason":"no_such_reason"}`,
	`not json at all`,
	`{"v":1,"ts":"2025-03-03T09:00:00Z","sender":"dup@b.example","status":"sent","id":"same"}`,
}

// FuzzEventRecord drives one event record the way `detector run` does:
// decode (event.UnmarshalEvent), process twice (a redelivery), flush the
// changelog and restore it. It must never panic; a refused record maps to
// one of the rejection reasons; every verdict validates; the changelog
// restores without discarding anything.
func FuzzEventRecord(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(scenarioRoot, "*", "*", "events.jsonl"))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for i, l := range lines(b) {
			if i%7 == 0 {
				f.Add(l)
			}
		}
	}
	for _, r := range hostileRecords {
		f.Add([]byte(r))
	}
	cfg := Default()
	cfg.Rules.InvalidRecipients.MinAttempts, cfg.Rules.InvalidRecipients.MinUnknown = 1, 1
	reasons := []string{ReasonDecode, ReasonInvalid, ReasonVersion, ReasonFuture, ReasonLate}
	f.Fuzz(func(t *testing.T, rec []byte) {
		p, err := NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow, Persist: true})
		if err != nil {
			t.Fatal(err)
		}
		// A first event moves the watermark, so "late" can happen too.
		var out Output
		if _, err := p.Process(&event.DeliveryEvent{ID: "w", TS: at(0), Sender: "w@x.example", Status: event.StatusSent}, &out); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			ev, err := event.UnmarshalEvent(rec)
			if err == nil {
				_, err = p.Process(ev, &out)
			}
			if err != nil {
				if r := classify(err); !slices.Contains(reasons, r) {
					t.Fatalf("reason %q for %v", r, err)
				}
				return
			}
		}
		for i := range out.Verdicts {
			b, err := event.MarshalVerdict(&out.Verdicts[i])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := event.UnmarshalVerdict(b); err != nil || bytes.ContainsAny(b, "\n\r") {
				t.Fatalf("verdict does not round-trip: %v\n%s", err, b)
			}
		}
		var log compacted
		p.Flush(log.emit)
		q, err := NewProcessor(cfg, rules.StageSender, Options{Now: fixedNow, Persist: true})
		if err != nil {
			t.Fatal(err)
		}
		st := log.restore(t, q)
		want := 0
		for _, tb := range p.Tables() {
			want += tb.Keys
		}
		if st.Keys != want {
			t.Fatalf("restored %d keys, want %d", st.Keys, want)
		}
	})
}
