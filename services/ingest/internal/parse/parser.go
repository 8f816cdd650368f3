package parse

import (
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/ingest/internal/classify"
)

// Parser turns log lines into DeliveryEvents, joining the lines of one
// message by queue id. It is not safe for concurrent use: give each input
// stream its own Parser (events of one message must go through the same
// Parser anyway).
type Parser struct {
	opts Options

	stats [numKinds]uint64
	kind  lineKind // what the line being fed is, see count

	hosts    map[string]*hostState // per log host: queue ids are only unique per host
	lastHost *hostState
	pending  int
	lru      msgList // every pending message, least recently seen first

	relays interner
	dsns   interner

	classicTS, isoTS, eximTS tsCache
	yearCache                yearCache
	jr                       journalEntry            // journalctl -o export entry being read
	splits                   map[splitKey]*eximSplit // Exim lines split for syslog being reassembled
	splitSeq                 uint64
	splitSpare               []byte // the buffer of the last line reassembled, for the next
	watermark                time.Time
	// A container runtime's partial records being joined (see framing.go).
	partial    bool
	partialBuf []byte
	depth      int // nesting of wrapped lines (container, JSON): at most one

	// The line being fed: [lineLo, lineHi) is its memory, see own.
	lineLo, lineHi uintptr

	scratch []byte
	ev      event.DeliveryEvent // the event emitted, with Options.ReuseEvents
	free    []*msg              // forgotten messages, for newMsg
}

// hostState holds the in-flight messages of one MTA host.
type hostState struct {
	name string
	msgs map[string]*msg
}

// New builds a Parser.
func New(opts Options) (*Parser, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return &Parser{
		opts:   opts,
		hosts:  make(map[string]*hostState),
		relays: newInterner(1 << 14),
		dsns:   newInterner(1 << 10),
	}, nil
}

// Pending returns the number of in-flight (half-joined) messages.
func (p *Parser) Pending() int { return p.pending }

// Watermark returns the latest event time seen in a line so far: the time
// to pass to Expire when the input is a log replay rather than live.
func (p *Parser) Watermark() time.Time { return p.watermark }

