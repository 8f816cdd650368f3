package mta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// conformanceCase is one writer under the shared suite.
type conformanceCase struct {
	name   string
	format Format
	side   Side
	// parse reads the file as the MTA would.
	parse func([]byte) (map[string]string, error)
	// value is the value the MTA must find for a ban with message msg.
	value func(msg string) string
}

func conformanceCases() []conformanceCase {
	var out []conformanceCase
	for _, side := range []Side{SideSender, SideRecipient} {
		out = append(out,
			conformanceCase{"postfix-access/" + string(side), Postfix, side, parsePostfix,
				func(msg string) string { return "REJECT " + SanitizeMessage(msg) }},
			conformanceCase{"exim/" + string(side), Exim, side, parseExim,
				func(msg string) string { return SanitizeMessage(msg) }},
			conformanceCase{"exim-list/" + string(side), EximList, side, parseEximList,
				func(msg string) string { return SanitizeMessage(msg) }},
		)
	}
	return out
}

func mkBan(kind event.SubjectKind, subject, msg string) event.Ban {
	return event.Ban{Verdict: event.Verdict{
		Rule: "invalid_recipients", SubjectKind: kind, Subject: subject,
		Action: event.ActionBan, Message: msg, TS: t0,
	}, Source: "rule", Level: 1}
}

// sideKinds returns the address and domain kind of side, and two kinds
// that never go to this side's map.
func sideKinds(side Side) (addr, domain event.SubjectKind, others []event.SubjectKind) {
	addr, domain = side.kinds()
	if side == SideSender {
		return addr, domain, []event.SubjectKind{event.KindRecipient, event.KindRecipientDomain, event.KindAccount, event.KindClientIP}
	}
	return addr, domain, []event.SubjectKind{event.KindSender, event.KindSenderDomain, event.KindAccount, event.KindClientIP}
}

func snap(bans ...event.Ban) banset.Snapshot { return banset.Snapshot{At: t0, Bans: ptrs(bans)} }

func ptrs(bans []event.Ban) []*event.Ban {
	out := make([]*event.Ban, len(bans))
	for i := range bans {
		out[i] = &bans[i]
	}
	return out
}

type harness struct {
	t    *testing.T
	tc   conformanceCase
	dir  string
	path string
	reg  *prometheus.Registry
	m    *Metrics
}

func newHarness(t *testing.T, tc conformanceCase) *harness {
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	return &harness{t: t, tc: tc, dir: dir, path: filepath.Join(dir, "map"), reg: reg, m: NewMetrics(reg)}
}

func (h *harness) writer(command ...string) *FileWriter {
	h.t.Helper()
	w := NewFileWriter(FileConfig{Format: h.tc.format, Side: h.tc.side, Path: h.path, Command: command},
		slog.New(slog.DiscardHandler), h.m)
	if err := w.Connect(context.Background()); err != nil {
		h.t.Fatalf("connect: %v", err)
	}
	return w
}

func (h *harness) write(w *FileWriter, s banset.Snapshot) {
	h.t.Helper()
	if err := w.Write(context.Background(), s); err != nil {
		h.t.Fatalf("write: %v", err)
	}
}

func (h *harness) read() map[string]string {
	h.t.Helper()
	b, err := os.ReadFile(h.path)
	if err != nil {
		h.t.Fatal(err)
	}
	m, err := h.tc.parse(b)
	if err != nil {
		h.t.Fatalf("parse %s: %v\n%s", h.path, err, b)
	}
	return m
}

func (h *harness) writes(result string) float64 {
	return testutil.ToFloat64(h.m.writes.WithLabelValues(h.tc.format.Name(), result))
}

func TestConformance(t *testing.T) {
	for _, tc := range conformanceCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Run("Write", func(t *testing.T) { testWrite(t, tc) })
			t.Run("NotConnected", func(t *testing.T) { testNotConnected(t, tc) })
			t.Run("RewriteOnChange", func(t *testing.T) { testRewriteOnChange(t, tc) })
			t.Run("Atomic", func(t *testing.T) { testAtomic(t, tc) })
			t.Run("Hostile", func(t *testing.T) { testHostile(t, tc) })
			t.Run("Deterministic", func(t *testing.T) { testDeterministic(t, tc) })
			t.Run("Messages", func(t *testing.T) { testMessages(t, tc) })
			t.Run("Command", func(t *testing.T) { testCommand(t, tc) })
		})
	}
}

