package parse

import (
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// journalEntry accumulates the fields of one entry of journald's export
// format ("journalctl -o export"): KEY=value lines, one entry per blank
// line. Only the fields the parser needs are kept, copied (the caller's
// line buffers are reused).
type journalEntry struct {
	active bool
	ts     time.Time
	hasTS  bool
	host   []byte
	prog   []byte
	pid    []byte
	msg    []byte
	id     string // id of the MESSAGE line: the id of the entry's events
	line   []byte // the entry rebuilt as "host prog[pid]: message"
}

// isJournalField reports whether s starts with a journal field name
// ("MESSAGE=", "_HOSTNAME=", "__REALTIME_TIMESTAMP=").
func isJournalField(s string) (key, value string, ok bool) {
	i := strings.IndexByte(s, '=')
	if i <= 0 || i > 64 {
		return "", "", false
	}
	for k := 0; k < i; k++ {
		c := s[k]
		if !(c >= 'A' && c <= 'Z') && c != '_' && !(k > 0 && isDigit(c)) {
			return "", "", false
		}
	}
	return s[:i], s[i+1:], true
}

// journal consumes the lines of the export format. A field line is
// remembered (and counted as "journal_field"); the blank line that ends
// an entry feeds the entry's message as if it were a syslog line. Fields
// in the binary form (a name alone on its line, for values holding a
// newline) are not supported: such lines are left to the syslog parser,
// which rejects them.
func (p *Parser) journal(s, id string, emit func(*event.DeliveryEvent)) (bool, *LineError) {
	j := &p.jr
	if s == "" {
		if !j.active {
			return false, nil
		}
		return true, p.journalEntryEnd(emit)
	}
	key, val, ok := isJournalField(s)
	if !ok {
		return false, nil
	}
	j.active = true
	p.count(kJournalField)
	switch key {
	case "__REALTIME_TIMESTAMP":
		if allDigits(val) && len(val) <= 18 && atoi(val) < maxJournalMicros {
			j.ts, j.hasTS = time.UnixMicro(int64(atoi(val))).UTC(), true
		}
	case "_HOSTNAME":
		j.host = append(j.host[:0], val...)
	case "SYSLOG_IDENTIFIER":
		j.prog = append(j.prog[:0], val...)
	case "SYSLOG_PID":
		j.pid = append(j.pid[:0], val...)
	case "_PID":
		if len(j.pid) == 0 {
			j.pid = append(j.pid[:0], val...)
		}
	case "MESSAGE":
		j.msg = append(j.msg[:0], val...)
		j.id = strings.Clone(id) // kept until the entry ends
	}
	return true, nil
}

func (p *Parser) journalEntryEnd(emit func(*event.DeliveryEvent)) *LineError {
	j := &p.jr
	defer func() {
		j.active, j.hasTS, j.id = false, false, ""
		j.host, j.prog, j.pid, j.msg = j.host[:0], j.prog[:0], j.pid[:0], j.msg[:0]
	}()
	if len(j.msg) == 0 {
		p.count(kJournalField) // an entry without a message: nothing to parse
		return nil
	}
	if !j.hasTS {
		return errNilTimestamp
	}
	return p.journalMessage(j.ts, view(j.host), view(j.prog), view(j.pid), view(j.msg), j.id, emit)
}

// journalMessage parses the message of one journal entry (export or JSON
// format) as the syslog line "host prog[pid]: message" dated ts.
func (p *Parser) journalMessage(ts time.Time, host, prog, pid, msg, id string, emit func(*event.DeliveryEvent)) *LineError {
	j := &p.jr
	// Rebuild "host prog[pid]: message" and parse it as the line being fed,
	// so that own() copies what the events keep.
	b := append(j.line[:0], host...)
	b = append(b, ' ')
	b = append(b, prog...)
	if len(pid) > 0 {
		b = append(b, '[')
		b = append(b, pid...)
		b = append(b, ']')
	}
	b = append(b, ": "...)
	b = append(b, msg...)
	j.line = b
	lo, hi := p.lineLo, p.lineHi
	p.setLine(b)
	defer func() { p.lineLo, p.lineHi = lo, hi }()
	h, err := p.hostAndTag(header{ts: ts}, view(b))
	if err != nil {
		return err
	}
	return p.dispatch(&h, id, emit)
}