// Feed parses one raw log line (without its trailing newline). id is the
// stable id of the line (host:file-identity:offset); the events the line
// completes get ids id, id+"/1", id+"/2", ... in order. emit is called
// synchronously for every completed event and may keep it.
//
// Feed returns a *LineError for a line it rejects (see the Kind
// constants), nil for a line it understood, whether or not it produced an
// event. A line longer than MaxLineLen is cut, parsed, and reported as
// truncated. Feed does not retain line or id (the events get copies).
func (p *Parser) Feed(line []byte, id string, emit func(*event.DeliveryEvent)) error {
	truncated := false
	if len(line) > p.opts.MaxLineLen {
		line, truncated = line[:p.opts.MaxLineLen], true
	}
	for len(line) > 0 && (line[len(line)-1] == '\n' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	s := view(line)
	p.setLine(line)
	p.kind = kUnframed
	err := p.feed(s, id, emit)
	p.lineLo, p.lineHi = 0, 0
	p.stats[p.kind]++
	if err != nil {
		p.stats[errKind(err)]++
		return err
	}
	if truncated {
		p.stats[kErrTruncated]++
		return errTruncated
	}
	return nil
}

// setLine records the memory of the line being parsed, see own.
func (p *Parser) setLine(line []byte) {
	p.lineLo, p.lineHi = 0, 0
	if len(line) > 0 {
		p.lineLo = uintptr(unsafe.Pointer(unsafe.SliceData(line)))
		p.lineHi = p.lineLo + uintptr(len(line))
	}
}

// count records what the line being fed is (the last call wins).
func (p *Parser) count(k lineKind) { p.kind = k }

func (p *Parser) feed(s, id string, emit func(*event.DeliveryEvent)) *LineError {
	if len(s) > 0 && s[0] == '{' && p.depth == 0 {
		if handled, err := p.jsonLine(s, id, emit); handled {
			return err
		}
	}
	if len(s) == 0 || ((s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_') && !(monthOf(s) > 0 && len(s) > 3 && s[3] == ' ') {
		if handled, err := p.journal(s, id, emit); handled {
			return err
		}
	}
	h, err := p.parseHeader(s)
	if err != nil {
		return err
	}
	if h.container {
		full, text, _ := containerStream(h.msg)
		return p.containerText(h.ts, full, text, id, emit)
	}
	return p.dispatch(&h, id, emit)
}

// dispatch hands a framed line to the parser of its MTA.
func (p *Parser) dispatch(hp *header, id string, emit func(*event.DeliveryEvent)) *LineError {
	h := *hp
	if h.ts.After(p.watermark) {
		p.watermark = h.ts
	}
	if h.exim {
		if p.opts.Format == FormatPostfix {
			p.count(kOtherProgram)
			return errWrongMTA
		}
		if h.prog != "" { // "2026-11-26 17:30:58 host exim[pid]: ...": a syslog daemon's file
			if (h.msg != "" && h.msg[0] == '[') || len(p.splits) > 0 {
				if handled, err := p.eximPart(&h, id, emit); handled {
					return err
				}
			}
			return p.eximSyslog(&h, id, emit)
		}
		return p.exim(&h, id, emit)
	}
	prog := h.prog
	switch {
	case strings.HasPrefix(prog, "postfix"):
		if p.opts.Format == FormatExim {
			p.count(kOtherProgram)
			return errWrongMTA
		}
		// "postfix/smtp", "postfix-out/smtp", "postfix/submission/smtpd";
		// not "postfixadmin" and the like.
		if len(prog) > len("postfix") && prog[len("postfix")] != '/' && prog[len("postfix")] != '-' {
			break
		}
		return p.postfix(&h, id, emit)
	case isEximProg(prog):
		if p.opts.Format == FormatPostfix {
			p.count(kOtherProgram)
			return errWrongMTA
		}
		if (h.msg != "" && h.msg[0] == '[') || len(p.splits) > 0 {
			if handled, err := p.eximPart(&h, id, emit); handled {
				return err
			}
		}
		return p.eximSyslog(&h, id, emit)
	}
	if strings.HasPrefix(prog, "dovecot") || strings.HasSuffix(prog, "-login") {
		if handled, err := p.dovecotAuthFailed(&h, id, emit); handled {
			return err
		}
	}
	p.count(kOtherProgram)
	if p.opts.IgnoreOtherPrograms {
		return nil
	}
	return errProgram
}

// own returns s, copied if it is a view into the line being fed. Use it
// for every string that outlives Feed.
func (p *Parser) own(s string) string {
	if s == "" {
		return ""
	}
	ptr := uintptr(unsafe.Pointer(unsafe.StringData(s)))
	if ptr >= p.lineLo && ptr < p.lineHi {
		return strings.Clone(s)
	}
	return s
}

// host returns the state of the line's host (Options.Host when the line
// has none).
func (p *Parser) host(name string) (*hostState, *LineError) {
	if name == "" {
		name = p.opts.Host
	}
	if hs := p.lastHost; hs != nil && hs.name == name {
		return hs, nil
	}
	hs, ok := p.hosts[name]
	if !ok {
		if checkToken(name) != nil {
			return nil, errHostileToken
		}
		hs = &hostState{name: p.own(name), msgs: make(map[string]*msg)}
		p.hosts[hs.name] = hs
	}
	p.lastHost = hs
	return hs, nil
}

// address normalises an address from the line with event.NormalizeAddress
// and checks it with event.CheckToken. The result is owned.
func (p *Parser) address(s string) (string, bool) {
	a := event.NormalizeAddress(s)
	if checkToken(a) != nil {
		return "", false
	}
	return p.own(a), true
}

// eventAddress is address for a value only the event being built keeps:
// with Options.ReuseEvents it may stay a view of the line (own it before
// keeping it anywhere else).
func (p *Parser) eventAddress(s string) (string, bool) {
	if !p.opts.ReuseEvents {
		return p.address(s)
	}
	a := event.NormalizeAddress(s)
	if checkToken(a) != nil {
		return "", false
	}
	return a, true
}

// token checks and owns a non-address token (client IP, login, queue id).
func (p *Parser) token(s string) (string, bool) {
	if checkToken(s) != nil {
		return "", false
	}
	return p.own(s), true
}

// outcome is one recipient attempt as read from a line.
type outcome struct {
	status    event.Status
	rcpt      string // owned, normalised
	dsn       string // view or interned
	code      int
	text      string // view
	relay     string // view
	clientIP  string // owned; for rejects without a message
	sender    string // owned; for rejects without a message
	hasSender bool
	saslUser  string
	subject   string
}

// event builds the DeliveryEvent for o, joined with m (which may be nil).
func (p *Parser) event(mta string, hs *hostState, qid string, m *msg, ts time.Time, id string, o *outcome) *event.DeliveryEvent {
	var e *event.DeliveryEvent
	if p.opts.ReuseEvents {
		e = &p.ev
	} else {
		e = new(event.DeliveryEvent)
	}
	*e = event.DeliveryEvent{
		V:         event.SchemaVersion,
		ID:        id,
		TS:        ts,
		MTA:       mta,
		Host:      hs.name,
		Recipient: o.rcpt,
		Status:    o.status,
		DSN:       p.dsns.intern(o.dsn),
		ReplyCode: o.code,
		Relay:     p.relays.intern(o.relay),
	}
	if o.text != "" {
		if p.opts.ReuseEvents { // valid until emit returns: a view will do
			e.ReplyText, _ = cleanTextView(dropContinuations(o.text, o.code), maxText)
		} else {
			e.ReplyText = cleanText(dropContinuations(o.text, o.code), maxText)
		}
	}
	switch o.status {
	case event.StatusSent:
	case event.StatusAuthFailed:
		e.Reason = event.ReasonAuthFailure
	default:
		e.Reason = classify.Classify(o.code, o.dsn, o.text)
	}
	if m == nil {
		e.QueueID = p.own(qid)
	} else {
		e.QueueID = m.qid // owned, and the same string for every event of the message
		e.Sender = m.sender
		e.ClientIP = m.clientIP
		e.SASLUser = m.saslUser
		e.MessageID = m.messageID
		e.Size = m.size
		e.Subject = m.subject
	}
	if o.hasSender {
		e.Sender = o.sender
	}
	if o.clientIP != "" {
		e.ClientIP = o.clientIP
	}
	if o.saslUser != "" {
		e.SASLUser = o.saslUser
	}
	if o.subject != "" && e.Subject == "" {
		e.Subject = o.subject
	}
	return e
}

// emitter numbers the events of one line.
type emitter struct {
	id    string
	n     int
	emit  func(*event.DeliveryEvent)
	reuse bool // Options.ReuseEvents: the id may stay a view
}

func (em *emitter) next() string {
	var id string
	switch {
	case em.n == 0 && em.reuse:
		id = em.id
	case em.n == 0:
		id = strings.Clone(em.id) // the caller's id may be a view of a buffer it reuses
	default:
		id = em.id + "/" + strconv.Itoa(em.n)
	}
	em.n++
	return id
}

// interner shares the strings that repeat across events (relays, DSNs).
// It is bounded: when full it starts over, so a flood of distinct values
// costs memory only up to the bound.
type interner struct {
	m   map[string]string
	max int
}

func newInterner(max int) interner {
	return interner{m: make(map[string]string), max: max}
}

func (in *interner) intern(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := in.m[s]; ok {
		return v
	}
	if len(in.m) >= in.max {
		clear(in.m)
	}
	v := strings.Clone(s)
	in.m[v] = v
	return v
}

// dropContinuations removes the reply prefixes of the continuation lines
// of a multi-line reply that the MTA joined into one text ("... does not
// exist. Please try 550-5.1.1 double-checking ..."). Only prefixes that
// repeat the reply's own code are removed. It returns s itself when there
// is nothing to drop.
func dropContinuations(s string, code int) string {
	if code < 200 || code > 599 {
		return s
	}
	var pat [4]byte
	pat[0], pat[1], pat[2], pat[3] = ' ', byte('0'+code/100), byte('0'+code/10%10), byte('0'+code%10)
	p := string(pat[:])
	if !strings.Contains(s, p) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for {
		i := strings.Index(s, p)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		rest := s[i+4:]
		n := 0
		switch {
		case strings.HasPrefix(rest, "-"):
			n = 1
		case rest == "":
			n = 0
		case rest[0] == ' ':
			if _, _, ok := dsnToken(rest[1:]); ok {
				n = 1
			} else {
				b.WriteString(p)
				s = rest
				continue
			}
		default:
			b.WriteString(p)
			s = rest
			continue
		}
		rest = rest[n:]
		if d, r, ok := dsnToken(rest); ok && d != "" {
			rest = r
		}
		b.WriteByte(' ')
		s = trimLeftSpace(rest)
	}
}

// checkToken is event.CheckToken with a fast path: a string of printable,
// non-space ASCII within MaxAddressLen is what CheckToken accepts without
// looking at runes; anything else goes to CheckToken itself.
func checkToken(s string) error {
	if len(s) <= event.MaxAddressLen {
		ok := true
		for i := 0; i < len(s); i++ {
			if c := s[i]; c <= ' ' || c >= 0x7f {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return event.CheckToken(s)
}
