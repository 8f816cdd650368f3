package banset

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"sync"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Kinds lists every subject kind in lookup order (see Match).
var Kinds = []event.SubjectKind{
	event.KindSender, event.KindAccount, event.KindSenderDomain, event.KindClientIP,
	event.KindRecipient, event.KindRecipientDomain,
}

// Enforced reports whether b must be enforced at now: it is active
// (event.Ban.Active: not shadow, not expired) and its action is "ban". A
// ban record carrying action "flag" is recorded but never enforced.
func Enforced(b *event.Ban, now time.Time) bool {
	return b.Action == event.ActionBan && b.Active(now)
}

// Change describes what one Apply, Put or Expire did to one key.
type Change struct {
	Key string
	// Old is the ban stored before, nil if there was none.
	Old *event.Ban
	// New is the ban stored after, nil when the key was lifted or swept.
	New *event.Ban
}

// Snapshot is the set of bans enforced at At, sorted by key. It is
// immutable: callers must not modify the bans (their Evidence maps are
// shared with the set).
type Snapshot struct {
	At   time.Time
	Bans []event.Ban
}

// Query is what a policy request can be matched on. Empty fields are not
// looked up. Values are compared case-insensitively.
type Query struct {
	Sender    string // envelope sender address
	Account   string // SASL login
	ClientIP  string
	Recipient string
}

// Set is the materialised ban set. The zero value is not usable; call New.
type Set struct {
	now func() time.Time

	mu       sync.RWMutex
	bans     map[string]*event.Ban
	enforced map[event.SubjectKind]int // stored bans that are not shadow and act "ban", by kind

	subMu sync.Mutex
	subs  map[chan struct{}]struct{}
}

// New returns an empty set that evaluates expiry at now() (time.Now when nil).
func New(now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	return &Set{
		now:      now,
		bans:     make(map[string]*event.Ban),
		enforced: make(map[event.SubjectKind]int),
		subs:     make(map[chan struct{}]struct{}),
	}
}

// Now returns the set's clock reading.
func (s *Set) Now() time.Time { return s.now() }

// Apply applies one record of the bans topic: a nil value lifts the key,
// any other value is decoded with event.UnmarshalBan and stored. Decode
// and validation errors wrap event.ErrInvalid or event.ErrUnsupportedVersion;
// a key that does not belong to the ban is ErrKeyMismatch. A rejected record
// leaves the set unchanged.
func (s *Set) Apply(key, value []byte) (Change, error) {
	if len(key) == 0 {
		return Change{}, ErrEmptyKey
	}
	if value == nil {
		return s.Delete(string(key)), nil
	}
	if !json.Valid(value) {
		return Change{}, ErrDecode
	}
	b, err := event.UnmarshalBan(value)
	if err != nil {
		return Change{}, err
	}
	if b.Key() != string(key) {
		return Change{}, fmt.Errorf("%w: key %q, ban %q", ErrKeyMismatch, truncate(string(key)), truncate(b.Key()))
	}
	return s.Put(b), nil
}

// Put stores b under b.Key(), replacing what was there. The caller must
// have validated b (Apply does).
func (s *Set) Put(b *event.Ban) Change {
	key := b.Key()
	c := *b
	s.mu.Lock()
	old := s.bans[key]
	s.bans[key] = &c
	s.count(old, -1)
	s.count(&c, +1)
	s.mu.Unlock()
	s.notify()
	return Change{Key: key, Old: old, New: &c}
}

// Delete lifts key. Deleting an absent key is a no-op that still reports
// the change (with Old nil) and does not notify.
func (s *Set) Delete(key string) Change {
	s.mu.Lock()
	old, ok := s.bans[key]
	if ok {
		delete(s.bans, key)
		s.count(old, -1)
	}
	s.mu.Unlock()
	if ok {
		s.notify()
	}
	return Change{Key: key, Old: old}
}

// count adjusts the enforced-by-kind counters. Callers hold mu.
func (s *Set) count(b *event.Ban, d int) {
	if b != nil && !b.Shadow && b.Action == event.ActionBan {
		s.enforced[b.SubjectKind] += d
	}
}

