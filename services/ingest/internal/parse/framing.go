package parse

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Framings around the syslog line, each handled here:
//
//	postfix/local[13410]: [ID 197553 mail.info] C589E3780: to=<...>    Solaris / illumos message-id tag after the program
//	Jun 17 14:37:39 <mail.notice> robin postfix/smtp[1]: ...          syslog-ng / rsyslog template with <facility.level> (or <PRI>)
//	2026-11-24T17:00:14+01:00 mx mail.info postfix/smtp[1]: ...        rsyslog template with facility.level before the tag
//	2026-11-24T17:00:14.123456789Z stdout F Nov 24 17:00:14 mx postfix/smtp[1]: ...   CRI (containerd, CRI-O) container log
//	{"log":"Nov 24 17:00:14 mx postfix/smtp[1]: ...\n","stream":"stdout","time":"..."} Docker json-file container log
//	{"__REALTIME_TIMESTAMP":"...","_HOSTNAME":"mx","SYSLOG_IDENTIFIER":"postfix/smtp","_PID":"1","MESSAGE":"..."}   journalctl -o json
//
// A container runtime splits a long line into partial records ("P" in
// CRI, a "log" without its trailing newline in Docker's format); they are
// held (one line at a time, at most MaxLineLen bytes) until the record that ends
// the line, whose line id the events take. The head held is not part of
// Snapshot but of PartialLine, which the service checkpoints beside it.

// stripSolarisID removes the "[ID 197553 mail.info] " tag that Solaris
// and illumos syslogd put before the message.
func stripSolarisID(msg string) string {
	if len(msg) < 8 || msg[0] != '[' || msg[1] != 'I' || msg[2] != 'D' || msg[3] != ' ' {
		return msg
	}
	i := 4
	for i < len(msg) && isDigit(msg[i]) {
		i++
	}
	if i == 4 || i >= len(msg) || msg[i] != ' ' {
		return msg
	}
	j := strings.IndexByte(msg[i:], ']')
	if j < 0 || !isPriName(msg[i+1:i+j]) {
		return msg
	}
	return trimLeftSpace(msg[i+j+1:])
}

// isPriToken reports whether tok is a facility/priority field a syslog
// template adds: "<mail.info>", "<22>", or a bare "mail.info" / "2.6".
func isPriToken(tok string) bool {
	if len(tok) >= 3 && tok[0] == '<' && tok[len(tok)-1] == '>' {
		in := tok[1 : len(tok)-1]
		return allDigits(in) && len(in) <= 3 || isPriName(in)
	}
	return isPriName(tok)
}

// isPriName reports whether s is "facility.level" by name or number.
func isPriName(s string) bool {
	f, l, ok := strings.Cut(s, ".")
	if !ok {
		return false
	}
	if allDigits(f) && allDigits(l) && len(f) <= 2 && len(l) == 1 {
		return true
	}
	switch f {
	case "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7":
	default:
		return false
	}
	switch l {
	case "emerg", "alert", "crit", "err", "error", "warning", "warn", "notice", "info", "debug":
		return true
	}
	return false
}

// containerStream reports whether s (after a timestamp) is a CRI
// container log record " stdout F text" / " stderr P text", returning
// whether the record ends its line and the text.
func containerStream(s string) (full bool, text string, ok bool) {
	if len(s) < 10 || s[0] != ' ' || s[7] != ' ' || (s[8] != 'F' && s[8] != 'P') || s[9] != ' ' {
		return false, "", false
	}
	if s[1:7] != "stdout" && s[1:7] != "stderr" {
		return false, "", false
	}
	return s[8] == 'F', s[10:], true
}