func testWrite(t *testing.T, tc conformanceCase) {
	h := newHarness(t, tc)
	addr, domain, others := sideKinds(tc.side)
	bans := []event.Ban{
		mkBan(addr, "Root@Localhost", "Your sending address has been blocked by admins"),
		mkBan(domain, "Spam.Example", "domain blocked"),
		mkBan(addr, "user+tag@mail.example.org", "tagged"),
	}
	for _, k := range others {
		bans = append(bans, mkBan(k, "other@other.example", "not here"))
	}
	w := h.writer()
	h.write(w, snap(bans...))
	got := h.read()
	want := map[string]string{
		"root@localhost":            tc.value("Your sending address has been blocked by admins"),
		"spam.example":              tc.value("domain blocked"),
		"user+tag@mail.example.org": tc.value("tagged"),
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("entries:\n got %v\nwant %v", got, want)
	}
	if h.writes(ResultWritten) != 1 {
		t.Fatalf("written = %v", h.writes(ResultWritten))
	}
	// An empty set still yields a valid (comment-only) file.
	h.write(w, snap())
	if got := h.read(); len(got) != 0 {
		t.Fatalf("empty set: %v", got)
	}
}

func testNotConnected(t *testing.T, tc conformanceCase) {
	h := newHarness(t, tc)
	w := NewFileWriter(FileConfig{Format: tc.format, Side: tc.side, Path: h.path}, slog.New(slog.DiscardHandler), h.m)
	if err := w.Write(context.Background(), snap()); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("write before connect: %v", err)
	}
	if err := w.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(context.Background(), snap()); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("write after close: %v", err)
	}
	// Connect fails clearly when the directory cannot be made.
	blocker := filepath.Join(h.dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	w = NewFileWriter(FileConfig{Format: tc.format, Side: tc.side, Path: filepath.Join(blocker, "map")}, slog.New(slog.DiscardHandler), h.m)
	if err := w.Connect(context.Background()); err == nil {
		t.Fatal("connect under a file succeeded")
	}
}

func testRewriteOnChange(t *testing.T, tc conformanceCase) {
	h := newHarness(t, tc)
	addr, domain, _ := sideKinds(tc.side)
	a := snap(mkBan(addr, "a@x.example", "m"))
	b := snap(mkBan(addr, "a@x.example", "m"), mkBan(domain, "y.example", "n"))
	w := h.writer()
	h.write(w, a)
	st1, _ := os.Stat(h.path)
	h.write(w, a)
	st2, _ := os.Stat(h.path)
	if !os.SameFile(st1, st2) || h.writes(ResultUnchanged) != 1 {
		t.Fatalf("unchanged content was rewritten (unchanged=%v)", h.writes(ResultUnchanged))
	}
	h.write(w, b)
	if got := h.read(); len(got) != 2 || got["y.example"] != tc.value("n") {
		t.Fatalf("after change: %v", got)
	}
	h.write(w, a)
	if got := h.read(); len(got) != 1 {
		t.Fatalf("after lift: %v", got)
	}
	// A new writer (a restart) finds the file as it should be and leaves it.
	st3, _ := os.Stat(h.path)
	w2 := h.writer()
	h.write(w2, a)
	st4, _ := os.Stat(h.path)
	if !os.SameFile(st3, st4) {
		t.Fatal("restart rewrote an up-to-date file")
	}
	// ... and replaces a file that differs, e.g. edited by hand.
	if err := os.WriteFile(h.path, []byte("junk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w3 := h.writer()
	h.write(w3, a)
	if got := h.read(); len(got) != 1 || got["a@x.example"] != tc.value("m") {
		t.Fatalf("hand-edited file not replaced: %v", got)
	}
	if fi, err := os.Stat(h.path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode = %v, %v", fi.Mode(), err)
	}
}

// testAtomic rewrites a large file many times while readers read it: a
// reader must only ever see one of the complete versions.
func testAtomic(t *testing.T, tc conformanceCase) {
	h := newHarness(t, tc)
	addr, domain, _ := sideKinds(tc.side)
	versions := make([]banset.Snapshot, 3)
	for v := range versions {
		var bans []event.Ban
		for i := range 300 * (v + 1) {
			bans = append(bans, mkBan(addr, fmt.Sprintf("user%d-v%d@x.example", i, v), strings.Repeat("m", 100)))
			bans = append(bans, mkBan(domain, fmt.Sprintf("d%d-v%d.example", i, v), "domain"))
		}
		versions[v] = snap(bans...)
	}
	valid := map[string]bool{}
	for _, v := range versions {
		valid[string(tc.format.Render(v.Bans, nil, tc.side).Body)] = true
	}
	w := h.writer()
	h.write(w, versions[0])

	var stop atomic.Bool
	var reads, bad atomic.Int64
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				b, err := os.ReadFile(h.path)
				if err != nil {
					bad.Add(1)
					continue
				}
				reads.Add(1)
				if !valid[string(b)] {
					bad.Add(1)
				}
			}
		}()
	}
	for i := range 60 {
		h.write(w, versions[(i+1)%len(versions)])
	}
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d of %d reads saw a partial or missing file", bad.Load(), reads.Load())
	}
	left, _ := filepath.Glob(filepath.Join(h.dir, ".*tmp*"))
	if len(left) != 0 {
		t.Fatalf("temporary files left: %v", left)
	}
}

