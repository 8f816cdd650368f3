package demo

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/ingest/internal/parse"
)

// The demo log must be real Postfix syntax: every line parses, and the
// abusive sender's bounces are classified as user unknown.
func TestDemoLogParses(t *testing.T) {
	var buf bytes.Buffer
	if err := Run(context.Background(), &buf, Options{Rate: 2000, Duration: 150 * time.Millisecond, AbuseAfter: time.Millisecond, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	p, err := parse.New(parse.Options{Format: "postfix", Host: "mx1", Now: time.Now})
	if err != nil {
		t.Fatal(err)
	}
	var evs []*event.DeliveryEvent
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	for i, l := range lines {
		if err := p.Feed([]byte(l), "demo:"+string(rune('a'+i%26)), func(e *event.DeliveryEvent) { evs = append(evs, e) }); err != nil {
			t.Fatalf("line %d does not parse: %v\n%s", i+1, err, l)
		}
	}
	abuse, unknown, normal := 0, 0, 0
	for _, e := range evs {
		if e.Sender == "newsletter@cheap-leads.example" {
			abuse++
			if e.Reason == "user_unknown" && e.Status == event.StatusBounced {
				unknown++
			}
		} else if e.Sender != "" {
			normal++
		}
	}
	if len(lines) < 50 || abuse == 0 || normal == 0 || unknown*2 < abuse {
		t.Errorf("%d lines, %d events: %d from the abuser (%d user unknown), %d normal", len(lines), len(evs), abuse, unknown, normal)
	}
	if p.Pending() != 0 {
		t.Errorf("%d messages left half-joined: every demo message ends with qmgr removed", p.Pending())
	}
}
