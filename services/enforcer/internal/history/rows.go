package history

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// The tables the writer fills, with their INSERT column lists.
var (
	eventsTable = &Table{Name: "events", TTLKey: "events", Key: 1, Columns: []Column{
		{"ts", kTime}, {"id", kString}, {"mta", kString}, {"host", kString}, {"queue_id", kString},
		{"account", kString}, {"sender", kString}, {"sender_domain", kString}, {"recipient", kString},
		{"recipient_domain", kString}, {"status", kString}, {"dsn", kString}, {"reply_code", kU16},
		{"reply_text", kString}, {"reason", kString}, {"relay", kString}, {"client_ip", kString},
		{"sasl_user", kString}, {"message_id", kString}, {"size", kU64}, {"subject", kString},
	}}
	verdictsTable = &Table{Name: "verdicts", TTLKey: "verdicts", Key: 1, Columns: []Column{
		{"ts", kTime}, {"id", kString}, {"rule", kString}, {"subject_kind", kString}, {"subject", kString},
		{"action", kString}, {"message", kString}, {"evidence", kString}, {"expires", kTime},
		{"window_start", kTime}, {"window_end", kTime}, {"first_event_id", kString},
		{"last_event_id", kString}, {"shadow", kU8},
	}}
	bansTable = &Table{Name: "bans", TTLKey: "bans", Key: 1, Columns: []Column{
		{"ts", kTime}, {"row_id", kString}, {"op", kString}, {"source", kString}, {"actor", kString},
		{"subject_kind", kString}, {"subject", kString}, {"rule", kString}, {"action", kString},
		{"message", kString}, {"evidence", kString}, {"expires", kTime}, {"level", kU16},
		{"verdict_id", kString}, {"shadow", kU8},
	}}
	queueTable = &Table{Name: "queue_samples", TTLKey: "queue_samples", Key: 1, Columns: []Column{
		{"ts", kTime}, {"row_id", kString}, {"mta", kString}, {"host", kString}, {"total", kU32}, {"queues", kString},
		{"top_senders", kStrings}, {"top_sender_counts", kU32s}, {"top_reasons", kStrings},
		{"top_reason_counts", kU32s},
	}}
	allowTable = &Table{Name: "allowlist_changes", TTLKey: "allowlist_changes", Key: 1, Columns: []Column{
		{"ts", kTime}, {"row_id", kString}, {"op", kString}, {"subject_kind", kString}, {"subject", kString},
		{"reason", kString}, {"actor", kString}, {"expires", kTime},
	}}
	// Tables in the order the writer inserts them.
	Tables = []*Table{eventsTable, verdictsTable, bansTable, queueTable, allowTable}
)

// ActorHeader is the Kafka record header that names who made a manual
// change (the API's token name); the writer stores it in bans.actor and
// allowlist_changes.actor (an AllowEntry's own actor field wins).
const ActorHeader = "mxwarden-actor"

// EventRow converts an event.
func EventRow(e *event.DeliveryEvent) []any {
	return []any{
		e.TS.UTC(), e.ID, e.MTA, e.Host, e.QueueID, e.Account(), e.Sender, event.Domain(e.Sender),
		e.Recipient, event.Domain(e.Recipient), string(e.Status), e.DSN, clampU16(e.ReplyCode),
		e.ReplyText, string(e.Reason), e.Relay, e.ClientIP, e.SASLUser, e.MessageID, uint64(max(e.Size, 0)), e.Subject,
	}
}

// VerdictRow converts a verdict.
func VerdictRow(v *event.Verdict) []any {
	return []any{
		v.TS.UTC(), v.ID, v.Rule, string(v.SubjectKind), v.Subject, string(v.Action), v.Message,
		evidenceJSON(v.Evidence), v.Expires.UTC(), v.WindowStart.UTC(), v.WindowEnd.UTC(),
		v.FirstEventID, v.LastEventID, b2u(v.Shadow),
	}
}

// BanRow converts a record of the bans topic: b is nil for a tombstone
// (a lift); key is the record's key, ts its timestamp, rowID partition/offset.
func BanRow(b *event.Ban, key string, ts time.Time, rowID, actor string) []any {
	if b == nil {
		kind, subject := splitKey(key)
		return []any{ts.UTC(), rowID, "lift", "", actor, kind, subject, "", "", "", "{}", time.Time{}, uint16(0), "", uint8(0)}
	}
	return []any{
		b.TS.UTC(), rowID, "ban", b.Source, actor, string(b.SubjectKind), b.Subject, b.Rule, string(b.Action),
		b.Message, evidenceJSON(b.Evidence), b.Expires.UTC(), clampU16(b.Level), b.ID, b2u(b.Shadow),
	}
}

// QueueRow converts a queue sample; rowID is partition/offset.
func QueueRow(q *event.QueueSample, rowID string) []any {
	queues, _ := json.Marshal(q.Queues)
	names := func(cs []event.Count) ([]string, []uint32) {
		n, c := make([]string, len(cs)), make([]uint32, len(cs))
		for i, x := range cs {
			n[i], c[i] = x.Name, uint32(max(x.Count, 0))
		}
		return n, c
	}
	ts, tsc := names(q.TopSenders)
	tr, trc := names(q.TopReasons)
	return []any{q.TS.UTC(), rowID, q.MTA, q.Host, uint32(max(q.Total, 0)), string(queues), ts, tsc, tr, trc}
}

// AllowRow converts a record of the allowlist topic (a nil entry removes key).
func AllowRow(a *event.AllowEntry, key string, ts time.Time, rowID, actor string) []any {
	if a == nil {
		kind, subject := splitKey(key)
		return []any{ts.UTC(), rowID, "remove", kind, subject, "", actor, time.Time{}}
	}
	if a.Actor != "" {
		actor = a.Actor
	}
	return []any{a.TS.UTC(), rowID, "add", string(a.Kind), a.Subject, a.Reason, actor, a.Expires.UTC()}
}

func splitKey(key string) (kind, subject string) {
	for i := 0; i < len(key); i++ {
		if key[i] == ':' {
			return key[:i], key[i+1:]
		}
	}
	return "", key
}

// evidenceJSON encodes evidence with sorted keys (deterministic rows).
func evidenceJSON(m map[string]float64) string {
	if len(m) == 0 {
		return "{}"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b := []byte{'{'}
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		kb, _ := json.Marshal(k)
		b = append(b, kb...)
		b = append(b, ':')
		b = strconv.AppendFloat(b, m[k], 'g', -1, 64)
	}
	return string(append(b, '}'))
}

func clampU16(n int) uint16 {
	if n < 0 {
		return 0
	}
	if n > 65535 {
		return 65535
	}
	return uint16(n)
}

func b2u(b bool) uint8 {
	if b {
		return 1
	}
	return 0
}

// rowID is the dedup key of records without their own id.
func rowID(partition int32, offset int64) string { return fmt.Sprintf("%d/%d", partition, offset) }