// hostileSubjects never produce a line: each would break a map format or
// inject an entry if written raw.
var hostileSubjects = []string{
	"evil@x.example\nroot@localhost REJECT",
	"evil@x.example\r\nother@y.example",
	"evil@x.example\x00",
	"evil@x.example root@localhost",
	"evil@x.example\tREJECT",
	"evil\u2028@x.example",
	"evil\u202e@x.example",
	"\xff\xfe@x.example",
	"evil@x.ex\xc3ample",
	strings.Repeat("a", MaxAddressLenForTest) + "@x.example",
	"# comment@x.example",
	"#evil@x.example",
	" leading@x.example",
	"@x.example",
	"evil@",
	"evil@.x.example",
	"evil@x..example",
	"evil@x.example.",
	`"quoted local"@x.example`,
	`"a"@x.example`,
	"a@b@x.example",
	"evil@x.example:",
	"evil@[1.2.3.4",
	"evil@[zz]",
	"",
}

// MaxAddressLenForTest makes the overlong subject exceed event.MaxAddressLen.
const MaxAddressLenForTest = event.MaxAddressLen

var hostileDomains = []string{
	"x.example\nroot@localhost",
	"x.example\r",
	"x.example\x00",
	"x .example",
	".x.example",
	"x.example.",
	"@x.example",
	"user@x.example",
	"#x.example",
	"x\u202e.example",
	"\xff.example",
	"x:y.example",
	`x"y.example`,
	strings.Repeat("d", 300) + ".example",
	"",
}

