package event

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SchemaVersion is the version written into every record's "v" field.
const SchemaVersion = 1

// MaxAddressLen bounds sender, recipient and subject strings (RFC 5321
// allows 256 octets for a path; we accept a little more for the brackets a
// log may keep).
const MaxAddressLen = 320

// Status is the outcome of one recipient attempt.
type Status string

// The statuses ingest emits.
const (
	StatusSent     Status = "sent"
	StatusDeferred Status = "deferred"
	StatusBounced  Status = "bounced"
	StatusRejected Status = "rejected" // refused at SMTP time (NOQUEUE reject, rejected RCPT)
	StatusExpired  Status = "expired"  // removed from the queue after the maximal lifetime
	// StatusAuthFailed is a failed SMTP AUTH attempt (no message): the event
	// carries client_ip and, when the MTA logged it, sasl_user; sender and
	// recipient are empty. It feeds the detector's auth_failures rule.
	StatusAuthFailed Status = "auth_failed"
)

// Valid reports whether s is one of the documented statuses.
func (s Status) Valid() bool {
	switch s {
	case StatusSent, StatusDeferred, StatusBounced, StatusRejected, StatusExpired, StatusAuthFailed:
		return true
	}
	return false
}

// DeliveryEvent is one recipient attempt (or one rejected RCPT) as seen in
// an MTA log. Kafka key: Account().
type DeliveryEvent struct {
	V  int    `json:"v"`
	ID string `json:"id"` // stable across replays: host, file identity and offset of the line that completed it
	// TS is the event time: the log timestamp of the line that completed the event.
	TS        time.Time `json:"ts"`
	MTA       string    `json:"mta"` // "postfix" or "exim"
	Host      string    `json:"host"`
	QueueID   string    `json:"queue_id"`
	Sender    string    `json:"sender"` // envelope sender; "" for the null sender <>
	Recipient string    `json:"recipient"`
	Status    Status    `json:"status"`
	DSN       string    `json:"dsn"`        // enhanced status code, e.g. "5.1.1"
	ReplyCode int       `json:"reply_code"` // SMTP reply code of the remote (or local) answer, 0 if none
	ReplyText string    `json:"reply_text"`
	Reason    Reason    `json:"reason"` // classified reply, see Reason
	Relay     string    `json:"relay"`
	ClientIP  string    `json:"client_ip"`
	SASLUser  string    `json:"sasl_user"`
	MessageID string    `json:"message_id"`
	Size      int64     `json:"size"`
	Subject   string    `json:"subject,omitempty"` // only when the MTA logs it (header_checks WARN/INFO, Exim T=)
	// Headers are other header lines the MTA logged for the message, as
	// "Name: value" in log order: the bulk and automation markers
	// (List-Unsubscribe, List-Unsubscribe-Post, Precedence, List-Id,
	// X-Mailer, Auto-Submitted, X-Cron-Env, ...) that Postfix
	// header_checks INFO lines or an Exim acl_smtp_data logwrite record
	// (see README, Logging headers). Empty when none were logged. At most
	// MaxHeaders entries of at most MaxHeaderLen bytes.
	Headers []string `json:"headers,omitempty"`
}

// Limits on DeliveryEvent.Headers.
const (
	MaxHeaders   = 16
	MaxHeaderLen = 512
)

// Account is the key that groups an event with the other mail of the same
// customer: the SASL login when there is one, else the envelope sender,
// else the client IP. It is the Kafka key of mail.events, so all of one
// account's events land in one partition.
//
// A failed login (StatusAuthFailed) belongs to no account yet: its key is
// the client IP, so every failure from one IP meets in one partition
// whatever login it tried (the detector's auth_failures rule counts there).
func (e *DeliveryEvent) Account() string {
	switch {
	case e.Status == StatusAuthFailed && e.ClientIP != "":
		return e.ClientIP
	case e.SASLUser != "":
		return e.SASLUser
	case e.Sender != "":
		return e.Sender
	default:
		return e.ClientIP
	}
}

// Validate checks the documented invariants. Errors wrap ErrInvalid.
func (e *DeliveryEvent) Validate() error {
	if e.V > SchemaVersion {
		return fmt.Errorf("event v%d: %w", e.V, ErrUnsupportedVersion)
	}
	if e.TS.IsZero() {
		return fmt.Errorf("%w: event without ts", ErrInvalid)
	}
	if !e.Status.Valid() {
		return fmt.Errorf("%w: event status %q", ErrInvalid, e.Status)
	}
	if len(e.Headers) > MaxHeaders {
		return fmt.Errorf("%w: event has %d headers, more than %d", ErrInvalid, len(e.Headers), MaxHeaders)
	}
	for _, h := range e.Headers {
		if len(h) > MaxHeaderLen {
			return fmt.Errorf("%w: event header longer than %d bytes", ErrInvalid, MaxHeaderLen)
		}
	}
	for _, f := range []struct{ name, v string }{
		{"sender", e.Sender}, {"recipient", e.Recipient}, {"sasl_user", e.SASLUser},
		{"client_ip", e.ClientIP}, {"queue_id", e.QueueID}, {"host", e.Host},
	} {
		if err := CheckToken(f.v); err != nil {
			return fmt.Errorf("%w: event %s: %w", ErrInvalid, f.name, err)
		}
	}
	return nil
}

// CheckToken refuses strings that must never reach an MTA map, a policy
// answer or a query unquoted: longer than MaxAddressLen, not UTF-8, or
// holding white space or control characters (newline, NUL, ...).
func CheckToken(s string) error {
	if len(s) > MaxAddressLen {
		return fmt.Errorf("longer than %d bytes", MaxAddressLen)
	}
	if printableASCII(s) {
		return nil // the common case, and none of those characters is refused
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("not valid UTF-8")
	}
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == unicode.ReplacementChar {
			return fmt.Errorf("holds character %U", r)
		}
	}
	return nil
}

// printableASCII reports whether s holds only the bytes '!' to '~'.
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// NormalizeAddress lower-cases an address and strips the angle brackets a
// log keeps around it. It does not validate; call CheckToken for that.
func NormalizeAddress(s string) string {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(s, "<")
	s = strings.TrimSuffix(s, ">")
	return strings.ToLower(s)
}

// Domain returns the part of an address after the last '@', or "" if none.
func Domain(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// MarshalEvent encodes e in the wire form, stamping the schema version and
// normalising the time to UTC: the bytes json.Marshal writes for it,
// written by AppendEvent. A time outside the years 0-9999 is an error, as
// for json.Marshal.
func MarshalEvent(e *DeliveryEvent) ([]byte, error) {
	if !encodableTime(e.TS.UTC()) {
		return nil, errTimeRange
	}
	return AppendEvent(make([]byte, 0, eventSizeHint(e)), e), nil
}

// UnmarshalEvent decodes and validates one wire record, with DecodeEvent:
// the JSON encoding/json accepts for a DeliveryEvent (fields in any order,
// case-insensitive names, unknown fields ignored, null leaving a field
// empty), v 0 read as 1, a newer version refused with
// ErrUnsupportedVersion. Errors wrap ErrInvalid, and ErrDecode too when
// the record is not such JSON.
func UnmarshalEvent(b []byte) (*DeliveryEvent, error) {
	e := new(DeliveryEvent)
	if err := DecodeEvent(b, e); err != nil {
		return nil, err
	}
	return e, nil
}
