package rules

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/state"
)

// Stage is where a rule runs (see DESIGN.md, Flow).
type Stage string

// The stages.
const (
	// StageSender reads mail.events, keyed by account: the account, its
	// senders, its sender domains and its client IPs are co-located there,
	// so sender-side key kinds (sender, account, sender_domain, client_ip)
	// see all of a subject's events in one partition.
	StageSender Stage = "sender"
	// StageRecipient reads mail.outcomes, keyed by recipient domain (and
	// mail.queue, keyed by host): recipient-side key kinds (recipient,
	// recipient_domain, and sender_recipient pairs, whose recipient fixes
	// the partition) belong there.
	StageRecipient Stage = "recipient"
)

// Stages lists the stages in processing order.
func Stages() []Stage { return []Stage{StageSender, StageRecipient} }

// KindAllowed reports whether a rule of stage s may key its state by k:
// only kinds co-located in the stage's input partitions.
func (s Stage) KindAllowed(k event.SubjectKind) bool {
	switch s {
	case StageSender:
		return k == event.KindSender || k == event.KindAccount || k == event.KindSenderDomain || k == event.KindClientIP
	case StageRecipient:
		return k == event.KindRecipient || k == event.KindRecipientDomain || k == event.KindSenderRecipient
	}
	return false
}

// Input is one record a stage processes: a delivery event (mail.events in
// the sender stage; the recipient stage's outcome records carry the same
// fields) or a queue sample (mail.queue). Exactly one field is set.
type Input struct {
	Event *event.DeliveryEvent
	Queue *event.QueueSample
}

// TS is the input's event time.
func (in *Input) TS() time.Time {
	if in.Event != nil {
		return in.Event.TS
	}
	return in.Queue.TS
}

// ID is the input's event id ("" for queue samples).
func (in *Input) ID() string {
	if in.Event != nil {
		return in.Event.ID
	}
	return ""
}

// KeyOf is the state key of an event for a key kind: lower-cased like ban
// keys, "" when the event has none (the null sender, no client IP, ...).
// The processor keys a rule's state by it unless the rule is a Keyer.
func KeyOf(kind event.SubjectKind, ev *event.DeliveryEvent) string {
	switch kind {
	case event.KindSender:
		return strings.ToLower(ev.Sender) // no allocation when already lower-case
	case event.KindAccount:
		return strings.ToLower(ev.Account())
	case event.KindSenderDomain:
		return strings.ToLower(event.Domain(ev.Sender))
	case event.KindClientIP:
		return ev.ClientIP
	case event.KindRecipient:
		return strings.ToLower(ev.Recipient)
	case event.KindRecipientDomain:
		return strings.ToLower(event.Domain(ev.Recipient))
	case event.KindSenderRecipient:
		if ev.Sender == "" || ev.Recipient == "" {
			return ""
		}
		return strings.ToLower(event.PairSubject(ev.Sender, ev.Recipient))
	}
	return ""
}

// Info describes a rule to the processor.
type Info struct {
	// Code is the rule's stable name: the verdicts' "rule", a metric label.
	Code string
	// Stage is the stage it runs in.
	Stage Stage
	// Kind is the key kind of its state, and the subject kind of its
	// verdicts unless a Crossing says otherwise.
	Kind event.SubjectKind
	// Window is the span of its evidence: the verdict's window, and how
	// far behind its key's newest event an event may come and still count.
	Window time.Duration
	// Action is what its verdicts ask for: event.ActionBan or
	// event.ActionDefer (the processor turns it into flag in shadow mode).
	Action event.Action
	// Shadow: verdicts are recorded with action flag, never enforced.
	Shadow bool
}

// Rule is one detection. The processor calls it on the partition's
// goroutine, in input order; it never reads the wall clock.
//
// For each input: Filter (cheap, no state); if true, the processor
// touches the key's record in the table of Info().Kind and calls Update,
// then Threshold. A crossing goes to the processor, which applies the
// allowlist, the ban ledger's silence while banned, shadow mode and
// escalation, and builds the verdict.
type Rule interface {
	Info() Info
	// Filter reports whether the rule looks at in.
	Filter(in *Input) bool
	// Update folds in into the key's slots.
	Update(in *Input, rec state.Record)
	// Threshold tests the key's slots after Update.
	Threshold(in *Input, rec state.Record) (Crossing, bool)
}

