package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

// ManualRule is the rule code of bans made through the API.
const ManualRule = "manual"

// ManualSource is the source of bans made through the API.
const ManualSource = "api"

// DefaultMessage is the SMTP text of a manual ban made without one.
const DefaultMessage = "5.7.1 Blocked by the platform's abuse desk"

// MaxListLimit bounds one page of List.
const MaxListLimit = 1000

// Backend is the operator API as Go. Local and Client implement it; ctx
// bounds every call. actor names who asks (recorded with every change).
type Backend interface {
	// Applying returns the bans that apply to mail of subject (an
	// address, a domain, an account or an IP; see banset.Set.Applying)
	// and the allowlist entries on it.
	Applying(ctx context.Context, subject string) (Lookup, error)
	// List lists and searches bans.
	List(ctx context.Context, q ListQuery) (Page, error)
	// Get returns the ban on (kind, subject); ErrNotFound when none.
	Get(ctx context.Context, kind event.SubjectKind, subject string) (BanView, error)
	// Ban makes or replaces a manual ban.
	Ban(ctx context.Context, actor string, r BanRequest) (BanView, error)
	// Extend produces the ban on (kind, subject) again with a later
	// expiry, keeping its rule, evidence, window, event ids, level, action
	// and message, and recording the actor and reason; ErrNotFound when none.
	Extend(ctx context.Context, actor string, r ExtendRequest) (BanView, error)
	// Unban lifts the ban on (kind, subject); ErrNotFound when none.
	Unban(ctx context.Context, actor string, r ChangeRequest) error
	// Allowlist lists the allowlist entries of kind (all when "") whose
	// subject holds sub.
	Allowlist(ctx context.Context, kind event.SubjectKind, sub string) ([]event.AllowEntry, error)
	// Allow adds or replaces an allowlist entry.
	Allow(ctx context.Context, actor string, r AllowRequest) (event.AllowEntry, error)
	// Disallow removes an allowlist entry; ErrNotFound when none.
	Disallow(ctx context.Context, actor string, r ChangeRequest) error
}

// BanView is a ban as the API shows it: the record plus its key and
// whether it is enforced now.
type BanView struct {
	event.Ban
	Key string `json:"key"`
	// Enforced: active, action ban or defer, and not exempted by the allowlist.
	Enforced bool `json:"enforced"`
	// Allowlisted: an allowlist entry exempts it.
	Allowlisted bool `json:"allowlisted"`
}

// Lookup is the answer of Applying.
type Lookup struct {
	Subject string             `json:"subject"`
	Bans    []BanView          `json:"bans"`
	Allow   []event.AllowEntry `json:"allowlist"`
}

// ListQuery selects and pages bans. Zero fields select everything.
type ListQuery struct {
	Rule    string            `json:"rule,omitempty"`
	Kind    event.SubjectKind `json:"subject_kind,omitempty"`
	Subject string            `json:"subject,omitempty"` // substring, case-insensitive
	Since   time.Time         `json:"since,omitzero"`
	Source  string            `json:"source,omitempty"`
	// All includes bans not enforced now (shadow, flag, expired, allowlisted).
	All    bool `json:"all,omitempty"`
	Offset int  `json:"offset,omitempty"`
	// Limit is the page size: default 100, at most MaxListLimit.
	Limit int `json:"limit,omitempty"`
}

// Page is one page of List.
type Page struct {
	Bans   []BanView `json:"bans"`
	Total  int       `json:"total"`
	Offset int       `json:"offset"`
	Limit  int       `json:"limit"`
	// NextOffset is the offset of the next page, absent on the last.
	NextOffset *int `json:"next_offset,omitempty"`
}

// BanRequest is a manual ban.
type BanRequest struct {
	Kind    event.SubjectKind `json:"subject_kind"`
	Subject string            `json:"subject"`
	// Action is "ban" (default) or "defer".
	Action event.Action `json:"action,omitempty"`
	// Message is the SMTP text (default DefaultMessage).
	Message string `json:"message,omitempty"`
	// Reason says why (required).
	Reason string `json:"reason"`
	// Expires ends the ban (RFC 3339); TTL is the same relative to now
	// ("24h"); neither: never.
	Expires event.OptTime `json:"expires,omitzero"`
	TTL     string        `json:"ttl,omitempty"`
	// OnBehalfOf names the person a tool (the abuse desk) acts for; it is
	// recorded as "<token name>/<on_behalf_of>".
	OnBehalfOf string `json:"on_behalf_of,omitempty"`
}

