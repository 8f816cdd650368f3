package banset

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Kinds lists every subject kind in lookup order (see Match).
var Kinds = []event.SubjectKind{
	event.KindSender, event.KindAccount, event.KindSenderDomain, event.KindClientIP,
	event.KindSenderRecipient, event.KindRecipient, event.KindRecipientDomain,
}

// Enforced reports whether b must be enforced at now: it is active
// (event.Ban.Active: not shadow, not expired) and its action is "ban" or
// "defer". A ban record carrying action "flag" is recorded but never
// enforced. Enforced does not look at the allowlist; Set.Match and
// Set.Snapshot do.
func Enforced(b *event.Ban, now time.Time) bool {
	return (b.Action == event.ActionBan || b.Action == event.ActionDefer) && b.Active(now)
}

// Change describes what one Apply, Put or Expire did to one key.
type Change struct {
	Key string
	// Old is the ban stored before, nil if there was none.
	Old *event.Ban
	// New is the ban stored after, nil when the key was lifted or swept.
	New *event.Ban
}

// Snapshot is the set of bans enforced at At, sorted by key, with the
// allowlist entries in force. It is immutable: callers must not modify the
// bans or entries (they are shared with the set).
type Snapshot struct {
	At time.Time
	// Bans are the bans enforced at At that no allowlist entry exempts
	// (see Exempt), sorted by key.
	Bans []*event.Ban
	// Allow are the allowlist entries in force at At, sorted by key.
	Allow []*event.AllowEntry
}

// Query is what a policy request can be matched on. Empty fields are not
// looked up. Values are compared case-insensitively.
type Query struct {
	Sender    string // envelope sender address
	Account   string // SASL login
	ClientIP  string
	Recipient string
}

// Set is the materialised ban set and allowlist. The zero value is not
// usable; call New. Stored bans and entries are never modified in place:
// Put stores a copy, so pointers handed out stay valid and unchanged.
type Set struct {
	now func() time.Time

	mu       sync.RWMutex
	bans     map[string]*event.Ban
	allow    map[string]*event.AllowEntry
	enforced map[event.SubjectKind]int // stored bans that are not shadow and act "ban"/"defer", by kind

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
		allow:    make(map[string]*event.AllowEntry),
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
	b, err := DecodeBan(key, value)
	if err != nil {
		return Change{}, err
	}
	return s.Put(b), nil
}

// DecodeBan decodes and checks one record of the bans topic (see Apply).
func DecodeBan(key, value []byte) (*event.Ban, error) {
	if !json.Valid(value) {
		return nil, ErrDecode
	}
	b, err := event.UnmarshalBan(value)
	if err != nil {
		return nil, err
	}
	if b.Key() != string(key) {
		return nil, fmt.Errorf("%w: key %q, ban %q", ErrKeyMismatch, truncate(string(key)), truncate(b.Key()))
	}
	return b, nil
}

// DecodeAllow decodes and checks one record of the allowlist topic.
func DecodeAllow(key, value []byte) (*event.AllowEntry, error) {
	if !json.Valid(value) {
		return nil, ErrDecode
	}
	a, err := event.UnmarshalAllowEntry(value)
	if err != nil {
		return nil, err
	}
	if a.Key() != string(key) {
		return nil, fmt.Errorf("%w: key %q, entry %q", ErrKeyMismatch, truncate(string(key)), truncate(a.Key()))
	}
	return a, nil
}

