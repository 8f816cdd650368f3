// Package bansettest holds the benchmark ban set shared by the enforcer's
// benchmarks (ban set memory, snapshot load, policy server).
package bansettest

import (
	"strconv"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

// BenchBans is the ban set size of the benchmarks (DESIGN.md: 1 M active bans).
const BenchBans = 1_000_000

// BenchBan returns the i-th benchmark ban: a rule ban as the detector
// makes them (a sender, a one-line message, six evidence numbers, an
// expiry), every tenth one on a sender domain and every tenth on a recipient.
func BenchBan(i int, now time.Time) *event.Ban {
	kind, subject := event.KindSender, "user"+strconv.Itoa(i)+"@customer"+strconv.Itoa(i%5000)+".example"
	switch i % 10 {
	case 3:
		kind, subject = event.KindSenderDomain, "spam"+strconv.Itoa(i)+".example"
	case 7:
		kind, subject = event.KindRecipient, "victim"+strconv.Itoa(i)+"@gmail.example"
	}
	return &event.Ban{Verdict: event.Verdict{
		ID: "v-" + strconv.Itoa(i), TS: now, Rule: "invalid_recipients", SubjectKind: kind, Subject: subject,
		Action: event.ActionBan, Message: "5.7.1 Your sending address has been blocked by admins: too many invalid recipients. Open a ticket at https://support.example/abuse",
		Evidence: map[string]float64{"attempts": 40, "user_unknown": 30, "ratio": 0.75, "threshold_ratio": 0.5, "min_attempts": 20, "window_seconds": 3600},
		Expires:  event.OptTime{Time: now.Add(24 * time.Hour)}, WindowStart: now.Add(-time.Hour), WindowEnd: now,
		FirstEventID: "mx1:1-2:300", LastEventID: "mx1:1-2:900",
	}, Source: "rule", Level: 1}
}

// Fill puts n benchmark bans into s.
func Fill(s *banset.Set, n int, now time.Time) {
	for i := range n {
		s.Put(BenchBan(i, now))
	}
}
