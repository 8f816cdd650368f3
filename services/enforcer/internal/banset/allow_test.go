package banset

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

func allow(kind event.SubjectKind, subject string) *event.AllowEntry {
	return &event.AllowEntry{TS: t0, Kind: kind, Subject: subject, Reason: "vip", Actor: "desk"}
}

func TestAllowlistAlwaysWins(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := New(clk.Now)
	s.Put(ban(event.KindSender, "spam@a.example"))
	s.Put(ban(event.KindSenderDomain, "b.example"))
	s.Put(ban(event.KindClientIP, "192.0.2.9"))
	s.Put(ban(event.KindRecipientDomain, "sms.example"))
	s.Put(ban(event.KindSenderRecipient, event.PairSubject("x@c.example", "boss@d.example")))
	s.Put(ban(event.KindAccount, "cust1", func(b *event.Ban) { b.Action = event.ActionDefer; b.Message = "slow down" }))

	s.PutAllow(allow(event.KindSender, "spam@a.example"))
	s.PutAllow(allow(event.KindSender, "ceo@b.example"))
	s.PutAllow(allow(event.KindClientIP, "192.0.2.9"))
	tests := []struct {
		name string
		q    Query
		want bool
	}{
		{"allowlisted sender although banned", Query{Sender: "spam@a.example", Recipient: "r@ok.example"}, false},
		{"allowlisted address inside a banned domain", Query{Sender: "ceo@b.example"}, false},
		{"the rest of the domain", Query{Sender: "intern@b.example"}, true},
		{"allowlisted IP: its own ban", Query{ClientIP: "192.0.2.9", Sender: "ok@ok.example"}, false},
		{"allowlisted IP does not shield a banned sender behind it", Query{ClientIP: "192.0.2.9", Sender: "intern@b.example"}, true},
		{"allowlisted sender still cannot mail a banned recipient domain", Query{Sender: "spam@a.example", Recipient: "1555@sms.example"}, true},
		{"pair ban", Query{Sender: "x@c.example", Recipient: "boss@d.example"}, true},
		{"pair ban, other recipient", Query{Sender: "x@c.example", Recipient: "other@d.example"}, false},
		{"defer", Query{Account: "cust1"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := s.Match(tt.q); got != tt.want {
				t.Fatalf("match = %v, want %v", got, tt.want)
			}
		})
	}
	if b, _ := s.Match(Query{Account: "cust1"}); b.Action != event.ActionDefer {
		t.Fatalf("defer ban: %+v", b)
	}
	// A ban wins over a defer of the same request.
	if b, _ := s.Match(Query{Account: "cust1", Sender: "intern@b.example"}); b.Action != event.ActionBan {
		t.Fatalf("ban should win over defer: %+v", b)
	}
	// A pair allow exempts every ban of the pair.
	s.PutAllow(allow(event.KindSenderRecipient, event.PairSubject("intern@b.example", "1555@sms.example")))
	if _, ok := s.Match(Query{Sender: "intern@b.example", Recipient: "1555@sms.example"}); ok {
		t.Fatal("pair allow did not win")
	}
	// Snapshot leaves out exempt bans and lists entries.
	snap := s.Snapshot()
	for _, b := range snap.Bans {
		if b.Key() == "sender:spam@a.example" || b.Key() == "client_ip:192.0.2.9" {
			t.Errorf("exempt ban %s in snapshot", b.Key())
		}
	}
	if len(snap.Allow) != 4 {
		t.Errorf("snapshot has %d entries", len(snap.Allow))
	}
	// Removing the entry restores the ban; an expired entry stops winning.
	if !s.DeleteAllow("sender:spam@a.example") {
		t.Fatal("delete allow")
	}
	if _, ok := s.Match(Query{Sender: "spam@a.example"}); !ok {
		t.Fatal("ban not back after disallow")
	}
	e := allow(event.KindSender, "spam@a.example")
	e.Expires.Time = t0.Add(time.Minute)
	s.PutAllow(e)
	if _, ok := s.Match(Query{Sender: "spam@a.example"}); ok {
		t.Fatal("entry not in force")
	}
	clk.Set(t0.Add(time.Minute))
	if _, ok := s.Match(Query{Sender: "spam@a.example"}); !ok {
		t.Fatal("expired entry still wins")
	}
	if next, ok := s.NextExpiry(); !ok || !next.Equal(t0.Add(time.Minute)) {
		t.Fatalf("next expiry includes entries: %v", next)
	}
	s.Expire()
	if _, ok := s.GetAllow("sender:spam@a.example"); ok {
		t.Fatal("expired entry not swept")
	}
}

func TestApplyAllow(t *testing.T) {
	s := New(nil)
	v, _ := event.MarshalAllowEntry(allow(event.KindSender, "Vip@x.example"))
	if ok, err := s.ApplyAllow([]byte("sender:vip@x.example"), v); err != nil || !ok {
		t.Fatal(ok, err)
	}
	if !s.Allowed(event.KindSender, "VIP@x.example") {
		t.Fatal("not allowed")
	}
	if _, err := s.ApplyAllow([]byte("sender:other@x.example"), v); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("mismatch: %v", err)
	}
	if _, err := s.ApplyAllow([]byte("sender:vip@x.example"), []byte(`{"subject_kind":"sender","subject":"a\nb"}`)); !errors.Is(err, event.ErrInvalid) {
		t.Fatalf("hostile: %v", err)
	}
	if ok, err := s.ApplyAllow([]byte("sender:vip@x.example"), nil); err != nil || !ok || s.AllowLen() != 0 {
		t.Fatal("tombstone", ok, err)
	}
}

