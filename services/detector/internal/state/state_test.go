package state

import (
	"fmt"
	"testing"
	"time"
)

var t0 = time.Date(2025, 3, 3, 9, 0, 0, 0, time.UTC)

func at(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }

func table(t *testing.T, decl func(l *Layout)) *Table {
	t.Helper()
	l, err := NewLayout(5 * time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	decl(l)
	return NewTable(l, true)
}

func TestLayoutRing(t *testing.T) {
	l, _ := NewLayout(5 * time.Minute)
	for _, tt := range []struct {
		w     time.Duration
		k, nb int64
		ok    bool
	}{
		{time.Hour, 1, 12, true}, {24 * time.Hour, 24, 12, true}, {35 * time.Minute, 1, 7, true},
		{65 * time.Minute, 13, 1, true}, {7 * 24 * time.Hour, 168, 12, true},
		{61 * time.Second, 0, 0, false}, {0, 0, 0, false},
	} {
		k, nb, err := l.shape(tt.w)
		if (err == nil) != tt.ok || k != tt.k || nb != tt.nb {
			t.Errorf("%s: k %d nb %d err %v", tt.w, k, nb, err)
		}
	}
}

func TestCountersWindow(t *testing.T) {
	var c Counters
	tb := table(t, func(l *Layout) { c, _ = l.Counters(time.Hour, 2) })
	sums := make([]uint64, 2)
	for m := 0.0; m < 120; m += 1 {
		r, ok := tb.Touch("a", at(m))
		if !ok {
			t.Fatalf("minute %v late", m)
		}
		r.Add(c, 0, 1)
		if int(m)%10 == 0 {
			r.Add(c, 1, 1)
		}
		r.Sums(c, sums)
		// The window holds the current 5m bucket and the 11 before.
		start := float64(int(m)/5*5) - 55
		want := m - max(start, 0) + 1
		if sums[0] != uint64(want) {
			t.Fatalf("minute %v: sum %d, want %v", m, sums[0], want)
		}
	}
	// Out of order within the window counts in its own bucket; older is refused.
	r, _ := tb.Touch("a", at(100))
	if !r.Add(c, 0, 1) {
		t.Fatal("in-window event refused")
	}
	if _, ok := tb.Touch("a", at(0)); ok {
		t.Fatal("an event two hours old was not late for the table")
	}
	// Idle for the window: evicted.
	tb.Advance(at(240))
	if tb.Len() != 0 || tb.Stats().Evicted != 1 {
		t.Fatalf("stats %+v", tb.Stats())
	}
}

func TestDistinctUpgrade(t *testing.T) {
	var d Distinct
	tb := table(t, func(l *Layout) { d, _ = l.Distinct(time.Hour) })
	for i := range 5000 {
		r, _ := tb.Touch("a", at(float64(i)/100))
		r.AddDistinct(d, Hash(fmt.Sprint("rcpt", i%2000)))
	}
	r, _ := tb.Lookup("a")
	if n := r.Distinct(d); n < 1900 || n > 2100 {
		t.Fatalf("distinct %d, want about 2000", n)
	}
	// Small sets are exact, repeats and out-of-order included.
	for i := range 30 {
		r, _ := tb.Touch("b", at(50-float64(i)))
		r.AddDistinct(d, Hash(fmt.Sprint(i%20)))
	}
	r, _ = tb.Lookup("b")
	if n := r.Distinct(d); n != 20 {
		t.Fatalf("distinct %d, want 20", n)
	}
	// Values leave with their window.
	r, _ = tb.Touch("b", at(50+61))
	if n := r.Distinct(d); n != 0 {
		t.Fatalf("distinct after the window %d", n)
	}
}

func TestFingerprints(t *testing.T) {
	if a, b := Fingerprint("Invoice 4711 from 2026-03-01 for host7.example.com"), Fingerprint("invoice 4712 from 2026-03-02 for host9.example.net"); a != b {
		t.Fatal("templated subjects differ")
	}
	if Fingerprint("Cron <root@web1> /usr/bin/backup") == Fingerprint("Cron <root@web1> /usr/bin/cleanup") {
		t.Fatal("different commands fold together")
	}
	if got := NormalizeSubject("  Your  order #A1B2C3 to bob@x.example  "); got != "your order # to @" {
		t.Fatalf("normalised %q", got)
	}
	var f Fingerprints
	tb := table(t, func(l *Layout) { f, _ = l.Fingerprints(time.Hour, 2) })
	var n uint32
	for i := range 10 {
		r, _ := tb.Touch("a", at(float64(i)))
		n = r.AddFingerprint(f, Fingerprint(fmt.Sprint("Alert ", i)))
		r.AddFingerprint(f, Fingerprint(fmt.Sprint("other", i%3, "x y z"[i%3:])))
	}
	r, _ := tb.Lookup("a")
	if fp, c := r.TopFingerprint(f); n != 10 || c != 10 || fp != Fingerprint("Alert 1") {
		t.Fatalf("count %d top %x %d", n, fp, c)
	}
}

func TestRegularityAndMark(t *testing.T) {
	var g Regularity
	var m Mark
	tb := table(t, func(l *Layout) { g, _ = l.Regularity(time.Hour); m, _ = l.Mark(time.Hour) })
	var gaps Gaps
	for i := range 30 {
		r, _ := tb.Touch("cron", at(float64(i)))
		gaps = r.Arrive(g)
		r.MarkFirst(m, fmt.Sprint("id", i))
	}
	if gaps.N != 29 || gaps.Mean != 60 || gaps.CV != 0 {
		t.Fatalf("gaps %+v", gaps)
	}
	r, _ := tb.Lookup("cron")
	if r.First(m) != "id0" {
		t.Fatalf("first %q", r.First(m))
	}
	// A gap longer than the window starts afresh; so does the mark.
	r, _ = tb.Touch("cron", at(200))
	if gaps = r.Arrive(g); gaps.N != 0 || r.First(m) != "" || r.MarkFirst(m, "new") != "new" {
		t.Fatalf("after a long gap: %+v first %q", gaps, r.First(m))
	}
}