// ExtendRequest gives a ban a new, later expiry.
type ExtendRequest struct {
	Kind    event.SubjectKind `json:"subject_kind"`
	Subject string            `json:"subject"`
	// Reason says why (required).
	Reason string `json:"reason"`
	// Expires is the new end (RFC 3339), TTL the same relative to now
	// ("168h"): exactly one is required, and it must be later than the
	// ban's current expiry.
	Expires    event.OptTime `json:"expires,omitzero"`
	TTL        string        `json:"ttl,omitempty"`
	OnBehalfOf string        `json:"on_behalf_of,omitempty"`
}

// ChangeRequest names one key to unban or disallow, with the reason.
type ChangeRequest struct {
	Kind       event.SubjectKind `json:"subject_kind"`
	Subject    string            `json:"subject"`
	Reason     string            `json:"reason"`
	OnBehalfOf string            `json:"on_behalf_of,omitempty"`
}

// AllowRequest is an allowlist entry to add.
type AllowRequest struct {
	Kind       event.SubjectKind `json:"subject_kind"`
	Subject    string            `json:"subject"`
	Reason     string            `json:"reason"`
	Expires    event.OptTime     `json:"expires,omitzero"`
	TTL        string            `json:"ttl,omitempty"`
	OnBehalfOf string            `json:"on_behalf_of,omitempty"`
}

// Producer produces records and waits for their acknowledgement; ctx
// bounds the wait. *kgo.Client is adapted by KafkaProducer.
type Producer interface {
	Produce(ctx context.Context, r *kgo.Record) error
}

// KafkaProducer adapts a franz-go client.
type KafkaProducer struct{ Client *kgo.Client }

// Produce implements Producer with ProduceSync.
func (p KafkaProducer) Produce(ctx context.Context, r *kgo.Record) error {
	return p.Client.ProduceSync(ctx, r).FirstErr()
}

// Topics names the topics changes go to.
type Topics struct{ Bans, Allowlist string }

// Local is the Backend over the enforcer's own ban set and Kafka.
type Local struct {
	Set      *banset.Set
	Producer Producer
	Topics   Topics
	// Timeout bounds the wait for Kafka's acknowledgement of one change
	// (default 10s).
	Timeout time.Duration
	// Applied, when set, is called with every ban change Local applies to
	// the set (the enforcer prints it; the record's own arrival from Kafka
	// then changes nothing).
	Applied func(banset.Change)
}

func (l *Local) applied(c banset.Change) {
	if l.Applied != nil {
		l.Applied(c)
	}
}

var _ Backend = (*Local)(nil)

func (l *Local) view(b event.Ban) BanView {
	now := l.Set.Now()
	ex := l.Set.Exempt(&b)
	return BanView{Ban: b, Key: b.Key(), Enforced: banset.Enforced(&b, now) && !ex, Allowlisted: ex}
}

// Applying implements Backend.
func (l *Local) Applying(_ context.Context, subject string) (Lookup, error) {
	subject = strings.ToLower(strings.TrimSpace(subject))
	if err := event.CheckToken(subject); err != nil || subject == "" {
		return Lookup{}, fmt.Errorf("%w: subject: %v", ErrInvalid, orEmpty(err))
	}
	out := Lookup{Subject: subject, Bans: []BanView{}, Allow: []event.AllowEntry{}}
	for _, b := range l.Set.Applying(subject) {
		out.Bans = append(out.Bans, l.view(b))
	}
	for _, a := range l.Set.ListAllow("", subject) {
		s := strings.ToLower(a.Subject)
		if s == subject || event.Domain(s) == subject || event.Domain(subject) == s || strings.Contains(s, event.PairSeparator) {
			out.Allow = append(out.Allow, a)
		}
	}
	return out, nil
}