// Keyer is implemented by rules whose key is not KeyOf(Info().Kind, ev):
// rules fed by queue samples (keyed by host or top sender), or keyed by a
// derived value. An empty key skips the input.
type Keyer interface {
	Key(in *Input) string
}

// Crossing is what a rule returns when a key crosses its threshold.
type Crossing struct {
	// Subject is what the verdict is about; empty means the key.
	Subject string
	// Kind is the subject's kind; empty means Info().Kind.
	Kind event.SubjectKind
	// Evidence holds the numbers that crossed (counts, ratios, the
	// thresholds themselves) and, for lookups, the answer's facts.
	Evidence map[string]float64
	// Message is the text shown at SMTP time (one line, at most
	// MaxMessageLen bytes; the processor refuses longer ones).
	Message string
	// FirstEventID is the first event of the evidence ("" if unknown).
	FirstEventID string
	// Action overrides Info().Action for this crossing when set, e.g. a
	// rate limit that defers while over its ceiling and bans far over it.
	Action event.Action
	// TTL, when set, is how long this verdict holds instead of the ban
	// ledger's escalating TTL (no escalation): a temporary refusal lasts
	// until the window can fall below the ceiling again.
	TTL time.Duration
	// Await, when set, asks for an outside answer (DNS, DNSBL) before the
	// rule decides: the processor starts it through Env.Resolver without
	// blocking the partition and, once the answer is in, calls the rule's
	// Resolved (the rule must be an Awaiter). Nothing else of the
	// crossing is used.
	Await *Lookup
}

// Lookup names an outside answer a rule needs: Kind is the resolver's
// own vocabulary ("mx", "dnsbl", ...), Name what to look up.
type Lookup struct {
	Kind string
	Name string
}

// Answer is a resolver's answer to a Lookup: a result class (the labels
// of mxwarden_detector_dns_lookups_total: ok, nxdomain, nodata, servfail,
// timeout, refused, error) and facts for the evidence.
type Answer struct {
	Result string
	Facts  map[string]float64
}

// Awaiter is implemented by rules that return Crossing.Await. Resolved is
// called on the partition's goroutine with the key's record when the
// answer arrives; it decides as Threshold does (it must not Await again).
type Awaiter interface {
	Resolved(l Lookup, a Answer, rec state.Record) (Crossing, bool)
}

// Resolver starts lookups. Start must not block: the answer comes back
// later through the processor's Resolve, called by whoever owns the
// partition's goroutine (the service between polls, replay inline).
type Resolver interface {
	Start(l Lookup)
}

// Env is what rules get while they are built.
type Env struct {
	// TicketURL ends every SMTP-time message.
	TicketURL string
	// Layout returns the table layout of a key kind, on which the rule
	// declares the slots it needs.
	Layout func(event.SubjectKind) *state.Layout
}

// MaxMessageLen is the longest SMTP-time message event.Verdict.Validate accepts.
const MaxMessageLen = 400

// CheckMessage refuses a message template that could exceed
// MaxMessageLen or break a line; rules call it at build time with their
// longest possible message.
func CheckMessage(longest string) error {
	if strings.ContainsAny(longest, "\r\n\x00") {
		return errors.New("message: holds a line break or NUL (check ticket_url)")
	}
	if len(longest) > MaxMessageLen {
		return fmt.Errorf("message would be up to %d bytes, more than %d: shorten ticket_url", len(longest), MaxMessageLen)
	}
	return nil
}

// VerdictID derives a verdict's id from what identifies it: rule, subject,
// the event time it fired at, its window and the event that crossed the
// threshold. The same input therefore yields the same id on every replay.
func VerdictID(v *event.Verdict) string {
	h := sha256.New()
	var buf [8]byte
	for _, s := range []string{v.Rule, string(v.SubjectKind), v.Subject, v.LastEventID} {
		binary.BigEndian.PutUint64(buf[:], uint64(len(s)))
		h.Write(buf[:])
		h.Write([]byte(s))
	}
	for _, t := range []time.Time{v.TS, v.WindowStart} {
		binary.BigEndian.PutUint64(buf[:], uint64(t.UnixNano()))
		h.Write(buf[:])
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// FormatWindow renders a duration the way messages show it: "1h",
// "1h30m", "45m", "90s".
func FormatWindow(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