func TestReplaceReportsDifferences(t *testing.T) {
	s := New(func() time.Time { return t0 })
	s.Put(ban(event.KindSender, "stays@x.example"))
	s.Put(ban(event.KindSender, "lifted@x.example"))
	s.Put(ban(event.KindSender, "changed@x.example"))
	n := New(func() time.Time { return t0 })
	n.Put(ban(event.KindSender, "stays@x.example"))
	n.Put(ban(event.KindSender, "changed@x.example", func(b *event.Ban) { b.Level = 5 }))
	n.Put(ban(event.KindSender, "new@x.example"))
	n.PutAllow(allow(event.KindSender, "vip@x.example"))
	ch, cancel := s.Subscribe()
	defer cancel()
	changes := s.Replace(n)
	var keys []string
	for _, c := range changes {
		keys = append(keys, c.Key)
	}
	if strings.Join(keys, ",") != "sender:changed@x.example,sender:lifted@x.example,sender:new@x.example" {
		t.Fatalf("changes = %v", keys)
	}
	if s.Len() != 3 || s.AllowLen() != 1 || s.EnforcedCounts()[event.KindSender] != 3 {
		t.Fatalf("after replace: %d bans %d entries %v", s.Len(), s.AllowLen(), s.EnforcedCounts())
	}
	select {
	case <-ch:
	default:
		t.Fatal("replace did not notify")
	}
}

func TestSnapshotFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "banset.snapshot")
	s := New(func() time.Time { return t0 })
	s.Put(ban(event.KindSender, "a@x.example", func(b *event.Ban) { b.Evidence = map[string]float64{"attempts": 30} }))
	s.Put(ban(event.KindRecipientDomain, "sms.example", func(b *event.Ban) { b.Expires.Time = t0.Add(time.Hour) }))
	s.Put(ban(event.KindSenderRecipient, event.PairSubject("a@x.example", "b@y.example")))
	s.PutAllow(allow(event.KindSender, "vip@x.example"))
	if err := SaveSnapshot(path, s.State(), t0, t0.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	st, h, err := LoadSnapshot(path)
	if err != nil {
		t.Fatal(err)
	}
	if h.Bans != 3 || h.Allowlist != 1 || !h.Synced.Equal(t0) || h.Version != SnapshotVersion {
		t.Fatalf("header %+v", h)
	}
	n := New(func() time.Time { return t0 })
	n.Load(st)
	if b, ok := n.Get("sender:a@x.example"); !ok || b.Evidence["attempts"] != 30 {
		t.Fatalf("loaded ban %+v", b)
	}
	if _, ok := n.Match(Query{Sender: "q@q.example", Recipient: "1@sms.example"}); !ok {
		t.Fatal("loaded domain ban not enforced")
	}
	if !n.Allowed(event.KindSender, "vip@x.example") {
		t.Fatal("loaded entry missing")
	}
	// No temporary file left behind.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("dir holds %d files", len(ents))
	}
	good, _ := os.ReadFile(path)
	corrupt := map[string][]byte{
		"truncated":     good[:len(good)-20],
		"flipped byte":  []byte(strings.Replace(string(good), "a@x.example", "a@y.example", 1)),
		"not ours":      []byte("{\"format\":\"other\"}\n"),
		"empty":         nil,
		"extra":         append(append([]byte{}, good...), "x\n"...),
		"newer version": []byte(strings.Replace(string(good), `"version":1`, `"version":2`, 1)),
	}
	for name, b := range corrupt {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "s")
			if err := os.WriteFile(p, b, 0o600); err != nil {
				t.Fatal(err)
			}
			_, _, err := LoadSnapshot(p)
			want := ErrSnapshotCorrupt
			if name == "newer version" {
				want = ErrSnapshotVersion
			}
			if !errors.Is(err, want) {
				t.Fatalf("err = %v, want %v", err, want)
			}
		})
	}
	if _, _, err := LoadSnapshot(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

func TestListAndApplying(t *testing.T) {
	s := New(func() time.Time { return t0 })
	s.Put(ban(event.KindSender, "a@x.example"))
	s.Put(ban(event.KindRecipient, "a@x.example"))
	s.Put(ban(event.KindSenderDomain, "x.example"))
	s.Put(ban(event.KindSender, "b@x.example"))
	s.Put(ban(event.KindSenderRecipient, event.PairSubject("c@z.example", "a@x.example")))
	s.Put(ban(event.KindSender, "c@z.example"))
	got := func(bs []event.Ban) string {
		var k []string
		for _, b := range bs {
			k = append(k, b.Key())
		}
		return strings.Join(k, " ")
	}
	if g := got(s.Applying("A@x.example")); g != "recipient:a@x.example sender:a@x.example sender_domain:x.example sender_recipient:c@z.example=>a@x.example" {
		t.Fatalf("applying address: %s", g)
	}
	if g := got(s.Applying("x.example")); g != "recipient:a@x.example sender:a@x.example sender:b@x.example sender_domain:x.example sender_recipient:c@z.example=>a@x.example" {
		t.Fatalf("applying domain: %s", g)
	}
	bans, total := s.List(Filter{Kind: event.KindSender}, 1, 1)
	if total != 3 || len(bans) != 1 {
		t.Fatalf("list: %d %d", total, len(bans))
	}
}