// ApplyAllow applies one record of the allowlist topic: a nil value
// removes the entry, any other value is decoded and stored. It reports
// whether the set changed; errors are those of Apply.
func (s *Set) ApplyAllow(key, value []byte) (bool, error) {
	if len(key) == 0 {
		return false, ErrEmptyKey
	}
	if value == nil {
		return s.DeleteAllow(string(key)), nil
	}
	a, err := DecodeAllow(key, value)
	if err != nil {
		return false, err
	}
	s.PutAllow(a)
	return true, nil
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

// PutAllow stores a under a.Key(), replacing what was there. The caller
// must have validated a.
func (s *Set) PutAllow(a *event.AllowEntry) {
	c := *a
	s.mu.Lock()
	s.allow[c.Key()] = &c
	s.mu.Unlock()
	s.notify()
}

// DeleteAllow removes the allowlist entry under key; it reports whether
// there was one.
func (s *Set) DeleteAllow(key string) bool {
	s.mu.Lock()
	_, ok := s.allow[key]
	delete(s.allow, key)
	s.mu.Unlock()
	if ok {
		s.notify()
	}
	return ok
}

// GetAllow returns the allowlist entry under key, in force or not.
func (s *Set) GetAllow(key string) (event.AllowEntry, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	a, ok := s.allow[key]
	if !ok {
		return event.AllowEntry{}, false
	}
	return *a, true
}

// count adjusts the enforced-by-kind counters. Callers hold mu.
func (s *Set) count(b *event.Ban, d int) {
	if b != nil && !b.Shadow && (b.Action == event.ActionBan || b.Action == event.ActionDefer) {
		s.enforced[b.SubjectKind] += d
	}
}

// Expire removes the bans and allowlist entries that have expired at the
// set's clock and returns the bans it removed, sorted by key. The scan
// runs under the read lock; only the removal takes the write lock, so
// lookups are not held up by a large set.
func (s *Set) Expire() []Change {
	now := s.now()
	var keys, akeys []string
	s.mu.RLock()
	for k, b := range s.bans {
		if !b.Expires.IsZero() && !now.Before(b.Expires.Time) {
			keys = append(keys, k)
		}
	}
	for k, a := range s.allow {
		if !a.Active(now) {
			akeys = append(akeys, k)
		}
	}
	s.mu.RUnlock()
	if len(keys) == 0 && len(akeys) == 0 {
		return nil
	}
	var out []Change
	s.mu.Lock()
	for _, k := range keys {
		// Re-check: the ban may have been replaced since the scan.
		if b, ok := s.bans[k]; ok && !b.Expires.IsZero() && !now.Before(b.Expires.Time) {
			delete(s.bans, k)
			s.count(b, -1)
			out = append(out, Change{Key: k, Old: b})
		}
	}
	for _, k := range akeys {
		if a, ok := s.allow[k]; ok && !a.Active(now) {
			delete(s.allow, k)
		}
	}
	s.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	s.notify()
	return out
}

// NextExpiry returns the earliest expiry among the stored bans and
// allowlist entries, if any.
func (s *Set) NextExpiry() (time.Time, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var next time.Time
	for _, b := range s.bans {
		if e := b.Expires.Time; !e.IsZero() && (next.IsZero() || e.Before(next)) {
			next = e
		}
	}
	for _, a := range s.allow {
		if e := a.Expires.Time; !e.IsZero() && (next.IsZero() || e.Before(next)) {
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

// AllowLen returns the number of stored allowlist entries.
func (s *Set) AllowLen() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.allow)
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

// Lookup returns the ban enforced now on (kind, subject), ignoring the
// allowlist. Client IPs are also looked up in their canonical form, so
// "2001:DB8:0::1" finds a ban on "2001:db8::1".
func (s *Set) Lookup(kind event.SubjectKind, subject string) (event.Ban, bool) {
	if subject == "" {
		return event.Ban{}, false
	}
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	if b := s.lookupLocked(kind, subject, now); b != nil {
		return *b, true
	}
	return event.Ban{}, false
}

func canonicalIP(subject string) (string, bool) {
	if a, err := netip.ParseAddr(subject); err == nil {
		if c := a.Unmap().String(); c != subject {
			return c, true
		}
	}
	return "", false
}

func (s *Set) lookupLocked(kind event.SubjectKind, subject string, now time.Time) *event.Ban {
	if b, ok := s.bans[event.BanKey(kind, subject)]; ok && Enforced(b, now) {
		return b
	}
	if kind == event.KindClientIP {
		if c, ok := canonicalIP(subject); ok {
			if b, ok := s.bans[event.BanKey(kind, c)]; ok && Enforced(b, now) {
				return b
			}
		}
	}
	return nil
}

// allowedLocked reports whether an allowlist entry in force covers (kind, subject).
func (s *Set) allowedLocked(kind event.SubjectKind, subject string, now time.Time) bool {
	if subject == "" || len(s.allow) == 0 {
		return false
	}
	if a, ok := s.allow[event.BanKey(kind, subject)]; ok && a.Active(now) {
		return true
	}
	if kind == event.KindClientIP {
		if c, ok := canonicalIP(subject); ok {
			if a, ok := s.allow[event.BanKey(kind, c)]; ok && a.Active(now) {
				return true
			}
		}
	}
	return false
}

// Allowed reports whether an allowlist entry in force covers (kind, subject) exactly.
func (s *Set) Allowed(kind event.SubjectKind, subject string) bool {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.allowedLocked(kind, subject, now)
}

// Match returns the ban enforced now on the request q, after the
// allowlist. Subjects are looked up in this order: sender, account,
// sender domain, client IP, sender→recipient pair, recipient, recipient
// domain (domains are the part after the last '@'); the first ban with
// action "ban" wins, else the first with action "defer".
//
// The allowlist always wins. An entry exempts the bans it is at least as
// specific as: a sender entry exempts bans on that sender, on its domain
// and on its pairs; a sender_domain entry bans on the domain, on its
// addresses and on their pairs; recipient and recipient_domain entries
// likewise on the recipient side; a sender_recipient entry exempts every
// sender, recipient, domain and pair ban of that one pair; account and
// client_ip entries exempt bans on the same account or IP only (an
// allowlisted relay IP does not shield the senders behind it).
func (s *Set) Match(q Query) (event.Ban, bool) {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.matchLocked(q, now)
}

// TryMatch is Match if the read lock can be taken at once; locked is
// false (and nothing was looked up) when a writer holds or waits for it.
func (s *Set) TryMatch(q Query) (b event.Ban, ok, locked bool) {
	now := s.now()
	if !s.mu.TryRLock() {
		return event.Ban{}, false, false
	}
	defer s.mu.RUnlock()
	b, ok = s.matchLocked(q, now)
	return b, ok, true
}

func (s *Set) matchLocked(q Query, now time.Time) (event.Ban, bool) {
	sd, rd := event.Domain(q.Sender), event.Domain(q.Recipient)
	pair := ""
	if q.Sender != "" && q.Recipient != "" {
		pair = event.PairSubject(q.Sender, q.Recipient)
	}
	var aS, aSD, aA, aIP, aP, aR, aRD bool
	if len(s.allow) > 0 {
		aS = s.allowedLocked(event.KindSender, q.Sender, now)
		aSD = s.allowedLocked(event.KindSenderDomain, sd, now)
		aA = s.allowedLocked(event.KindAccount, q.Account, now)
		aIP = s.allowedLocked(event.KindClientIP, q.ClientIP, now)
		aP = s.allowedLocked(event.KindSenderRecipient, pair, now)
		aR = s.allowedLocked(event.KindRecipient, q.Recipient, now)
		aRD = s.allowedLocked(event.KindRecipientDomain, rd, now)
	}
	probes := [...]struct {
		kind    event.SubjectKind
		subject string
		exempt  bool
	}{
		{event.KindSender, q.Sender, aS || aSD || aP},
		{event.KindAccount, q.Account, aA},
		{event.KindSenderDomain, sd, aS || aSD || aP},
		{event.KindClientIP, q.ClientIP, aIP},
		{event.KindSenderRecipient, pair, aP || aS || aSD || aR || aRD},
		{event.KindRecipient, q.Recipient, aR || aRD || aP},
		{event.KindRecipientDomain, rd, aR || aRD || aP},
	}
	var deferred *event.Ban
	for _, p := range probes {
		if p.subject == "" || p.exempt {
			continue
		}
		b := s.lookupLocked(p.kind, p.subject, now)
		if b == nil {
			continue
		}
		if b.Action == event.ActionBan {
			return *b, true
		}
		if deferred == nil {
			deferred = b
		}
	}
	if deferred != nil {
		return *deferred, true
	}
	return event.Ban{}, false
}

// exemptLocked reports whether the allowlist exempts b from every request
// it could match (see Match): an entry on b's own key, on the domain of an
// address ban, or on either side of a pair ban. An entry on one address of
// a banned domain does not exempt the domain ban; the map formats carry
// such exceptions where they can (Snapshot.Allow).
func (s *Set) exemptLocked(b *event.Ban, now time.Time) bool {
	if len(s.allow) == 0 {
		return false
	}
	if s.allowedLocked(b.SubjectKind, b.Subject, now) {
		return true
	}
	switch b.SubjectKind {
	case event.KindSender:
		return s.allowedLocked(event.KindSenderDomain, event.Domain(b.Subject), now)
	case event.KindRecipient:
		return s.allowedLocked(event.KindRecipientDomain, event.Domain(b.Subject), now)
	case event.KindSenderRecipient:
		snd, rcpt, ok := event.SplitPair(b.Subject)
		return ok && (s.allowedLocked(event.KindSender, snd, now) ||
			s.allowedLocked(event.KindSenderDomain, event.Domain(snd), now) ||
			s.allowedLocked(event.KindRecipient, rcpt, now) ||
			s.allowedLocked(event.KindRecipientDomain, event.Domain(rcpt), now))
	}
	return false
}

// Exempt reports whether the allowlist exempts b everywhere (see exemptLocked).
func (s *Set) Exempt(b *event.Ban) bool {
	now := s.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.exemptLocked(b, now)
}

// Snapshot returns the bans enforced at the set's clock that the allowlist
// does not exempt, and the allowlist entries in force, each sorted by key.
// The read lock is held only while the pointers are collected.
func (s *Set) Snapshot() Snapshot {
	now := s.now()
	s.mu.RLock()
	bans := make([]*event.Ban, 0, len(s.bans))
	for _, b := range s.bans {
		if Enforced(b, now) && !s.exemptLocked(b, now) {
			bans = append(bans, b)
		}
	}
	allow := make([]*event.AllowEntry, 0, len(s.allow))
	for _, a := range s.allow {
		if a.Active(now) {
			allow = append(allow, a)
		}
	}
	s.mu.RUnlock()
	sort.Slice(bans, func(i, j int) bool { return bans[i].Key() < bans[j].Key() })
	sort.Slice(allow, func(i, j int) bool { return allow[i].Key() < allow[j].Key() })
	return Snapshot{At: now, Bans: bans, Allow: allow}
}

// State is everything stored: bans (enforced or not) and allowlist
// entries (in force or not), unsorted. It is what the disk snapshot saves.
type State struct {
	Bans  []*event.Ban
	Allow []*event.AllowEntry
}

// State returns every stored ban and entry.
func (s *Set) State() State {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := State{Bans: make([]*event.Ban, 0, len(s.bans)), Allow: make([]*event.AllowEntry, 0, len(s.allow))}
	for _, b := range s.bans {
		st.Bans = append(st.Bans, b)
	}
	for _, a := range s.allow {
		st.Allow = append(st.Allow, a)
	}
	return st
}

// Replace makes the set hold exactly what from holds (from must not be
// used afterwards) and returns the bans that changed, sorted by key. It is
// how a catch-up read into a fresh set takes over from the set loaded
// from disk: lookups see either the old or the new content, never a mix,
// and the write lock is held only for the swap.
func (s *Set) Replace(from *Set) []Change {
	from.mu.Lock()
	bans, allow, enforced := from.bans, from.allow, from.enforced
	from.bans, from.allow, from.enforced = map[string]*event.Ban{}, map[string]*event.AllowEntry{}, map[event.SubjectKind]int{}
	from.mu.Unlock()
	s.mu.Lock()
	old := s.bans
	s.bans, s.allow, s.enforced = bans, allow, enforced
	s.mu.Unlock()
	var out []Change
	for k, n := range bans {
		if o, ok := old[k]; !ok || !sameBan(o, n) {
			out = append(out, Change{Key: k, Old: o, New: n})
		}
	}
	for k, o := range old {
		if _, ok := bans[k]; !ok {
			out = append(out, Change{Key: k, Old: o})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	s.notify()
	return out
}

// sameBan compares what enforcement and the printed line depend on.
func sameBan(a, b *event.Ban) bool {
	return a.Rule == b.Rule && a.Action == b.Action && a.Shadow == b.Shadow && a.Message == b.Message &&
		a.Expires.Equal(b.Expires.Time) && a.Level == b.Level && a.TS.Equal(b.TS) && a.Source == b.Source
}

// Filter selects bans for List. Zero fields select everything.
type Filter struct {
	Rule    string
	Kind    event.SubjectKind
	Subject string    // case-insensitive substring of the subject
	Since   time.Time // ban's ts at or after
	Source  string
	// All includes bans not enforced now (shadow, flag, expired,
	// allowlisted); by default only enforced ones are listed.
	All bool
}

// List returns the bans selected by f, newest first (then by key), and
// how many there are in all; offset and limit page through them (limit
// <= 0: all).
func (s *Set) List(f Filter, offset, limit int) ([]event.Ban, int) {
	now := s.now()
	sub := strings.ToLower(f.Subject)
	s.mu.RLock()
	sel := make([]*event.Ban, 0, 64)
	for k, b := range s.bans {
		if f.Rule != "" && b.Rule != f.Rule || f.Kind != "" && b.SubjectKind != f.Kind || f.Source != "" && b.Source != f.Source {
			continue
		}
		if sub != "" && !strings.Contains(k[len(b.SubjectKind)+1:], sub) {
			continue
		}
		if !f.Since.IsZero() && b.TS.Before(f.Since) {
			continue
		}
		if !f.All && (!Enforced(b, now) || s.exemptLocked(b, now)) {
			continue
		}
		sel = append(sel, b)
	}
	s.mu.RUnlock()
	sort.Slice(sel, func(i, j int) bool {
		if !sel[i].TS.Equal(sel[j].TS) {
			return sel[i].TS.After(sel[j].TS)
		}
		return sel[i].Key() < sel[j].Key()
	})
	total := len(sel)
	if offset > total {
		offset = total
	}
	sel = sel[offset:]
	if limit > 0 && len(sel) > limit {
		sel = sel[:limit]
	}
	out := make([]event.Ban, len(sel))
	for i, b := range sel {
		out[i] = *b
	}
	return out, total
}

// ListAllow returns the allowlist entries of kind (all kinds when empty)
// whose subject holds sub (case-insensitive), sorted by key.
func (s *Set) ListAllow(kind event.SubjectKind, sub string) []event.AllowEntry {
	sub = strings.ToLower(sub)
	s.mu.RLock()
	out := make([]event.AllowEntry, 0, len(s.allow))
	for k, a := range s.allow {
		if kind != "" && a.Kind != kind || sub != "" && !strings.Contains(k[len(a.Kind)+1:], sub) {
			continue
		}
		out = append(out, *a)
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// Applying returns every stored ban that could apply to mail of subject,
// enforced or not, sorted by key: for an address, bans on it as sender or
// recipient, on its domain and on pairs holding it; for a domain, bans on
// the domain and on every address and pair of the domain; for anything
// else (an account, an IP) bans of kind account and client_ip on it.
func (s *Set) Applying(subject string) []event.Ban {
	subject = strings.ToLower(strings.TrimSpace(subject))
	if subject == "" {
		return nil
	}
	at := strings.LastIndexByte(subject, '@')
	keys := map[string]bool{
		event.BanKey(event.KindAccount, subject):  true,
		event.BanKey(event.KindClientIP, subject): true,
	}
	if c, ok := canonicalIP(subject); ok {
		keys[event.BanKey(event.KindClientIP, c)] = true
	}
	domain := subject
	if at >= 0 {
		domain = subject[at+1:]
		keys[event.BanKey(event.KindSender, subject)] = true
		keys[event.BanKey(event.KindRecipient, subject)] = true
	}
	keys[event.BanKey(event.KindSenderDomain, domain)] = true
	keys[event.BanKey(event.KindRecipientDomain, domain)] = true
	s.mu.RLock()
	var out []event.Ban
	for k, b := range s.bans {
		hit := keys[k]
		if !hit {
			switch b.SubjectKind {
			case event.KindSenderRecipient:
				snd, rcpt, _ := event.SplitPair(strings.ToLower(b.Subject))
				if at >= 0 {
					hit = snd == subject || rcpt == subject
				} else {
					hit = event.Domain(snd) == domain || event.Domain(rcpt) == domain
				}
			case event.KindSender, event.KindRecipient:
				hit = at < 0 && strings.EqualFold(event.Domain(b.Subject), domain)
			}
		}
		if hit {
			out = append(out, *b)
		}
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
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
