package parse

import (
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Exim writing to syslog splits a log line that is longer than 870 bytes
// (MAX_SYSLOG_LEN in Exim's src/log.c, unless built with
// SYSLOG_LONG_LINES) or that holds newlines into several syslog messages,
// each preceded by "[n/m] ": n the part number from 1, m the number of
// parts. A part that ended at a newline of the original line has a
// backslash instead of the slash ("[n\m] "), except the last one. A line
// that fits in one message has no marker:
//
//	exim[4242]: [1/2] 2026-11-26 17:30:58 1abcDE-00012A-Bc ** a@b.example R=r T=t H=mx [192.0.2.1] : SMTP error from remote mail ser
//	exim[4242]: [2/2] ver after RCPT TO:<a@b.example>: 550 5.1.1 ...
//
// A process writes all the parts of a line at once, so the parts are held
// per (host, program, pid) until the last one arrives; the whole line is
// then parsed as if it had come in one message, and its events take the
// id of the line of its last part.
//
// Only the text up to the first newline of the original line is kept:
// what follows it is the envelope and header listing Exim appends to the
// copy of a rejection it writes to the reject log (which goes to syslog
// too), lines that a reader of Exim's log files would see as separate
// lines, not part of the entry. Such a reject log copy is counted as
// exim_other without event: with syslog_duplication (the default) the main
// log's copy of the same line, written just before, carries the event.
// (A reject log copy without listing, as for a refused RCPT, cannot be
// told from the main log's copy, and each yields an event.)

// maxSplitLen is MAX_SYSLOG_LEN of Exim's src/log.c: the most bytes of a
// log line one syslog message carries.
const maxSplitLen = 870

// maxSplits bounds the lines being reassembled (each holds at most
// MaxLineLen bytes); beyond it the oldest is dropped. Exim writes the
// parts of a line in one go, so only the lines of processes logging at
// the same instant are in flight at once.
const maxSplits = 256

// splitKey identifies the process that wrote a split line. Lookups use
// views of the line; the keys stored are owned.
type splitKey struct{ host, prog, pid string }

// eximSplit is one Exim line being reassembled.
type eximSplit struct {
	key  splitKey  // owned
	n, m int       // parts received so far (the last part number), parts in all
	ts   time.Time // of the first part: syslog time, or Exim's own in its text
	seq  uint64    // order of the first parts, for eviction
	buf  []byte    // the line up to its first newline, at most MaxLineLen bytes
	nl   bool      // a part ended at a newline: later parts are not kept
	cut  bool      // the line was longer than MaxLineLen and is cut
	// second: a part of the second line of the original was seen; listing:
	// that line starts the envelope and header listing of the reject log.
	second, listing bool
}

// splitMarker reads the "[n/m] " or "[n\m] " marker at the start of the
// message of a syslog line. It returns the part number, the number of
// parts, whether the part ended at a newline of the original line, and the
// text of the part. A marker Exim never writes (n = 0, n > m, m = 1) is
// not one.
func splitMarker(s string) (n, m int, nl bool, text string, ok bool) {
	if len(s) < 5 || s[0] != '[' || !isDigit(s[1]) {
		return 0, 0, false, "", false
	}
	i := 1
	for ; i < len(s) && isDigit(s[i]) && i < 8; i++ {
		n = n*10 + int(s[i]-'0')
	}
	if i >= len(s) || (s[i] != '/' && s[i] != '\\') {
		return 0, 0, false, "", false
	}
	nl = s[i] == '\\'
	i++
	j := i
	for ; i < len(s) && isDigit(s[i]) && i-j < 7; i++ {
		m = m*10 + int(s[i]-'0')
	}
	if i == j || i >= len(s) || s[i] != ']' {
		return 0, 0, false, "", false
	}
	i++
	// "] text", or "]" alone for an empty part whose trailing space the
	// syslog daemon dropped.
	if i < len(s) {
		if s[i] != ' ' {
			return 0, 0, false, "", false
		}
		i++
	}
	if n < 1 || m < 2 || n > m {
		return 0, 0, false, "", false
	}
	return n, m, nl, s[i:], true
}

// eximPart handles a line of an Exim program via syslog that may be a part
// of a split line (its message starts with '[') or that comes while split
// lines are being reassembled. It returns handled=false for a line that is
// no part, which the caller parses as usual; a line without marker from a
// process with a line being reassembled means the rest of that line was
// lost, and drops it.
//
// A first part starts a new line (dropping any line of the same process
// still being reassembled). A later part that is not the next one of the
// process's line is refused with errEximPart, and the line being
// reassembled, if any, is dropped. The last part parses the whole line.
func (p *Parser) eximPart(h *header, id string, emit func(*event.DeliveryEvent)) (bool, *LineError) {
	n, m, nl, text, ok := splitMarker(h.msg)
	k := splitKey{h.host, h.prog, h.pid}
	if !ok {
		if len(p.splits) > 0 {
			if s := p.splits[k]; s != nil {
				p.dropSplit(s)
			}
		}
		return false, nil
	}
	s := p.splits[k]
	switch {
	case n == 1:
		if s != nil {
			p.dropSplit(s)
		}
		s = p.newSplit(k, h, m, text)
	case s == nil:
		p.count(kEximPart)
		return true, errEximPart
	case n != s.n+1 || m != s.m:
		p.dropSplit(s)
		p.count(kEximPart)
		return true, errEximPart
	}
	s.n = n
	switch {
	case !s.nl:
		room := p.opts.MaxLineLen - len(s.buf)
		if len(text) > room {
			text, s.cut = text[:room], true
		}
		s.buf = append(s.buf, text...)
	case !s.second:
		s.second, s.listing = true, isRejectListing(text)
	}
	if nl {
		s.nl = true
	}
	if n < m {
		p.count(kEximPart)
		return true, nil
	}
	p.removeSplit(s)
	if s.listing {
		p.count(kEximOther)
		p.splitSpare, s.buf = s.buf[:0], nil
		return true, nil
	}
	return true, p.eximSplitDone(s, id, emit)
}

// isRejectListing reports whether the second line of an Exim log line
// starts the listing that log_write (src/log.c) appends to the reject
// log's copy of a rejection after DATA: "Envelope-from: <sender>" (when
// the message had recipients), else its first header line, "%c %s" of the
// header type character and the header ("P Received: from ...").
func isRejectListing(t string) bool {
	if strings.HasPrefix(t, "Envelope-from: <") {
		return true
	}
	if len(t) < 5 || t[1] != ' ' || !(t[0] >= 'A' && t[0] <= 'Z' || t[0] == '*' || t[0] == ' ') {
		return false
	}
	name := t[2:]
	i := strings.IndexByte(name, ':')
	if i <= 0 {
		return false
	}
	for k := 0; k < i; k++ {
		if c := name[k]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// eximSplitDone parses a reassembled line as the line being fed, so that
// own() copies what the events keep of it.
func (p *Parser) eximSplitDone(s *eximSplit, id string, emit func(*event.DeliveryEvent)) *LineError {
	lo, hi := p.lineLo, p.lineHi
	p.setLine(s.buf)
	h := header{ts: s.ts, host: s.key.host, prog: s.key.prog, pid: s.key.pid, msg: view(s.buf)}
	err := p.eximSyslog(&h, id, emit)
	p.lineLo, p.lineHi = lo, hi
	p.splitSpare, s.buf = s.buf[:0], nil // nothing refers to it any more
	if err == nil && s.cut {
		return errTruncated
	}
	return err
}

// newSplit starts reassembling the line whose first part is h (text is the
// part's text), dropping the oldest line being reassembled if there are
// maxSplits.
func (p *Parser) newSplit(k splitKey, h *header, m int, text string) *eximSplit {
	if len(p.splits) >= maxSplits {
		var old *eximSplit
		for _, s := range p.splits {
			if old == nil || s.seq < old.seq {
				old = s
			}
		}
		p.dropSplit(old)
	}
	if p.splits == nil {
		p.splits = make(map[splitKey]*eximSplit)
	}
	p.splitSeq++
	s := &eximSplit{
		key: splitKey{strings.Clone(k.host), strings.Clone(k.prog), strings.Clone(k.pid)},
		m:   m, ts: h.ts, seq: p.splitSeq, buf: p.splitSpare,
	}
	p.splitSpare = nil
	// A line with Exim's own timestamp is dated by it (and the journal's
	// short format has no other).
	if len(text) >= 19 && isDigit(text[0]) && text[4] == '-' && text[10] == ' ' {
		if ts, _, ok := p.parseEximTime(text); ok {
			s.ts = ts
		}
	}
	p.splits[s.key] = s
	return s
}

func (p *Parser) removeSplit(s *eximSplit) {
	if p.splits[s.key] == s {
		delete(p.splits, s.key)
	}
}

// dropSplit gives up on a line being reassembled.
func (p *Parser) dropSplit(s *eximSplit) {
	p.removeSplit(s)
	p.stats[kSplitDropped]++
}

// expireSplits drops the lines being reassembled whose first part is
// older than cutoff.
func (p *Parser) expireSplits(cutoff time.Time) {
	for _, s := range p.splits {
		if s.ts.Before(cutoff) {
			p.dropSplit(s)
		}
	}
}

// eximSyslog parses the message of an Exim line that came through syslog:
// Exim may have kept its own timestamp in the text (syslog_timestamp),
// which then dates the line.
func (p *Parser) eximSyslog(h *header, id string, emit func(*event.DeliveryEvent)) *LineError {
	if m := h.msg; len(m) >= 19 && isDigit(m[0]) && m[4] == '-' && m[10] == ' ' {
		if ts, n, ok := p.parseEximTime(m); ok {
			h.ts, h.msg = ts, trimLeftSpace(m[n:])
		}
	}
	if h.ts.IsZero() { // a part in the journal's short format, without Exim's timestamp
		return errNilTimestamp
	}
	return p.exim(h, id, emit)
}
