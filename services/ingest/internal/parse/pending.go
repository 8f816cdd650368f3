package parse

import (
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/ingest/internal/classify"
)

// msg is one in-flight message: what the earlier lines of its life told
// about it, waiting to be joined with its delivery lines. Every string is
// owned (never a view of a line).
type msg struct {
	hs        *hostState
	qid       string
	mta       string
	sender    string
	clientIP  string
	saslUser  string
	messageID string
	subject   string
	size      int64
	lastID    []byte // id of the last line that touched it (for ids of expiry events); reused, as most lines touch a message
	last      time.Time
	attempts  int32 // delivery lines seen
	queued    bool  // the queue manager saw it (Postfix qmgr from=, Exim <=)
	pending   bool  // in the host's map and the LRU list
	hostile   bool  // a hostile sender or login was logged for it: its events are refused
	// outstanding holds the recipients whose last attempt was deferred
	// (bounded by maxOutstanding), with the last classification, for the
	// expired events of a message that never completes.
	outstanding []pendingRcpt

	prev, next *msg
}

type pendingRcpt struct {
	addr   string
	dsn    string
	code   int
	reason classify.Reason
}

// maxOutstanding bounds the deferred recipients remembered per message, so
// a message to 100k recipients cannot hold unbounded memory.
const maxOutstanding = 256

// msgList is an intrusive doubly linked list in order of last activity.
type msgList struct{ head, tail *msg }

func (l *msgList) pushBack(m *msg) {
	m.prev, m.next = l.tail, nil
	if l.tail != nil {
		l.tail.next = m
	} else {
		l.head = m
	}
	l.tail = m
}

func (l *msgList) remove(m *msg) {
	if m.prev != nil {
		m.prev.next = m.next
	} else {
		l.head = m.next
	}
	if m.next != nil {
		m.next.prev = m.prev
	} else {
		l.tail = m.prev
	}
	m.prev, m.next = nil, nil
}

// lookup finds the pending message qid (a view) of hs.
func (p *Parser) lookup(hs *hostState, qid string) *msg {
	return hs.msgs[qid]
}

// touch finds or creates the message qid and marks it as seen by the line
// (ts, id). A new message may evict the least recently seen one.
func (p *Parser) touch(hs *hostState, mta, qid string, ts time.Time, id string, emit func(*event.DeliveryEvent)) *msg {
	m := hs.msgs[qid]
	if m == nil {
		m = p.newMsg()
		m.hs, m.qid, m.mta, m.pending = hs, p.own(qid), mta, true
		hs.msgs[m.qid] = m
		p.pending++
		p.lru.pushBack(m)
		m.last, m.lastID = ts, append(m.lastID[:0], id...)
		if p.pending > p.opts.MaxPending {
			if old := p.lru.head; old != m {
				p.giveUp(old, emit)
				p.stats[kMsgEvicted]++
			}
		}
		return m
	}
	p.seen(m, ts, id)
	return m
}

// seen marks the pending message m as seen by the line (ts, id).
func (p *Parser) seen(m *msg, ts time.Time, id string) {
	if p.lru.tail != m {
		p.lru.remove(m)
		p.lru.pushBack(m)
	}
	if ts.After(m.last) {
		m.last = ts
	}
	m.lastID = append(m.lastID[:0], id...)
}

// forget drops m without emitting anything. It is a no-op for a message
// already forgotten.
func (p *Parser) forget(m *msg) {
	if !m.pending {
		return
	}
	m.pending = false
	if m.hs.msgs[m.qid] == m {
		delete(m.hs.msgs, m.qid)
	}
	p.lru.remove(m)
	p.pending--
	// Its fields stay readable (giveUp emits from them) until newMsg
	// hands the struct out again, on the next new message.
	if len(p.free) < maxFree {
		p.free = append(p.free, m)
	}
}

// maxFree bounds the forgotten message structs kept for reuse.
const maxFree = 1024

// newMsg returns a zeroed msg, reusing a forgotten one (and its lastID
// and outstanding buffers) when there is one.
func (p *Parser) newMsg() *msg {
	n := len(p.free)
	if n == 0 {
		return new(msg)
	}
	m := p.free[n-1]
	p.free = p.free[:n-1]
	*m = msg{lastID: m.lastID[:0], outstanding: m.outstanding[:0]}
	return m
}

// Expire gives up on the messages whose last line is older than
// PendingTTL before now (event time), emitting what is known about them
// (see giveUp), and forgets them. It returns how many messages expired.
// Exim lines split for syslog whose first part is that old and whose last
// part never came are dropped too (counted as messages_split_dropped).
// Call it regularly with the event time of the input (Watermark for a
// replay, the latest line's time for a live follower).
func (p *Parser) Expire(now time.Time, emit func(*event.DeliveryEvent)) int {
	cutoff := now.Add(-p.opts.PendingTTL)
	n := 0
	// The list is ordered by last activity, so the expired messages are at
	// its head (lines out of time order only delay an expiry).
	for m := p.lru.head; m != nil && m.last.Before(cutoff); m = p.lru.head {
		p.giveUp(m, emit)
		n++
	}
	p.stats[kMsgExpired] += uint64(n)
	if len(p.splits) > 0 {
		p.expireSplits(cutoff)
	}
	return n
}

// giveUp emits what is known about a message that will see no more lines
// and forgets it:
//
//   - a recipient whose last attempt was deferred gets nothing more: its
//     deferred event was emitted, and the message may well still be queued
//     (an "expired" event here would count that attempt twice and claim a
//     queue expiry the MTA never logged);
//   - a queued message that had no delivery attempt at all gets one
//     "expired" event without a recipient (its sender, client, size...);
//   - a message that never reached the queue manager (the client went
//     away, or its delivery lines are all we saw) emits nothing.
//
// The events carry the time of the message's last line, and the id of
// that line + "/expired" (+ "/1", "/2"...), so a replay gives the same ids.
func (p *Parser) giveUp(m *msg, emit func(*event.DeliveryEvent)) {
	p.forget(m)
	if m.hostile || !m.queued {
		return
	}
	em := emitter{id: string(m.lastID) + "/expired", emit: emit}
	ev := func(r *pendingRcpt) {
		o := outcome{status: event.StatusExpired}
		if r != nil {
			o.rcpt, o.dsn, o.code = r.addr, r.dsn, r.code
		}
		e := p.event(m.mta, m.hs, m.qid, m, m.last, em.next(), &o)
		if r != nil {
			e.Reason = r.reason
		}
		e.ReplyText = "mxwarden: no further log line for this message"
		emit(e)
	}
	if m.attempts == 0 {
		ev(nil)
	}
}

// deferred records rcpt as waiting for another attempt.
// dsn must be owned (interned).
func (m *msg) deferred(rcpt, dsn string, code int, reason classify.Reason) {
	for i := range m.outstanding {
		if m.outstanding[i].addr == rcpt {
			m.outstanding[i] = pendingRcpt{addr: rcpt, dsn: dsn, code: code, reason: reason}
			return
		}
	}
	if len(m.outstanding) < maxOutstanding {
		m.outstanding = append(m.outstanding, pendingRcpt{addr: rcpt, dsn: dsn, code: code, reason: reason})
	}
}

// settled removes rcpt from the outstanding recipients.
func (m *msg) settled(rcpt string) {
	for i := range m.outstanding {
		if m.outstanding[i].addr == rcpt {
			m.outstanding = append(m.outstanding[:i], m.outstanding[i+1:]...)
			if len(m.outstanding) == 0 {
				m.outstanding = nil
			}
			return
		}
	}
}