// Expire removes the bans that have expired at the set's clock and
// returns what it removed, sorted by key.
func (s *Set) Expire() []Change {
	now := s.now()
	var out []Change
	s.mu.Lock()
	for k, b := range s.bans {
		if !b.Expires.IsZero() && !now.Before(b.Expires.Time) {
			delete(s.bans, k)
			s.count(b, -1)
			out = append(out, Change{Key: k, Old: b})
		}
	}
	s.mu.Unlock()
	if len(out) > 0 {
		sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
		s.notify()
	}
	return out
}

// NextExpiry returns the earliest expiry among the stored bans, if any.
func (s *Set) NextExpiry() (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var next time.Time
	for _, b := range s.bans {
		if e := b.Expires.Time; !e.IsZero() && (next.IsZero() || e.Before(next)) {
			next = e
		}
	}
	return next, !next.IsZero()
}

// Len returns the number of stored bans (enforced or not).
func (s *Set) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.bans)
}

// EnforcedCounts returns, per kind, how many stored bans are neither shadow
// nor flag. Bans past their expiry count until Expire sweeps them.
func (s *Set) EnforcedCounts() map[event.SubjectKind]int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make(map[event.SubjectKind]int, len(Kinds))
	for _, k := range Kinds {
		out[k] = s.enforced[k]
	}
	return out
}

// Get returns the stored ban under key, enforced or not.
func (s *Set) Get(key string) (event.Ban, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	b, ok := s.bans[key]
	if !ok {
		return event.Ban{}, false
	}
	return *b, true
}

// Lookup returns the ban enforced now on (kind, subject). Client IPs are
// also looked up in their canonical form, so "2001:DB8:0::1" finds a ban
// on "2001:db8::1".
func (s *Set) Lookup(kind event.SubjectKind, subject string) (event.Ban, bool) {
	if subject == "" {
		return event.Ban{}, false
	}
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lookupLocked(kind, subject, now)
}

func (s *Set) lookupLocked(kind event.SubjectKind, subject string, now time.Time) (event.Ban, bool) {
	if b, ok := s.bans[event.BanKey(kind, subject)]; ok && Enforced(b, now) {
		return *b, true
	}
	if kind == event.KindClientIP {
		if a, err := netip.ParseAddr(subject); err == nil {
			if c := a.Unmap().String(); c != subject {
				if b, ok := s.bans[event.BanKey(kind, c)]; ok && Enforced(b, now) {
					return *b, true
				}
			}
		}
	}
	return event.Ban{}, false
}

// Match returns the first ban enforced now on any subject of q, looked up
// in this order: sender, account, sender domain, client IP, recipient,
// recipient domain. Domains are the part after the last '@' of the address.
func (s *Set) Match(q Query) (event.Ban, bool) {
	type probe struct {
		kind    event.SubjectKind
		subject string
	}
	probes := [...]probe{
		{event.KindSender, q.Sender},
		{event.KindAccount, q.Account},
		{event.KindSenderDomain, event.Domain(q.Sender)},
		{event.KindClientIP, q.ClientIP},
		{event.KindRecipient, q.Recipient},
		{event.KindRecipientDomain, event.Domain(q.Recipient)},
	}
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, p := range probes {
		if p.subject == "" {
			continue
		}
		if b, ok := s.lookupLocked(p.kind, p.subject, now); ok {
			return b, true
		}
	}
	return event.Ban{}, false
}

// Snapshot returns the bans enforced at the set's clock, sorted by key.
func (s *Set) Snapshot() Snapshot {
	now := s.now()
	s.mu.RLock()
	keys := make([]string, 0, len(s.bans))
	for k, b := range s.bans {
		if Enforced(b, now) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	bans := make([]event.Ban, len(keys))
	for i, k := range keys {
		bans[i] = *s.bans[k]
	}
	s.mu.RUnlock()
	return Snapshot{At: now, Bans: bans}
}

// Subscribe returns a channel that receives a value after every change of
// the set. Notifications coalesce: the channel holds at most one pending
// value, so a slow subscriber sees "something changed", never a backlog.
// Call cancel to stop the subscription.
func (s *Set) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.subMu.Lock()
	s.subs[ch] = struct{}{}
	s.subMu.Unlock()
	return ch, func() {
		s.subMu.Lock()
		delete(s.subs, ch)
		s.subMu.Unlock()
	}
}

func (s *Set) notify() {
	s.subMu.Lock()
	defer s.subMu.Unlock()
	for ch := range s.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
