package parse

import (
	"fmt"
	"time"

	"github.com/mxwarden/mxwarden/services/ingest/internal/classify"
)

// PendingMessage is the saved form of one in-flight message, for a
// checkpoint: with the read position, it lets a restarted ingest join the
// delivery lines that follow the position with the earlier lines of their
// message (sender, client, login) that precede it.
type PendingMessage struct {
	Host        string           `json:"host"`
	QueueID     string           `json:"queue_id"`
	MTA         string           `json:"mta"`
	Sender      string           `json:"sender,omitempty"`
	ClientIP    string           `json:"client_ip,omitempty"`
	SASLUser    string           `json:"sasl_user,omitempty"`
	MessageID   string           `json:"message_id,omitempty"`
	Subject     string           `json:"subject,omitempty"`
	Size        int64            `json:"size,omitempty"`
	LastID      string           `json:"last_id"`
	Last        time.Time        `json:"last"`
	Attempts    int32            `json:"attempts,omitempty"`
	Queued      bool             `json:"queued,omitempty"`
	Hostile     bool             `json:"hostile,omitempty"`
	Outstanding []PendingDeferal `json:"outstanding,omitempty"`
}

// PendingDeferal is a recipient whose last attempt was deferred.
type PendingDeferal struct {
	Addr   string `json:"addr"`
	DSN    string `json:"dsn,omitempty"`
	Code   int    `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Snapshot returns the in-flight messages, least recently seen first.
func (p *Parser) Snapshot() []PendingMessage {
	out := make([]PendingMessage, 0, p.pending)
	for m := p.lru.head; m != nil; m = m.next {
		pm := PendingMessage{
			Host: m.hs.name, QueueID: m.qid, MTA: m.mta, Sender: m.sender, ClientIP: m.clientIP,
			SASLUser: m.saslUser, MessageID: m.messageID, Subject: m.subject, Size: m.size,
			LastID: string(m.lastID), Last: m.last, Attempts: m.attempts, Queued: m.queued, Hostile: m.hostile,
		}
		for _, r := range m.outstanding {
			pm.Outstanding = append(pm.Outstanding, PendingDeferal{Addr: r.addr, DSN: r.dsn, Code: r.code, Reason: string(r.reason)})
		}
		out = append(out, pm)
	}
	return out
}

// Restore loads messages saved by Snapshot into a Parser that has seen no
// line yet. Saved values went through the same checks when first parsed;
// Restore checks the tokens again, since the file may have been edited.
func (p *Parser) Restore(msgs []PendingMessage) error {
	if p.pending != 0 {
		return fmt.Errorf("restore into a parser with %d pending messages", p.pending)
	}
	for i, pm := range msgs {
		for _, s := range []string{pm.Host, pm.QueueID, pm.Sender, pm.ClientIP, pm.SASLUser} {
			if checkToken(s) != nil {
				return fmt.Errorf("restore message %d: %w", i, ErrHostileField)
			}
		}
		if pm.QueueID == "" {
			return fmt.Errorf("restore message %d: no queue id", i)
		}
		hs, lerr := p.host(pm.Host)
		if lerr != nil {
			return fmt.Errorf("restore message %d: %w", i, lerr)
		}
		if hs.msgs[pm.QueueID] != nil {
			continue
		}
		m := &msg{
			hs: hs, qid: pm.QueueID, mta: pm.MTA, sender: pm.Sender, clientIP: pm.ClientIP, saslUser: pm.SASLUser,
			messageID: pm.MessageID, subject: pm.Subject, size: pm.Size, lastID: []byte(pm.LastID), last: pm.Last,
			attempts: pm.Attempts, queued: pm.Queued, hostile: pm.Hostile, pending: true,
		}
		for _, r := range pm.Outstanding {
			if len(m.outstanding) < maxOutstanding {
				m.outstanding = append(m.outstanding, pendingRcpt{addr: r.Addr, dsn: p.dsns.intern(r.DSN), code: r.Code, reason: classify.Reason(r.Reason)})
			}
		}
		hs.msgs[m.qid] = m
		p.lru.pushBack(m)
		p.pending++
		if m.last.After(p.watermark) {
			p.watermark = m.last
		}
	}
	return nil
}

// PartialLine returns the head of a container runtime's line whose later
// records have not come yet ("" if none), for a checkpoint: restored with
// SetPartialLine, the line's last record after a restart completes it.
func (p *Parser) PartialLine() string {
	if !p.partial {
		return ""
	}
	return string(p.partialBuf)
}

// SetPartialLine restores what PartialLine returned (cut to MaxLineLen).
func (p *Parser) SetPartialLine(s string) {
	if s == "" {
		p.partial, p.partialBuf = false, p.partialBuf[:0]
		return
	}
	p.partial = true
	p.partialBuf = append(p.partialBuf[:0], s[:min(len(s), p.opts.MaxLineLen)]...)
}
