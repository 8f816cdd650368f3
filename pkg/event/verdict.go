package event

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// SubjectKind says what a verdict or ban is about.
type SubjectKind string

// The subject kinds. Sender-side kinds ban mail from a subject, recipient-side
// kinds ban mail to it.
const (
	KindSender          SubjectKind = "sender"
	KindAccount         SubjectKind = "account"
	KindSenderDomain    SubjectKind = "sender_domain"
	KindClientIP        SubjectKind = "client_ip"
	KindRecipient       SubjectKind = "recipient"
	KindRecipientDomain SubjectKind = "recipient_domain"
	// KindSenderRecipient bans one sender's mail to one recipient only (the
	// recipient refuses that sender but accepts others). Its subject is
	// PairSubject(sender, recipient).
	KindSenderRecipient SubjectKind = "sender_recipient"
)

// PairSeparator joins the two addresses of a KindSenderRecipient subject.
const PairSeparator = "=>"

// PairSubject returns the subject of a sender→recipient ban.
func PairSubject(sender, recipient string) string {
	return sender + PairSeparator + recipient
}

// SplitPair splits a KindSenderRecipient subject into its sender and
// recipient; ok is false when s holds no separator.
func SplitPair(s string) (sender, recipient string, ok bool) {
	i := strings.LastIndex(s, PairSeparator)
	if i < 0 {
		return "", "", false
	}
	return s[:i], s[i+len(PairSeparator):], true
}

// Valid reports whether k is a documented kind.
func (k SubjectKind) Valid() bool {
	switch k {
	case KindSender, KindAccount, KindSenderDomain, KindClientIP, KindRecipient, KindRecipientDomain,
		KindSenderRecipient:
		return true
	}
	return false
}

// RecipientSide reports whether the kind bans mail *to* the subject.
func (k SubjectKind) RecipientSide() bool {
	return k == KindRecipient || k == KindRecipientDomain
}

// Action is what a verdict asks for.
type Action string

// The actions.
const (
	ActionBan  Action = "ban"  // enforce: reject at SMTP time
	ActionFlag Action = "flag" // record only (below the ban threshold, or the rule is in shadow mode)
	// ActionDefer asks for a temporary refusal (Postfix DEFER_IF_PERMIT, a 4xx)
	// while it lasts, e.g. an account over its hourly rate limit.
	ActionDefer Action = "defer"
)

// Valid reports whether a is a documented action.
func (a Action) Valid() bool {
	return a == ActionBan || a == ActionFlag || a == ActionDefer
}