// List implements Backend.
func (l *Local) List(_ context.Context, q ListQuery) (Page, error) {
	if q.Kind != "" && !q.Kind.Valid() {
		return Page{}, fmt.Errorf("%w: subject_kind %q", ErrInvalid, q.Kind)
	}
	if q.Offset < 0 {
		return Page{}, fmt.Errorf("%w: offset %d < 0", ErrInvalid, q.Offset)
	}
	switch {
	case q.Limit == 0:
		q.Limit = 100
	case q.Limit < 0 || q.Limit > MaxListLimit:
		return Page{}, fmt.Errorf("%w: limit %d not in 1..%d", ErrInvalid, q.Limit, MaxListLimit)
	}
	bans, total := l.Set.List(banset.Filter{
		Rule: q.Rule, Kind: q.Kind, Subject: q.Subject, Since: q.Since, Source: q.Source, All: q.All,
	}, q.Offset, q.Limit)
	p := Page{Bans: make([]BanView, 0, len(bans)), Total: total, Offset: q.Offset, Limit: q.Limit}
	for _, b := range bans {
		p.Bans = append(p.Bans, l.view(b))
	}
	if next := q.Offset + len(bans); next < total {
		p.NextOffset = &next
	}
	return p, nil
}

// Get implements Backend.
func (l *Local) Get(_ context.Context, kind event.SubjectKind, subject string) (BanView, error) {
	key, err := checkSubject(kind, subject)
	if err != nil {
		return BanView{}, err
	}
	b, ok := l.Set.Get(key)
	if !ok {
		return BanView{}, fmt.Errorf("%w: ban %s", ErrNotFound, key)
	}
	return l.view(b), nil
}

