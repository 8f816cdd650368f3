package event

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Dispute statuses.
const (
	DisputeOpen   = "open"
	DisputeClosed = "closed"
)

// Dispute limits.
const (
	// MaxDisputeMessage bounds the text a person writes (bytes).
	MaxDisputeMessage = 2000
	// MaxDisputeBans bounds the ban keys one dispute names.
	MaxDisputeBans = 16
)

// Dispute is a person's objection to a ban, filed on the abuse desk's
// lookup page. It travels on the compacted mail.disputes topic keyed by
// ID; a later record under the same ID (Status "closed", with Actor and
// Note) closes it. History keeps every record.
type Dispute struct {
	V  int       `json:"v"`
	ID string    `json:"id"`
	TS time.Time `json:"ts"` // when filed, or when closed for a closing record
	// Subject is the address or domain that was looked up.
	Subject string `json:"subject"`
	// Bans are the keys ("<kind>:<subject>") of the bans that applied when
	// it was filed.
	Bans []string `json:"bans"`
	// Rules are the rule codes of those bans.
	Rules []string `json:"rules"`
	// Contact is the address the person asks to be answered at.
	Contact string `json:"contact"`
	// Message is what the person wrote (at most MaxDisputeMessage bytes;
	// line breaks and tabs allowed, no other control characters).
	Message string `json:"message"`
	// Status is DisputeOpen or DisputeClosed.
	Status string `json:"status"`
	// Filed is when it was filed (kept on the closing record).
	Filed time.Time `json:"filed"`
	// Actor is who closed it (an API token's name); empty while open.
	Actor string `json:"actor,omitempty"`
	// Note is the closing note (one line, at most 400 bytes).
	Note string `json:"note,omitempty"`
}

// Key returns the Kafka key of the dispute: its ID.
func (d *Dispute) Key() string { return d.ID }

// CheckDisputeText validates a person's dispute message: valid UTF-8, at
// most MaxDisputeMessage bytes, no control characters other than line
// breaks and tabs, no format characters (bidi controls) and not blank.
func CheckDisputeText(s string) error {
	switch {
	case strings.TrimSpace(s) == "":
		return fmt.Errorf("is empty")
	case len(s) > MaxDisputeMessage:
		return fmt.Errorf("is %d bytes, more than %d", len(s), MaxDisputeMessage)
	case !utf8.ValidString(s):
		return fmt.Errorf("is not valid UTF-8")
	}
	for _, r := range s {
		if r == '\n' || r == '\r' || r == '\t' {
			continue
		}
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return fmt.Errorf("holds the invisible character %U", r)
		}
	}
	return nil
}

// Validate checks the record's invariants. Errors wrap ErrInvalid.
func (d *Dispute) Validate() error {
	if d.V > SchemaVersion {
		return fmt.Errorf("dispute v%d: %w", d.V, ErrUnsupportedVersion)
	}
	if d.ID == "" || len(d.ID) > 64 || strings.ContainsFunc(d.ID, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-')
	}) {
		return fmt.Errorf("%w: dispute id %q", ErrInvalid, d.ID)
	}
	if d.Subject == "" {
		return fmt.Errorf("%w: dispute without subject", ErrInvalid)
	}
	if err := CheckToken(d.Subject); err != nil {
		return fmt.Errorf("%w: subject: %w", ErrInvalid, err)
	}
	if len(d.Bans) > MaxDisputeBans || len(d.Rules) > MaxDisputeBans {
		return fmt.Errorf("%w: more than %d bans", ErrInvalid, MaxDisputeBans)
	}
	for _, k := range append(append([]string(nil), d.Bans...), d.Rules...) {
		if err := CheckToken(k); err != nil || k == "" {
			return fmt.Errorf("%w: ban key or rule %q", ErrInvalid, k)
		}
	}
	if at := strings.LastIndexByte(d.Contact, '@'); at <= 0 || at == len(d.Contact)-1 || CheckToken(d.Contact) != nil {
		return fmt.Errorf("%w: contact is not local@domain", ErrInvalid)
	}
	if err := CheckDisputeText(d.Message); err != nil {
		return fmt.Errorf("%w: message %w", ErrInvalid, err)
	}
	if d.Status != DisputeOpen && d.Status != DisputeClosed {
		return fmt.Errorf("%w: status %q", ErrInvalid, d.Status)
	}
	for _, f := range []struct{ name, v string }{{"actor", d.Actor}, {"note", d.Note}} {
		if strings.ContainsAny(f.v, "\r\n\x00") || len(f.v) > 400 {
			return fmt.Errorf("%w: %s must be one line of at most 400 bytes", ErrInvalid, f.name)
		}
	}
	return nil
}

// MarshalDispute encodes d in the wire form.
func MarshalDispute(d *Dispute) ([]byte, error) {
	c := *d
	c.V = SchemaVersion
	c.TS = c.TS.UTC()
	c.Filed = c.Filed.UTC()
	return json.Marshal(&c)
}

// UnmarshalDispute decodes and validates one wire record.
func UnmarshalDispute(b []byte) (*Dispute, error) {
	var d Dispute
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("%w: %w: decode dispute: %w", ErrInvalid, ErrDecode, err)
	}
	if d.V == 0 {
		d.V = 1
	}
	if err := d.Validate(); err != nil {
		return nil, err
	}
	return &d, nil
}