// containerText feeds the text of one container log record: a partial
// one is held, the one that ends a line parses the whole line.
func (p *Parser) containerText(ts time.Time, full bool, text, id string, emit func(*event.DeliveryEvent)) *LineError {
	if !full {
		p.count(kContainerPart)
		if !p.partial {
			p.partial, p.partialBuf = true, p.partialBuf[:0]
		}
		room := p.opts.MaxLineLen - len(p.partialBuf)
		p.partialBuf = append(p.partialBuf, text[:min(len(text), max(room, 0))]...)
		return nil
	}
	if p.partial {
		room := p.opts.MaxLineLen - len(p.partialBuf)
		p.partialBuf = append(p.partialBuf, text[:min(len(text), max(room, 0))]...)
		p.partial = false
		lo, hi := p.lineLo, p.lineHi
		p.setLine(p.partialBuf)
		defer func() { p.lineLo, p.lineHi = lo, hi }()
		text = view(p.partialBuf)
	}
	return p.inner(ts, text, id, emit)
}

// inner parses the line a container record or a JSON wrapper carries:
// a framed syslog or Exim line, or a bare "prog[pid]: msg" dated by the
// wrapper.
func (p *Parser) inner(ts time.Time, s, id string, emit func(*event.DeliveryEvent)) *LineError {
	if p.depth > 0 {
		return errNoFraming // a wrapper inside a wrapper
	}
	p.depth++
	defer func() { p.depth-- }()
	h, err := p.parseHeader(s)
	if err != nil {
		if _, _, _, ok := splitTag(s); !ok {
			return err
		}
		h2, err2 := p.hostAndTag(header{ts: ts}, s)
		if err2 != nil {
			return err
		}
		h = h2
	}
	return p.dispatch(&h, id, emit)
}

// jsonLine handles a line that is a JSON object: journalctl -o json, or
// Docker's json-file container log. It returns handled=false for an
// object of neither kind.
func (p *Parser) jsonLine(s, id string, emit func(*event.DeliveryEvent)) (bool, *LineError) {
	var f map[string]json.RawMessage
	if err := json.Unmarshal([]byte(s), &f); err != nil {
		return true, errJSON
	}
	if raw, ok := f["log"]; ok { // Docker json-file
		var text, stamp string
		if json.Unmarshal(raw, &text) != nil || json.Unmarshal(f["time"], &stamp) != nil {
			return true, errJSON
		}
		ts, err := time.Parse(time.RFC3339Nano, stamp)
		if err != nil {
			return true, errTimestamp
		}
		full := strings.HasSuffix(text, "\n")
		text = strings.TrimRight(text, "\r\n")
		return true, p.containerText(ts.UTC(), full, text, id, emit)
	}
	raw, ok := f["MESSAGE"]
	if !ok {
		return false, nil
	}
	msg, ok := journalValue(raw)
	if !ok {
		return true, errJSON
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i] // what follows is a listing (Exim's reject log), not the entry
	}
	str := func(k string) string { v, _ := journalValue(f[k]); return v }
	us, err := strconv.ParseInt(str("__REALTIME_TIMESTAMP"), 10, 64)
	if err != nil || us <= 0 || us >= maxJournalMicros {
		return true, errNilTimestamp
	}
	pid := str("SYSLOG_PID")
	if pid == "" {
		pid = str("_PID")
	}
	p.count(kJournalField) // until dispatch counts the message's own kind
	return true, p.journalMessage(time.UnixMicro(us).UTC(), str("_HOSTNAME"), str("SYSLOG_IDENTIFIER"), pid, msg, id, emit)
}

// maxJournalMicros is the first microsecond of the year 10000: a later
// journal timestamp is no real one (and the wire form cannot carry it).
const maxJournalMicros = 253402300800_000_000

// journalValue decodes one field of journalctl -o json: a string, an
// array of byte values (a value that is not valid UTF-8 or holds control
// characters), or an array of those when the field repeats (the first is
// taken). null (a value too large for journalctl) is no value.
func journalValue(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", len(raw) > 0
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var nums []int
	if json.Unmarshal(raw, &nums) == nil {
		b := make([]byte, len(nums))
		for i, n := range nums {
			if n < 0 || n > 255 {
				return "", false
			}
			b[i] = byte(n)
		}
		return string(b), true
	}
	var many []json.RawMessage
	if json.Unmarshal(raw, &many) == nil && len(many) > 0 {
		return journalValue(many[0])
	}
	return "", false
}