// Ban implements Backend.
func (l *Local) Ban(ctx context.Context, actor string, r BanRequest) (BanView, error) {
	key, err := checkSubject(r.Kind, r.Subject)
	if err != nil {
		return BanView{}, err
	}
	actor, err = checkChange(actor, r.OnBehalfOf, r.Reason)
	if err != nil {
		return BanView{}, err
	}
	if r.Action == "" {
		r.Action = event.ActionBan
	}
	if r.Action != event.ActionBan && r.Action != event.ActionDefer {
		return BanView{}, fmt.Errorf("%w: action %q: want ban or defer", ErrInvalid, r.Action)
	}
	if r.Message == "" {
		r.Message = DefaultMessage
	}
	now := l.Set.Now()
	expires, err := expiry(now, r.Expires, r.TTL)
	if err != nil {
		return BanView{}, err
	}
	b := &event.Ban{
		Verdict: event.Verdict{
			ID: "api-" + randomID(), TS: now, Rule: ManualRule, SubjectKind: r.Kind, Subject: key[len(r.Kind)+1:],
			Action: r.Action, Message: r.Message, Evidence: map[string]float64{}, Expires: expires,
			WindowStart: now, WindowEnd: now,
		},
		Source: ManualSource, Level: 1, Actor: actor, Reason: r.Reason,
	}
	if old, ok := l.Set.Get(key); ok && old.Source == ManualSource {
		b.Level = old.Level + 1
	}
	value, err := event.MarshalBan(b)
	if err != nil {
		return BanView{}, fmt.Errorf("encode ban: %w", err)
	}
	// The record must be one every enforcer accepts: decode it as they do.
	stored, err := banset.DecodeBan([]byte(key), value)
	if err != nil {
		return BanView{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := l.produce(ctx, l.Topics.Bans, key, value, actor, r.Reason, "ban"); err != nil {
		return BanView{}, err
	}
	l.applied(l.Set.Put(stored))
	return l.view(*stored), nil
}

// Extend implements Backend. The record is the ban as it is in the set
// with Expires, Actor and Reason replaced: the same verdict id, time,
// source, rule, evidence, window, event ids, level, action and message, so
// the abuse desk still explains it by its rule and history links it to its
// verdict and events.
func (l *Local) Extend(ctx context.Context, actor string, r ExtendRequest) (BanView, error) {
	key, err := checkSubject(r.Kind, r.Subject)
	if err != nil {
		return BanView{}, err
	}
	actor, err = checkChange(actor, r.OnBehalfOf, r.Reason)
	if err != nil {
		return BanView{}, err
	}
	if r.TTL == "" && r.Expires.IsZero() {
		return BanView{}, fmt.Errorf("%w: give the new expiry as ttl or expires", ErrInvalid)
	}
	now := l.Set.Now()
	expires, err := expiry(now, r.Expires, r.TTL)
	if err != nil {
		return BanView{}, err
	}
	old, ok := l.Set.Get(key)
	if !ok {
		return BanView{}, fmt.Errorf("%w: ban %s", ErrNotFound, key)
	}
	if old.Expires.IsZero() {
		return BanView{}, fmt.Errorf("%w: ban %s never expires: nothing to extend", ErrInvalid, key)
	}
	if !expires.After(old.Expires.Time) {
		return BanView{}, fmt.Errorf("%w: new expiry %s is not later than the current %s", ErrInvalid,
			expires.UTC().Format(time.RFC3339), old.Expires.UTC().Format(time.RFC3339))
	}
	b := old
	b.Evidence = make(map[string]float64, len(old.Evidence))
	for k, v := range old.Evidence {
		b.Evidence[k] = v
	}
	b.Expires, b.Actor, b.Reason = expires, actor, r.Reason
	value, err := event.MarshalBan(&b)
	if err != nil {
		return BanView{}, fmt.Errorf("encode ban: %w", err)
	}
	stored, err := banset.DecodeBan([]byte(key), value)
	if err != nil {
		return BanView{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := l.produce(ctx, l.Topics.Bans, key, value, actor, r.Reason, "extend"); err != nil {
		return BanView{}, err
	}
	l.applied(l.Set.Put(stored))
	return l.view(*stored), nil
}

// Unban implements Backend.
func (l *Local) Unban(ctx context.Context, actor string, r ChangeRequest) error {
	key, err := checkSubject(r.Kind, r.Subject)
	if err != nil {
		return err
	}
	actor, err = checkChange(actor, r.OnBehalfOf, r.Reason)
	if err != nil {
		return err
	}
	if _, ok := l.Set.Get(key); !ok {
		return fmt.Errorf("%w: ban %s", ErrNotFound, key)
	}
	if err := l.produce(ctx, l.Topics.Bans, key, nil, actor, r.Reason, "unban"); err != nil {
		return err
	}
	l.applied(l.Set.Delete(key))
	return nil
}

// Allowlist implements Backend.
func (l *Local) Allowlist(_ context.Context, kind event.SubjectKind, sub string) ([]event.AllowEntry, error) {
	if kind != "" && !kind.Valid() {
		return nil, fmt.Errorf("%w: subject_kind %q", ErrInvalid, kind)
	}
	return l.Set.ListAllow(kind, sub), nil
}

// Allow implements Backend.
func (l *Local) Allow(ctx context.Context, actor string, r AllowRequest) (event.AllowEntry, error) {
	key, err := checkSubject(r.Kind, r.Subject)
	if err != nil {
		return event.AllowEntry{}, err
	}
	actor, err = checkChange(actor, r.OnBehalfOf, r.Reason)
	if err != nil {
		return event.AllowEntry{}, err
	}
	now := l.Set.Now()
	expires, err := expiry(now, r.Expires, r.TTL)
	if err != nil {
		return event.AllowEntry{}, err
	}
	a := &event.AllowEntry{TS: now, Kind: r.Kind, Subject: key[len(r.Kind)+1:], Reason: r.Reason, Actor: actor, Expires: expires}
	value, err := event.MarshalAllowEntry(a)
	if err != nil {
		return event.AllowEntry{}, fmt.Errorf("encode allowlist entry: %w", err)
	}
	stored, err := banset.DecodeAllow([]byte(key), value)
	if err != nil {
		return event.AllowEntry{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := l.produce(ctx, l.Topics.Allowlist, key, value, actor, r.Reason, "allow"); err != nil {
		return event.AllowEntry{}, err
	}
	l.Set.PutAllow(stored)
	return *stored, nil
}

// Disallow implements Backend.
func (l *Local) Disallow(ctx context.Context, actor string, r ChangeRequest) error {
	key, err := checkSubject(r.Kind, r.Subject)
	if err != nil {
		return err
	}
	actor, err = checkChange(actor, r.OnBehalfOf, r.Reason)
	if err != nil {
		return err
	}
	if _, ok := l.Set.GetAllow(key); !ok {
		return fmt.Errorf("%w: allowlist entry %s", ErrNotFound, key)
	}
	if err := l.produce(ctx, l.Topics.Allowlist, key, nil, actor, r.Reason, "disallow"); err != nil {
		return err
	}
	l.Set.DeleteAllow(key)
	return nil
}

func (l *Local) produce(ctx context.Context, topic, key string, value []byte, actor, reason, change string) error {
	if l.Producer == nil {
		return fmt.Errorf("%w: no producer (agent mode has no operator API)", ErrUnavailable)
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	rec := &kgo.Record{Topic: topic, Key: []byte(key), Value: value, Headers: []kgo.RecordHeader{
		{Key: event.HeaderActor, Value: []byte(actor)},
		{Key: event.HeaderChangeReason, Value: []byte(reason)},
		{Key: event.HeaderChange, Value: []byte(change)},
	}}
	if err := l.Producer.Produce(ctx, rec); err != nil {
		return fmt.Errorf("%w: produce to %s: %w", ErrUnavailable, topic, err)
	}
	return nil
}

// checkSubject validates a subject for its kind and returns its key.
// Addresses and domains are lower-cased, IPs canonical.
func checkSubject(kind event.SubjectKind, subject string) (string, error) {
	if !kind.Valid() {
		return "", fmt.Errorf("%w: subject_kind %q", ErrInvalid, kind)
	}
	if subject == "" {
		return "", fmt.Errorf("%w: empty subject", ErrInvalid)
	}
	if err := event.CheckToken(subject); err != nil {
		return "", fmt.Errorf("%w: subject: %w", ErrInvalid, err)
	}
	s := strings.ToLower(subject)
	addr := func(a string) bool {
		at := strings.LastIndexByte(a, '@')
		return at > 0 && at < len(a)-1 && !strings.Contains(a, event.PairSeparator)
	}
	switch kind {
	case event.KindSender, event.KindRecipient:
		if !addr(s) {
			return "", fmt.Errorf("%w: %s %q is not local@domain", ErrInvalid, kind, subject)
		}
	case event.KindSenderDomain, event.KindRecipientDomain:
		if strings.ContainsAny(s, "@/") || strings.HasPrefix(s, ".") || strings.HasSuffix(s, ".") {
			return "", fmt.Errorf("%w: %s %q is not a domain", ErrInvalid, kind, subject)
		}
	case event.KindClientIP:
		a, err := netip.ParseAddr(s)
		if err != nil {
			return "", fmt.Errorf("%w: client_ip %q: %w", ErrInvalid, subject, err)
		}
		s = a.Unmap().String()
	case event.KindSenderRecipient:
		snd, rcpt, ok := event.SplitPair(s)
		if !ok || !addr(snd) || !addr(rcpt) {
			return "", fmt.Errorf("%w: sender_recipient %q is not sender%srecipient", ErrInvalid, subject, event.PairSeparator)
		}
	}
	return event.BanKey(kind, s), nil
}

// checkChange validates the reason and builds the recorded actor.
func checkChange(actor, onBehalfOf, reason string) (string, error) {
	if strings.TrimSpace(reason) == "" {
		return "", fmt.Errorf("%w: a reason is required", ErrInvalid)
	}
	if onBehalfOf != "" {
		actor += "/" + onBehalfOf
	}
	for _, f := range []struct{ name, v string }{{"reason", reason}, {"actor", actor}} {
		if len(f.v) > 400 || strings.ContainsFunc(f.v, func(r rune) bool { return r < ' ' || r == 0x7f }) {
			return "", fmt.Errorf("%w: %s must be one line of at most 400 bytes without control characters", ErrInvalid, f.name)
		}
	}
	return actor, nil
}

func expiry(now time.Time, at event.OptTime, ttl string) (event.OptTime, error) {
	if ttl != "" {
		if !at.IsZero() {
			return event.OptTime{}, fmt.Errorf("%w: give expires or ttl, not both", ErrInvalid)
		}
		d, err := time.ParseDuration(ttl)
		if err != nil || d <= 0 {
			return event.OptTime{}, fmt.Errorf("%w: ttl %q: want a positive duration such as 24h", ErrInvalid, ttl)
		}
		return event.OptTime{Time: now.Add(d).UTC().Truncate(time.Second)}, nil
	}
	if !at.IsZero() && !at.After(now) {
		return event.OptTime{}, fmt.Errorf("%w: expires %s is not in the future", ErrInvalid, at.UTC().Format(time.RFC3339))
	}
	return at, nil
}

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func orEmpty(err error) any {
	if err == nil {
		return "empty"
	}
	return err
}