// OptTime is a time that encodes as RFC 3339 UTC, or as "" when zero.
type OptTime struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t OptTime) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte(`""`), nil
	}
	return json.Marshal(t.UTC().Format(time.RFC3339))
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *OptTime) UnmarshalJSON(b []byte) error {
	if bytes.Equal(b, []byte(`""`)) || bytes.Equal(b, []byte("null")) {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	t.Time = v.UTC()
	return nil
}

// Verdict is a rule's judgement on one subject over one window.
type Verdict struct {
	V           int         `json:"v"`
	ID          string      `json:"id"` // deterministic: the same input yields the same id
	TS          time.Time   `json:"ts"` // event time at which the threshold was crossed
	Rule        string      `json:"rule"`
	SubjectKind SubjectKind `json:"subject_kind"`
	Subject     string      `json:"subject"`
	Action      Action      `json:"action"`
	// Message is the text shown to the sending client at SMTP time.
	Message string `json:"message"`
	// Evidence holds the numbers that crossed the threshold (counts, ratios,
	// the thresholds themselves), keyed by name.
	Evidence     map[string]float64 `json:"evidence"`
	Expires      OptTime            `json:"expires"`
	WindowStart  time.Time          `json:"window_start"`
	WindowEnd    time.Time          `json:"window_end"`
	FirstEventID string             `json:"first_event_id"`
	LastEventID  string             `json:"last_event_id"`
	Shadow       bool               `json:"shadow,omitempty"` // the rule runs in shadow mode: recorded, never enforced
}

// Ban is one entry of the ban set. It travels on the compacted mail.bans
// topic under Key(); a tombstone (nil value) under the same key lifts it.
type Ban struct {
	Verdict
	// Source is "rule" for bans the detector made, "api" for manual bans.
	Source string `json:"source"`
	// Level counts how often this subject has been banned (escalation: each
	// repeat multiplies the TTL).
	Level int `json:"level"`
	// Actor is who made a manual ban (an API token's name); empty for rules.
	Actor string `json:"actor,omitempty"`
	// Reason is the operator's reason for a manual ban (one line, at most
	// 400 bytes); the SMTP text stays in Message.
	Reason string `json:"reason,omitempty"`
}

// BanKey is the Kafka key of a ban: "<kind>:<subject>" with the subject
// lower-cased, so the compacted topic keeps one ban per subject.
func BanKey(kind SubjectKind, subject string) string {
	return string(kind) + ":" + strings.ToLower(subject)
}

// Key returns BanKey(b.SubjectKind, b.Subject).
func (b *Ban) Key() string { return BanKey(b.SubjectKind, b.Subject) }

// Active reports whether the ban is in force at now.
func (b *Ban) Active(now time.Time) bool {
	return !b.Shadow && (b.Expires.IsZero() || now.Before(b.Expires.Time))
}

// Validate checks a verdict's invariants. Errors wrap ErrInvalid.
func (v *Verdict) Validate() error {
	if v.V > SchemaVersion {
		return fmt.Errorf("verdict v%d: %w", v.V, ErrUnsupportedVersion)
	}
	if v.Rule == "" {
		return fmt.Errorf("%w: verdict without rule", ErrInvalid)
	}
	if !v.SubjectKind.Valid() {
		return fmt.Errorf("%w: subject_kind %q", ErrInvalid, v.SubjectKind)
	}
	if v.Subject == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalid)
	}
	if err := CheckToken(v.Subject); err != nil {
		return fmt.Errorf("%w: subject: %w", ErrInvalid, err)
	}
	if !v.Action.Valid() {
		return fmt.Errorf("%w: action %q", ErrInvalid, v.Action)
	}
	if strings.ContainsAny(v.Message, "\r\n\x00") || len(v.Message) > 400 {
		// The message goes verbatim into a policy answer and a map file.
		return fmt.Errorf("%w: message must be one line of at most 400 bytes", ErrInvalid)
	}
	return nil
}

// MarshalVerdict encodes v in the wire form.
func MarshalVerdict(v *Verdict) ([]byte, error) {
	c := *v
	c.V = SchemaVersion
	c.TS = c.TS.UTC()
	c.WindowStart = c.WindowStart.UTC()
	c.WindowEnd = c.WindowEnd.UTC()
	return json.Marshal(&c)
}

// UnmarshalVerdict decodes and validates one wire record.
func UnmarshalVerdict(b []byte) (*Verdict, error) {
	var v Verdict
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: %w: decode verdict: %w", ErrInvalid, ErrDecode, err)
	}
	if v.V == 0 {
		v.V = 1
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	return &v, nil
}

// MarshalBan encodes b in the wire form.
func MarshalBan(b *Ban) ([]byte, error) {
	c := *b
	c.V = SchemaVersion
	c.TS = c.TS.UTC()
	c.WindowStart = c.WindowStart.UTC()
	c.WindowEnd = c.WindowEnd.UTC()
	return json.Marshal(&c)
}

// UnmarshalBan decodes and validates one wire record.
func UnmarshalBan(b []byte) (*Ban, error) {
	var v Ban
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("%w: %w: decode ban: %w", ErrInvalid, ErrDecode, err)
	}
	if v.V == 0 {
		v.V = 1
	}
	if err := v.Validate(); err != nil {
		return nil, err
	}
	for _, f := range []struct{ name, v string }{{"actor", v.Actor}, {"reason", v.Reason}} {
		if strings.ContainsAny(f.v, "\r\n\x00") || len(f.v) > 400 {
			return nil, fmt.Errorf("%w: ban %s must be one line of at most 400 bytes", ErrInvalid, f.name)
		}
	}
	return &v, nil
}
