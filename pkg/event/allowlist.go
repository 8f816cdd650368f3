package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// AllowEntry is one entry of the allowlist. It travels on the compacted
// mail.allowlist topic under Key() (the same "<kind>:<subject>" form as a
// ban); a tombstone (nil value) under the same key removes it. An entry
// always wins over a ban of the same subject: the detector does not ban it
// and the enforcer does not enforce a ban on it.
//
// Kind names what the entry covers: a sender, an account, a sender or
// recipient domain, a client IP, a recipient, or a sender→recipient pair.
type AllowEntry struct {
	V       int         `json:"v"`
	TS      time.Time   `json:"ts"` // when it was added
	Kind    SubjectKind `json:"subject_kind"`
	Subject string      `json:"subject"`
	// Reason says why, in the words of whoever added it (one line, ≤ 400 bytes).
	Reason string `json:"reason"`
	// Actor is who added it: an API token's name, "config", ...
	Actor   string  `json:"actor"`
	Expires OptTime `json:"expires"` // empty: never
}

// Key returns BanKey(a.Kind, a.Subject).
func (a *AllowEntry) Key() string { return BanKey(a.Kind, a.Subject) }

// Active reports whether the entry is in force at now.
func (a *AllowEntry) Active(now time.Time) bool {
	return a.Expires.IsZero() || now.Before(a.Expires.Time)
}

// Validate checks the entry's invariants. Errors wrap ErrInvalid.
func (a *AllowEntry) Validate() error {
	if a.V > SchemaVersion {
		return fmt.Errorf("allowlist entry v%d: %w", a.V, ErrUnsupportedVersion)
	}
	if !a.Kind.Valid() {
		return fmt.Errorf("%w: subject_kind %q", ErrInvalid, a.Kind)
	}
	if a.Subject == "" {
		return fmt.Errorf("%w: empty subject", ErrInvalid)
	}
	if err := CheckToken(a.Subject); err != nil {
		return fmt.Errorf("%w: subject: %w", ErrInvalid, err)
	}
	for _, f := range []struct{ name, v string }{{"reason", a.Reason}, {"actor", a.Actor}} {
		if strings.ContainsAny(f.v, "\r\n\x00") || len(f.v) > 400 {
			return fmt.Errorf("%w: %s must be one line of at most 400 bytes", ErrInvalid, f.name)
		}
	}
	return nil
}

// MarshalAllowEntry encodes a in the wire form.
func MarshalAllowEntry(a *AllowEntry) ([]byte, error) {
	c := *a
	c.V = SchemaVersion
	c.TS = c.TS.UTC()
	return json.Marshal(&c)
}

// UnmarshalAllowEntry decodes and validates one wire record.
func UnmarshalAllowEntry(b []byte) (*AllowEntry, error) {
	var a AllowEntry
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: %w: decode allowlist entry: %w", ErrInvalid, ErrDecode, err)
	}
	if a.V == 0 {
		a.V = 1
	}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return &a, nil
}