func testHostile(t *testing.T, tc conformanceCase) {
	h := newHarness(t, tc)
	addr, domain, _ := sideKinds(tc.side)
	valid := []event.Ban{
		mkBan(addr, "good@x.example", "good"),
		mkBan(domain, "good.example", "good domain"),
		// Odd but representable: Exim must quote these, Postfix can carry them.
		mkBan(addr, `odd\back@x.example`, "odd"),
		mkBan(addr, "o'brien@x.example", "apostrophe"),
		mkBan(domain, "[192.0.2.1]", "literal"),
		mkBan(domain, "bücher.example", "idn"),
	}
	wantKeys := map[string]bool{"good@x.example": true, "good.example": true, `odd\back@x.example`: true,
		"o'brien@x.example": true, "[192.0.2.1]": true, "bücher.example": true}
	if tc.format == Exim || tc.format == EximList {
		// ':' is quoted by the Exim writer, and Postfix has no use for it
		// in these kinds (no IPv6 keys), so only Exim gets this one.
		valid = append(valid, mkBan(domain, "[ipv6:2001:db8::1]", "v6 literal"), mkBan(addr, "a:b@x.example", "colon"))
		wantKeys["[ipv6:2001:db8::1]"] = true
		wantKeys["a:b@x.example"] = true
		// A valid address ('#' is atext) that Postfix cannot carry (it
		// would read as a comment) but a quoted lsearch key can.
		wantKeys["#evil@x.example"] = true
	}
	bans := append([]event.Ban(nil), valid...)
	for _, s := range hostileSubjects {
		bans = append(bans, mkBan(addr, s, "hostile\nroot@localhost REJECT"))
	}
	for _, s := range hostileDomains {
		bans = append(bans, mkBan(domain, s, "hostile\x00"))
	}
	w := h.writer()
	h.write(w, snap(bans...))
	got := h.read()
	for k := range got {
		if !wantKeys[k] {
			t.Errorf("unexpected entry %q", k)
		}
	}
	for k := range wantKeys {
		if _, ok := got[k]; !ok {
			t.Errorf("missing entry %q", k)
		}
	}
	body, _ := os.ReadFile(h.path)
	if n := bytes.Count(body, []byte("\n")); n != 1+len(wantKeys) {
		t.Errorf("%d lines, want %d:\n%s", n, 1+len(wantKeys), body)
	}
	var skipped float64
	for _, r := range []string{SkipToken, SkipShape, SkipSyntax, SkipDuplicate} {
		skipped += testutil.ToFloat64(h.m.skipped.WithLabelValues(tc.format.Name(), r))
	}
	if want := float64(len(bans) - len(wantKeys)); skipped != want {
		t.Errorf("skipped counter = %v, want %v", skipped, want)
	}
	// Counted once, not at every rewrite.
	h.write(w, snap(append(bans, mkBan(addr, "new@x.example", "new"))...))
	var again float64
	for _, r := range []string{SkipToken, SkipShape, SkipSyntax, SkipDuplicate} {
		again += testutil.ToFloat64(h.m.skipped.WithLabelValues(tc.format.Name(), r))
	}
	if again != skipped {
		t.Errorf("skipped counter grew on rewrite: %v -> %v", skipped, again)
	}
}

func testDeterministic(t *testing.T, tc conformanceCase) {
	addr, domain, others := sideKinds(tc.side)
	var bans []event.Ban
	for i := range 50 {
		bans = append(bans, mkBan(addr, fmt.Sprintf("u%02d@x.example", i), fmt.Sprint("m", i)))
		bans = append(bans, mkBan(domain, fmt.Sprintf("d%02d.example", i), "d"))
		bans = append(bans, mkBan(others[i%len(others)], fmt.Sprintf("o%02d@x.example", i), "o"))
	}
	// Two bans rendering to one key (the set would never hold both, but a
	// Format must not depend on it).
	bans = append(bans, mkBan(addr, "DUP@x.example", "first"), mkBan(addr, "dup@x.example", "second"))
	want := tc.format.Render(ptrs(bans), nil, tc.side).Body
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20 {
		shuffled := append([]event.Ban(nil), bans...)
		rng.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		h := newHarness(t, tc)
		h.write(h.writer(), snap(shuffled...))
		got, _ := os.ReadFile(h.path)
		if !bytes.Equal(got, want) {
			t.Fatalf("output depends on input order:\n%s\nvs\n%s", got, want)
		}
	}
	m, err := tc.parse(want)
	if err != nil {
		t.Fatal(err)
	}
	if len(m) != 101 {
		t.Fatalf("%d entries, want 101", len(m))
	}
}

func testMessages(t *testing.T, tc conformanceCase) {
	h := newHarness(t, tc)
	addr, _, _ := sideKinds(tc.side)
	msgs := map[string]string{
		"a@x.example": "line one\nline two\r\nthree",
		"b@x.example": "nul\x00byte and \xff\xfe bad utf8",
		"c@x.example": strings.Repeat("long ", 200),
		"d@x.example": "",
		"e@x.example": "   \t\n  ",
		"f@x.example": "Blocked \u2026 open a ticket \u2014 thanks \u201cadmins\u201d \u00e9",
		"g@x.example": "#not a comment: key: value",
	}
	var bans []event.Ban
	for s, m := range msgs {
		bans = append(bans, mkBan(addr, s, m))
	}
	h.write(h.writer(), snap(bans...))
	got := h.read()
	if len(got) != len(msgs) {
		t.Fatalf("%d entries, want %d: %v", len(got), len(msgs), got)
	}
	for s, m := range msgs {
		v := got[s]
		if v != tc.value(m) {
			t.Errorf("%s: value %q, want %q", s, v, tc.value(m))
		}
		for _, r := range v {
			if r < ' ' || r > '~' {
				t.Errorf("%s: value holds %U", s, r)
			}
		}
	}
	if got["f@x.example"] != tc.value(`Blocked ... open a ticket - thanks "admins" ?`) {
		t.Errorf("transliteration: %q", got["f@x.example"])
	}
	if got["d@x.example"] != tc.value(DefaultMessage) {
		t.Errorf("empty message: %q", got["d@x.example"])
	}
}

