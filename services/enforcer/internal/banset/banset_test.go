package banset

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

// fakeClock is a settable clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func ban(kind event.SubjectKind, subject string, mod ...func(*event.Ban)) *event.Ban {
	b := &event.Ban{
		Verdict: event.Verdict{
			Rule: "invalid_recipients", SubjectKind: kind, Subject: subject,
			Action: event.ActionBan, Message: "blocked by admins", TS: t0,
		},
		Source: "rule", Level: 1,
	}
	for _, m := range mod {
		m(b)
	}
	return b
}

func record(t *testing.T, b *event.Ban) (key, value []byte) {
	t.Helper()
	v, err := event.MarshalBan(b)
	if err != nil {
		t.Fatal(err)
	}
	return []byte(b.Key()), v
}

func TestApplyAndTombstone(t *testing.T) {
	s := New(func() time.Time { return t0 })
	k, v := record(t, ban(event.KindSender, "Root@Localhost"))
	c, err := s.Apply(k, v)
	if err != nil {
		t.Fatal(err)
	}
	if c.Old != nil || c.New == nil || c.Key != "sender:root@localhost" {
		t.Fatalf("change = %+v", c)
	}
	if _, ok := s.Lookup(event.KindSender, "ROOT@localhost"); !ok {
		t.Fatal("lookup is not case-insensitive")
	}
	if _, ok := s.Lookup(event.KindRecipient, "root@localhost"); ok {
		t.Fatal("kind ignored")
	}
	// Replace: the new record wins.
	k, v = record(t, ban(event.KindSender, "root@localhost", func(b *event.Ban) { b.Level = 2 }))
	c, err = s.Apply(k, v)
	if err != nil {
		t.Fatal(err)
	}
	if c.Old == nil || c.Old.Level != 1 || c.New.Level != 2 {
		t.Fatalf("replace change = %+v", c)
	}
	// Tombstone lifts.
	c, err = s.Apply(k, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Old == nil || c.New != nil {
		t.Fatalf("tombstone change = %+v", c)
	}
	if _, ok := s.Lookup(event.KindSender, "root@localhost"); ok || s.Len() != 0 {
		t.Fatal("tombstone did not lift the ban")
	}
	// Tombstone of an absent key is a no-op.
	if c, err := s.Apply([]byte("sender:nobody@example.com"), nil); err != nil || c.Old != nil {
		t.Fatalf("absent tombstone: %+v %v", c, err)
	}
}

func TestApplyRejects(t *testing.T) {
	s := New(nil)
	k, v := record(t, ban(event.KindSender, "a@example.com"))
	tests := []struct {
		name       string
		key, value []byte
		want       error
	}{
		{"empty key", nil, v, ErrEmptyKey},
		{"not json", k, []byte("{nope"), ErrDecode},
		{"not json is invalid", k, []byte("{nope"), event.ErrInvalid},
		{"key mismatch", []byte("sender:b@example.com"), v, ErrKeyMismatch},
		{"kind mismatch", []byte("recipient:a@example.com"), v, ErrKeyMismatch},
		{"invalid subject", []byte("sender:a b"), []byte(`{"rule":"r","subject_kind":"sender","subject":"a b","action":"ban"}`), event.ErrInvalid},
		{"newer version", k, []byte(`{"v":99,"rule":"r","subject_kind":"sender","subject":"a@example.com","action":"ban"}`), event.ErrUnsupportedVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Apply(tt.key, tt.value)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if s.Len() != 0 {
				t.Fatal("rejected record changed the set")
			}
		})
	}
}

func TestExpiryWithFakeClock(t *testing.T) {
	clk := &fakeClock{now: t0}
	s := New(clk.Now)
	s.Put(ban(event.KindSender, "a@example.com", func(b *event.Ban) { b.Expires.Time = t0.Add(time.Hour) }))
	s.Put(ban(event.KindSenderDomain, "example.net")) // never expires
	s.Put(ban(event.KindRecipient, "r@example.org", func(b *event.Ban) { b.Expires.Time = t0.Add(2 * time.Hour) }))

	if next, ok := s.NextExpiry(); !ok || !next.Equal(t0.Add(time.Hour)) {
		t.Fatalf("next expiry = %v %v", next, ok)
	}
	if _, ok := s.Lookup(event.KindSender, "a@example.com"); !ok {
		t.Fatal("ban not active before expiry")
	}
	clk.Set(t0.Add(time.Hour)) // expiry is exclusive: at Expires the ban is over
	if _, ok := s.Lookup(event.KindSender, "a@example.com"); ok {
		t.Fatal("expired ban still enforced")
	}
	if got := len(s.Snapshot().Bans); got != 2 {
		t.Fatalf("snapshot has %d bans, want 2", got)
	}
	gone := s.Expire()
	if len(gone) != 1 || gone[0].Key != "sender:a@example.com" || gone[0].New != nil {
		t.Fatalf("expire = %+v", gone)
	}
	if next, ok := s.NextExpiry(); !ok || !next.Equal(t0.Add(2*time.Hour)) {
		t.Fatalf("next expiry after sweep = %v %v", next, ok)
	}
	clk.Set(t0.Add(1000 * time.Hour))
	if _, ok := s.Lookup(event.KindSenderDomain, "EXAMPLE.net"); !ok {
		t.Fatal("ban without expiry expired")
	}
}

