package event

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Outcome is the slim record of one delivery event that the detector's
// sender stage produces to the outcomes topic (kafka.topics.outcomes,
// default mail.outcomes), keyed by OutcomeKey, for the recipient stage: the
// fields the recipient-side rules read, and nothing of the message itself
// (no queue id, message id or size). Its wire form is JSON with the field
// names of DeliveryEvent, so a DeliveryEvent decoder reads it (the missing
// fields stay empty), and the recipient stage runs the same rules code on
// Event().
type Outcome struct {
	V         int       `json:"v"`
	ID        string    `json:"id"` // the delivery event's id: the recipient stage deduplicates on it
	TS        time.Time `json:"ts"`
	Host      string    `json:"host"` // the MTA host that made the attempt
	Sender    string    `json:"sender"`
	Recipient string    `json:"recipient"`
	Status    Status    `json:"status"`
	DSN       string    `json:"dsn"`
	ReplyCode int       `json:"reply_code"`
	ReplyText string    `json:"reply_text"` // cited blocklists and DNS failures are read from it
	Reason    Reason    `json:"reason"`
	Relay     string    `json:"relay"`
	ClientIP  string    `json:"client_ip"` // with sasl_user and sender: the account (DeliveryEvent.Account)
	SASLUser  string    `json:"sasl_user"`
	Subject   string    `json:"subject,omitempty"` // only when the MTA logged it (junk_to_third_party folds it)
}

// OutcomeOf derives the outcome record of e. ok is false for events that
// have no recipient (failed SMTP AUTH attempts): no recipient rule reads them.
func OutcomeOf(e *DeliveryEvent) (o Outcome, ok bool) {
	if e.Recipient == "" {
		return Outcome{}, false
	}
	return Outcome{
		V: SchemaVersion, ID: e.ID, TS: e.TS, Host: e.Host, Sender: e.Sender, Recipient: e.Recipient,
		Status: e.Status, DSN: e.DSN, ReplyCode: e.ReplyCode, ReplyText: e.ReplyText, Reason: e.Reason,
		Relay: e.Relay, ClientIP: e.ClientIP, SASLUser: e.SASLUser, Subject: e.Subject,
	}, true
}

// OutcomeKey is the Kafka key of an outcome: the recipient's domain,
// lower-cased, so every recipient of one domain, and every sender→recipient
// pair, is co-located in one partition of the recipient stage.
func OutcomeKey(o *Outcome) string { return strings.ToLower(Domain(o.Recipient)) }

// Event returns the outcome as a DeliveryEvent (the fields an outcome
// does not carry left empty), the input of the recipient stage's rules.
func (o *Outcome) Event() *DeliveryEvent {
	return &DeliveryEvent{
		V: o.V, ID: o.ID, TS: o.TS, Host: o.Host, Sender: o.Sender, Recipient: o.Recipient, Status: o.Status,
		DSN: o.DSN, ReplyCode: o.ReplyCode, ReplyText: o.ReplyText, Reason: o.Reason, Relay: o.Relay,
		ClientIP: o.ClientIP, SASLUser: o.SASLUser, Subject: o.Subject,
	}
}

// AppendOutcome appends the wire form of o to dst: the bytes json.Marshal
// writes for o with the schema version stamped and the time in UTC, as
// AppendEvent does for an event. A time json.Marshal refuses is written as
// "ts":"", which decoders refuse (the event it came from was refused
// before, so this does not happen in the flow).
func AppendOutcome(dst []byte, o *Outcome) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, SchemaVersion, 10)
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, o.ID)
	dst = append(dst, `,"ts":"`...)
	if ts := o.TS.UTC(); encodableTime(ts) {
		dst = ts.AppendFormat(dst, time.RFC3339Nano)
	}
	dst = append(dst, `","host":`...)
	dst = appendJSONString(dst, o.Host)
	dst = append(dst, `,"sender":`...)
	dst = appendJSONString(dst, o.Sender)
	dst = append(dst, `,"recipient":`...)
	dst = appendJSONString(dst, o.Recipient)
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, string(o.Status))
	dst = append(dst, `,"dsn":`...)
	dst = appendJSONString(dst, o.DSN)
	dst = append(dst, `,"reply_code":`...)
	dst = strconv.AppendInt(dst, int64(o.ReplyCode), 10)
	dst = append(dst, `,"reply_text":`...)
	dst = appendJSONString(dst, o.ReplyText)
	dst = append(dst, `,"reason":`...)
	dst = appendJSONString(dst, string(o.Reason))
	dst = append(dst, `,"relay":`...)
	dst = appendJSONString(dst, o.Relay)
	dst = append(dst, `,"client_ip":`...)
	dst = appendJSONString(dst, o.ClientIP)
	dst = append(dst, `,"sasl_user":`...)
	dst = appendJSONString(dst, o.SASLUser)
	if o.Subject != "" {
		dst = append(dst, `,"subject":`...)
		dst = appendJSONString(dst, o.Subject)
	}
	return append(dst, '}')
}

// DecodeOutcome decodes and validates one wire record into e, the form the
// recipient stage's rules read: DecodeEvent's decoder and checks (an
// outcome is a DeliveryEvent record without some fields). It also refuses
// a record without a recipient. Errors wrap ErrInvalid.
func DecodeOutcome(b []byte, e *DeliveryEvent) error {
	if err := DecodeEvent(b, e); err != nil {
		return err
	}
	if e.Recipient == "" {
		return errOutcomeRecipient
	}
	return nil
}

var errOutcomeRecipient = fmt.Errorf("%w: outcome without recipient", ErrInvalid)
