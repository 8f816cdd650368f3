package history

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Reader is the read side the abuse desk's staff view uses: the delivery
// events behind a ban and a subject's timeline. Every query is fixed SQL
// with its values bound (Bind) and runs read-only (RunQuery: CheckReadOnly,
// then readonly=1 with the limits), so a hostile subject is only ever data.
type Reader struct {
	// Store returns the open store, or nil while it is not open yet (the
	// enforcer passes the Runner's: the one store the writer uses, as chDB
	// allows one per process).
	Store func() Store
	// RO bounds each query (history.query_timeout; rows are capped by the
	// callers' limits).
	RO ReadOnly
}

// ErrNotOpen is returned while the store is not open yet.
var ErrNotOpen = errors.New("history store not open yet")

// TimelineRow is one moment of a subject's past as history holds it.
type TimelineRow struct {
	TS time.Time
	// What: "verdict", "ban", "unban", "allow" or "disallow".
	What   string
	Rule   string
	Actor  string
	Detail string
}

// subjectMatch is the events condition that picks kind's subject, with the
// parameters it uses. Subjects compare case-insensitively: ban keys are
// lower-cased, the events keep what the MTA logged.
func subjectMatch(kind event.SubjectKind, subject string) (string, map[string]string, error) {
	col := map[event.SubjectKind]string{
		event.KindSender: "sender", event.KindAccount: "account", event.KindSenderDomain: "sender_domain",
		event.KindClientIP: "client_ip", event.KindRecipient: "recipient", event.KindRecipientDomain: "recipient_domain",
	}
	if kind == event.KindSenderRecipient {
		s, r, ok := event.SplitPair(subject)
		if !ok {
			return "", nil, fmt.Errorf("sender_recipient subject %q has no %s", subject, event.PairSeparator)
		}
		return "lowerUTF8(sender) = lowerUTF8({sender:String}) AND lowerUTF8(recipient) = lowerUTF8({recipient:String})",
			map[string]string{"sender": s, "recipient": r}, nil
	}
	c, ok := col[kind]
	if !ok {
		return "", nil, fmt.Errorf("unknown subject kind %q", kind)
	}
	return "lowerUTF8(" + c + ") = lowerUTF8({subject:String})", map[string]string{"subject": subject}, nil
}

// timeParam is the bound expression of an instant (in the dialect's
// precision: milliseconds, or seconds on ClickHouse 18.16), named name.
func timeParam(d Dialect, name string, t time.Time, params map[string]string) string {
	if d == Legacy {
		params[name] = strconv.FormatInt(t.Unix(), 10)
		return "toDateTime({" + name + ":UInt32}, 'UTC')"
	}
	params[name] = strconv.FormatInt(t.UnixMilli(), 10)
	return "fromUnixTimestamp64Milli({" + name + ":Int64}, 'UTC')"
}

func (r *Reader) store() (Store, error) {
	if r.Store == nil {
		return nil, ErrNotOpen
	}
	s := r.Store()
	if s == nil {
		return nil, ErrNotOpen
	}
	return s, nil
}

func (r *Reader) query(ctx context.Context, s Store, sql string, params map[string]string, limit int) (*Result, error) {
	ro := r.RO
	if ro.Timeout <= 0 {
		ro.Timeout = 10 * time.Second
	}
	ro.MaxRows = max(limit, 1)
	return RunQuery(ctx, s, sql, params, ro)
}