func TestShadowAndFlagNotEnforced(t *testing.T) {
	s := New(func() time.Time { return t0 })
	s.Put(ban(event.KindSender, "shadow@example.com", func(b *event.Ban) { b.Shadow = true }))
	s.Put(ban(event.KindSender, "flag@example.com", func(b *event.Ban) { b.Action = event.ActionFlag }))
	s.Put(ban(event.KindSender, "real@example.com"))
	for _, subj := range []string{"shadow@example.com", "flag@example.com"} {
		if _, ok := s.Lookup(event.KindSender, subj); ok {
			t.Errorf("%s enforced", subj)
		}
		if _, ok := s.Get("sender:" + subj); !ok {
			t.Errorf("%s not stored", subj)
		}
	}
	snap := s.Snapshot()
	if len(snap.Bans) != 1 || snap.Bans[0].Subject != "real@example.com" {
		t.Fatalf("snapshot = %+v", snap.Bans)
	}
	if got := s.EnforcedCounts()[event.KindSender]; got != 1 {
		t.Fatalf("enforced count = %d, want 1", got)
	}
}

func TestMatch(t *testing.T) {
	s := New(func() time.Time { return t0 })
	s.Put(ban(event.KindSender, "spam@a.example", func(b *event.Ban) { b.Message = "sender" }))
	s.Put(ban(event.KindAccount, "customer1", func(b *event.Ban) { b.Message = "account" }))
	s.Put(ban(event.KindSenderDomain, "b.example", func(b *event.Ban) { b.Message = "sender_domain" }))
	s.Put(ban(event.KindClientIP, "2001:db8::1", func(b *event.Ban) { b.Message = "client_ip" }))
	s.Put(ban(event.KindClientIP, "192.0.2.7", func(b *event.Ban) { b.Message = "client_ip4" }))
	s.Put(ban(event.KindRecipient, "victim@gmail.example", func(b *event.Ban) { b.Message = "recipient" }))
	s.Put(ban(event.KindRecipientDomain, "sms.example", func(b *event.Ban) { b.Message = "recipient_domain" }))
	tests := []struct {
		name string
		q    Query
		want string // message of the matching ban, "" for none
	}{
		{"nothing", Query{Sender: "ok@ok.example", Recipient: "x@ok.example", ClientIP: "192.0.2.1"}, ""},
		{"empty query", Query{}, ""},
		{"sender", Query{Sender: "SPAM@a.example", Recipient: "x@ok.example"}, "sender"},
		{"sender wins over recipient", Query{Sender: "spam@a.example", Recipient: "victim@gmail.example"}, "sender"},
		{"account", Query{Sender: "other@a.example", Account: "Customer1"}, "account"},
		{"sender domain", Query{Sender: "anyone@b.example"}, "sender_domain"},
		{"subdomain is not the domain", Query{Sender: "anyone@sub.b.example"}, ""},
		{"client ip", Query{ClientIP: "2001:DB8:0:0::1"}, "client_ip"},
		{"client ip4 mapped", Query{ClientIP: "::ffff:192.0.2.7"}, "client_ip4"},
		{"recipient", Query{Recipient: "victim@GMAIL.example"}, "recipient"},
		{"recipient domain", Query{Recipient: "+15551234@sms.example"}, "recipient_domain"},
		{"null sender", Query{Sender: "", Recipient: "x@ok.example"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := s.Match(tt.q)
			got := ""
			if ok {
				got = b.Message
			}
			if got != tt.want {
				t.Fatalf("match = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestSnapshotSortedAndImmutable(t *testing.T) {
	s := New(func() time.Time { return t0 })
	for _, subj := range []string{"c@x.example", "a@x.example", "b@x.example"} {
		s.Put(ban(event.KindSender, subj))
	}
	snap := s.Snapshot()
	s.Put(ban(event.KindSender, "d@x.example"))
	var got []string
	for _, b := range snap.Bans {
		got = append(got, b.Subject)
	}
	if len(got) != 3 || got[0] != "a@x.example" || got[2] != "c@x.example" {
		t.Fatalf("snapshot = %v", got)
	}
	if !snap.At.Equal(t0) {
		t.Fatalf("snapshot at %v", snap.At)
	}
}

func TestSubscribeCoalesces(t *testing.T) {
	s := New(nil)
	ch, cancel := s.Subscribe()
	for i := range 10 {
		s.Put(ban(event.KindSender, string(rune('a'+i))+"@x.example"))
	}
	select {
	case <-ch:
	default:
		t.Fatal("no notification")
	}
	select {
	case <-ch:
		t.Fatal("notifications did not coalesce")
	default:
	}
	cancel()
	s.Put(ban(event.KindSender, "z@x.example"))
	select {
	case <-ch:
		t.Fatal("notified after cancel")
	default:
	}
}

func TestConcurrentLookupsAndApplies(t *testing.T) {
	s := New(nil)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s.Match(Query{Sender: "a@x.example", Recipient: "r@y.example", ClientIP: "192.0.2.1"})
				_ = s.Snapshot()
			}
		}()
	}
	for i := range 500 {
		b := ban(event.KindSender, "a@x.example", func(b *event.Ban) { b.Level = i })
		k, v := record(t, b)
		if _, err := s.Apply(k, v); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := s.Apply(k, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(stop)
	wg.Wait()
}