// testCommand checks the command after a write (postmap): run after a
// change and once after Connect, retried while it fails.
func testCommand(t *testing.T, tc conformanceCase) {
	h := newHarness(t, tc)
	addr, _, _ := sideKinds(tc.side)
	a := snap(mkBan(addr, "a@x.example", "m"))
	b := snap(mkBan(addr, "b@x.example", "m"))
	// The command logs each run and copies the map, failing until "<path>.ok" exists.
	cmd := []string{"sh", "-c", `echo run >> "$1.runs" && test -e "$1.ok" && cp "$1" "$1.db"`, "sh", "{path}"}
	runs := func() int {
		b, _ := os.ReadFile(h.path + ".runs")
		return bytes.Count(b, []byte("run"))
	}
	w := h.writer(cmd...)
	if err := w.Write(context.Background(), a); err == nil {
		t.Fatal("failing command did not fail the write")
	}
	if err := w.Write(context.Background(), a); err == nil || runs() != 2 {
		t.Fatalf("failed command not retried on unchanged content: runs=%d err=%v", runs(), err)
	}
	if h.writes(ResultError) != 2 {
		t.Fatalf("error writes = %v", h.writes(ResultError))
	}
	if err := os.WriteFile(h.path+".ok", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	h.write(w, a)
	h.write(w, a) // unchanged: no run
	if runs() != 3 {
		t.Fatalf("runs = %d, want 3", runs())
	}
	h.write(w, b)
	db, _ := os.ReadFile(h.path + ".db")
	cur, _ := os.ReadFile(h.path)
	if runs() != 4 || !bytes.Equal(db, cur) {
		t.Fatalf("command not run after change: runs=%d", runs())
	}
	// After a restart the command runs once even though the file is current.
	w2 := h.writer(cmd...)
	h.write(w2, b)
	if runs() != 5 {
		t.Fatalf("runs after restart = %d, want 5", runs())
	}
}

func TestParseCommand(t *testing.T) {
	tests := []struct {
		in      string
		want    []string
		wantErr bool
	}{
		{"", nil, false},
		{"   ", nil, false},
		{"postmap hash:{path}", []string{"postmap", "hash:{path}"}, false},
		{"/usr/sbin/postmap  -r\tlmdb:{path}", []string{"/usr/sbin/postmap", "-r", "lmdb:{path}"}, false},
		{"postmap", nil, true},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.in)
		if (err != nil) != tt.wantErr || fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("ParseCommand(%q) = %q, %v", tt.in, got, err)
		}
		if err != nil && !errors.Is(err, ErrBadCommand) {
			t.Errorf("error %v is not ErrBadCommand", err)
		}
	}
}

func TestFormatByName(t *testing.T) {
	for _, n := range FormatNames {
		f, err := FormatByName(n)
		if err != nil || f.Name() != n {
			t.Errorf("%s: %v", n, err)
		}
	}
	if _, err := FormatByName("sendmail"); !errors.Is(err, ErrUnknownFormat) {
		t.Errorf("unknown format: %v", err)
	}
}

func TestSanitizeMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"  a \n\n b\t", "a b"},
		{"a\x00b", "a b"},
		{"\xffx", "?x"},
		{"caf\u00e9", "caf?"},
		{"", DefaultMessage},
		{"\r\n", DefaultMessage},
	}
	for _, tt := range tests {
		if got := SanitizeMessage(tt.in); got != tt.want {
			t.Errorf("SanitizeMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := SanitizeMessage(strings.Repeat("\u2026", 1000)); len(got) != MaxMessageLen {
		t.Errorf("len = %d", len(got))
	}
}