// BanEvents returns up to limit delivery events behind b, oldest first
// (by time, then by id: offsets of one log file in their order):
// those of its subject within its window (window_start .. window_end, or
// the ban's time when it has no end), from its first to its last event id
// when history holds them. A ban without a window (a manual ban) has none.
func (r *Reader) BanEvents(ctx context.Context, b event.Ban, limit int) ([]event.DeliveryEvent, error) {
	if b.WindowStart.IsZero() || limit <= 0 {
		return nil, nil
	}
	s, err := r.store()
	if err != nil {
		return nil, err
	}
	lo, hi := b.WindowStart, b.WindowEnd
	if hi.IsZero() || hi.Before(lo) {
		hi = b.TS
	}
	if hi.Before(lo) {
		return nil, nil
	}
	// Legacy stores whole seconds: floor both bounds (an event at
	// 10:00:05.3 is stored as 10:00:05); milliseconds likewise.
	floor := func(t time.Time) time.Time {
		if s.Dialect() == Legacy {
			return t.Truncate(time.Second)
		}
		return t.Truncate(time.Millisecond)
	}
	lo, hi = floor(lo), floor(hi)
	match, params, err := subjectMatch(b.SubjectKind, b.Subject)
	if err != nil {
		return nil, err
	}
	bounds := func(p map[string]string, lo, hi time.Time) string {
		return "ts >= " + timeParam(s.Dialect(), "lo", lo, p) + " AND ts <= " + timeParam(s.Dialect(), "hi", hi, p)
	}
	// Narrow the window to the first and last event the verdict counted.
	var ids []string
	for _, id := range []string{b.FirstEventID, b.LastEventID} {
		if id != "" {
			ids = append(ids, id)
		}
	}
	if len(ids) > 0 {
		p := copyParams(params)
		p["first"], p["last"] = b.FirstEventID, b.LastEventID
		res, err := r.query(ctx, s, "SELECT id, toString(ts) FROM events WHERE "+match+" AND "+bounds(p, lo, hi)+
			" AND id IN ({first:String}, {last:String})", p, 4)
		if err != nil {
			return nil, err
		}
		for _, row := range res.Rows {
			t, err := parseTS(str(row[1]))
			if err != nil {
				return nil, err
			}
			switch str(row[0]) {
			case b.FirstEventID:
				lo = t
			case b.LastEventID:
				hi = t
			}
		}
	}
	// Log timestamps are often whole seconds: at the first and the last
	// event's own time, keep only the lines of the same log file at or
	// after the first's offset and at or before the last's (ids are
	// host:file:offset), so the list is what the rule counted.
	p := copyParams(params)
	edges := ""
	for _, e := range []struct {
		id, name, op string
		at           time.Time
	}{{b.FirstEventID, "first", ">=", lo}, {b.LastEventID, "last", "<=", hi}} {
		prefix, off, ok := splitEventID(e.id)
		if !ok {
			continue
		}
		p[e.name+"_prefix"], p[e.name+"_offset"] = prefix, strconv.FormatUint(off, 10)
		at := timeParam(s.Dialect(), e.name+"_at", e.at, p)
		edges += " AND (ts != " + at + " OR substring(id, 1, length({" + e.name + "_prefix:String})) != {" + e.name + "_prefix:String}" +
			" OR toUInt64OrZero(substring(id, length({" + e.name + "_prefix:String}) + 1)) " + e.op + " {" + e.name + "_offset:UInt64})"
	}
	res, err := r.query(ctx, s, "SELECT toString(ts), id, toString(mta), toString(host), queue_id, sender, recipient, "+
		"toString(status), toString(dsn), toString(reply_code), reply_text, toString(reason), relay, client_ip, sasl_user, "+
		"message_id, toString(size), subject FROM events WHERE "+match+" AND "+bounds(p, lo, hi)+edges+
		" ORDER BY ts, length(id), id LIMIT "+strconv.Itoa(limit), p, limit)
	if err != nil {
		return nil, err
	}
	out := make([]event.DeliveryEvent, 0, len(res.Rows))
	for _, row := range res.Rows {
		if len(row) != 18 {
			return nil, fmt.Errorf("history events: %d columns, want 18", len(row))
		}
		ts, err := parseTS(str(row[0]))
		if err != nil {
			return nil, err
		}
		code, _ := strconv.Atoi(str(row[9]))
		size, _ := strconv.ParseInt(str(row[16]), 10, 64)
		out = append(out, event.DeliveryEvent{V: event.SchemaVersion, TS: ts, ID: str(row[1]), MTA: str(row[2]), Host: str(row[3]),
			QueueID: str(row[4]), Sender: str(row[5]), Recipient: str(row[6]), Status: event.Status(str(row[7])),
			DSN: str(row[8]), ReplyCode: code, ReplyText: str(row[10]), Reason: event.Reason(str(row[11])),
			Relay: str(row[12]), ClientIP: str(row[13]), SASLUser: str(row[14]), MessageID: str(row[15]), Size: size,
			Subject: str(row[17])})
	}
	return out, nil
}

// timelineSQL unions a subject's verdicts, ban changes (ban: set or
// replaced by a rule or by hand, with the actor; lift: a tombstone) and
// allowlist changes, newest first.
const timelineSQL = `SELECT * FROM (
  SELECT toString(ts) AS at, 'verdict' AS what, toString(rule) AS rule, '' AS actor,
         concat(toString(action), if(shadow = 1, ' (shadow)', ''), ', window ', toString(window_start), ' .. ',
                toString(window_end), ', events ', first_event_id, ' .. ', last_event_id, ', evidence ', evidence) AS detail
  FROM verdicts WHERE subject_kind = {kind:String} AND lowerUTF8(subject) = lowerUTF8({subject:String})
  UNION ALL
  SELECT toString(ts), if(op = 'lift', 'unban', 'ban'), toString(rule), actor,
         if(op = 'lift', if(actor = '', 'lifted (expired, or by a tool that named no actor)', 'lifted by hand'),
            concat(if(source = 'rule' AND actor != '', 'extended by hand', concat('by ', toString(source))), ': ',
                   toString(action), ', level ', toString(level), ', expires ',
                   if(toUnixTimestamp(expires) = 0, 'never', toString(expires)), if(shadow = 1, ' (shadow)', '')))
  FROM bans WHERE subject_kind = {kind:String} AND lowerUTF8(subject) = lowerUTF8({subject:String})
  UNION ALL
  SELECT toString(ts), if(op = 'remove', 'disallow', 'allow'), '', actor,
         if(op = 'remove', 'removed from the allowlist',
            concat(reason, if(toUnixTimestamp(expires) = 0, '', concat(' (until ', toString(expires), ')'))))
  FROM allowlist_changes WHERE subject_kind = {kind:String} AND lowerUTF8(subject) = lowerUTF8({subject:String})
)
ORDER BY at DESC, what
LIMIT `

// Timeline returns up to limit moments of the subject's past, newest
// first: its verdicts, its bans and lifts (with the actor of a manual
// change) and its allowlist changes.
func (r *Reader) Timeline(ctx context.Context, kind event.SubjectKind, subject string, limit int) ([]TimelineRow, error) {
	if limit <= 0 {
		return nil, nil
	}
	if !kind.Valid() {
		return nil, fmt.Errorf("unknown subject kind %q", kind)
	}
	s, err := r.store()
	if err != nil {
		return nil, err
	}
	res, err := r.query(ctx, s, timelineSQL+strconv.Itoa(limit), map[string]string{"kind": string(kind), "subject": subject}, limit)
	if err != nil {
		return nil, err
	}
	out := make([]TimelineRow, 0, len(res.Rows))
	for _, row := range res.Rows {
		if len(row) != 5 {
			return nil, fmt.Errorf("history timeline: %d columns, want 5", len(row))
		}
		ts, err := parseTS(str(row[0]))
		if err != nil {
			return nil, err
		}
		out = append(out, TimelineRow{TS: ts, What: str(row[1]), Rule: str(row[2]), Actor: str(row[3]), Detail: str(row[4])})
	}
	return out, nil
}

// splitEventID splits an event id "host:file:offset" into "host:file:"
// and the offset; ok is false when it has no numeric offset.
func splitEventID(id string) (prefix string, offset uint64, ok bool) {
	i := strings.LastIndexByte(id, ':')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.ParseUint(id[i+1:], 10, 64)
	if err != nil {
		return "", 0, false
	}
	return id[:i+1], n, true
}

func copyParams(p map[string]string) map[string]string {
	c := make(map[string]string, len(p)+4)
	for k, v := range p {
		c[k] = v
	}
	return c
}

// parseTS reads a time as ClickHouse prints it (UTC columns).
func parseTS(s string) (time.Time, error) {
	t, err := time.ParseInLocation("2006-01-02 15:04:05.999999999", s, time.UTC)
	if err != nil {
		return time.Time{}, fmt.Errorf("history time %q: %w", s, err)
	}
	return t, nil
}

func str(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case fmt.Stringer:
		return x.String()
	}
	return strings.TrimSpace(fmt.Sprint(v))
}
