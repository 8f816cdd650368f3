package parse

import (
	"strings"
	"time"
)

// header is the framing of one line. host, prog and msg are views into
// the line (see Parser.own).
type header struct {
	ts   time.Time
	host string
	prog string // syslog tag without "[pid]:", "" for an Exim mainlog line
	pid  string // the pid of the syslog tag (RFC 5424 PROCID), "" if none
	msg  string
	exim bool // Exim mainlog framing: msg starts after the Exim timestamp (and pid)
	// container: the line is a CRI container log record, msg is the
	// text after its timestamp (see Parser.container).
	container bool
}

// tsCache remembers the last timestamp prefix of one framing and its time,
// so a run of lines within the same second parses its date once. The key
// lives in a fixed array: a cache miss does not allocate.
type tsCache struct {
	buf [40]byte
	n   int
	t   time.Time
}

func (c *tsCache) match(k string) bool { return c.n == len(k) && string(c.buf[:c.n]) == k }

func (c *tsCache) match2(k1, k2 string) bool {
	return c.n == len(k1)+len(k2) && string(c.buf[:len(k1)]) == k1 && string(c.buf[len(k1):c.n]) == k2
}

func (c *tsCache) set(k1, k2 string, t time.Time) {
	if len(k1)+len(k2) > len(c.buf) {
		c.n = -1
		return
	}
	c.n = copy(c.buf[:], k1)
	c.n += copy(c.buf[c.n:], k2)
	c.t = t
}

// parseHeader recognises, by the first bytes of the line:
//
//	Nov 26 17:30:58 host prog[pid]: msg                      classic syslog, maillog_file, journalctl -o short
//	<13>Nov 26 17:30:58 host prog[pid]: msg                  RFC 3164 with PRI
//	<22>1 2026-11-26T17:30:58.123+01:00 host prog pid - - msg RFC 5424
//	2026-11-26T17:30:58.123456+00:00 host prog[pid]: msg      rsyslog high precision, journalctl -o short-iso
//	2026-11-26 17:30:58[.mmm] [+hhmm] [[pid]] msg            Exim mainlog (optionally "host exim[pid]: " after the pid)
//	host exim[pid]: 2026-11-26 17:30:58 msg                  journald short without its own timestamp (Exim only)
//	host exim[pid]: [2/3] msg                                the same, a later part of a split line (see eximPart)
func (p *Parser) parseHeader(s string) (header, *LineError) {
	if len(s) == 0 {
		return header{}, errEmpty
	}
	if s[0] == '<' {
		i := 1
		for i < len(s) && i < 5 && isDigit(s[i]) {
			i++
		}
		if i == 1 || i >= len(s) || s[i] != '>' {
			return header{}, errNoFraming
		}
		s = s[i+1:]
		if len(s) > 2 && s[0] == '1' && s[1] == ' ' {
			return p.parseRFC5424(s[2:])
		}
	}
	if len(s) >= 19 && isDigit(s[0]) && s[4] == '-' && s[7] == '-' {
		switch s[10] {
		case 'T':
			return p.parseISOSyslog(s)
		case ' ':
			return p.parseEximHeader(s)
		}
		return header{}, errNoFraming
	}
	if len(s) >= 15 && monthOf(s) > 0 && s[3] == ' ' {
		return p.parseClassic(s)
	}
	if len(s) > 28 && s[3] == ' ' && isDigit(s[4]) && s[8] == '-' && s[14] == ' ' && isWeekday(s[:3]) {
		if h, ok := p.parseFullStamp(s); ok {
			return h, nil
		}
	}
	if len(s) > 12 && isDigit(s[0]) && s[10] == '.' {
		if h, ok := p.parseUnixStamp(s); ok {
			return h, nil
		}
	}
	return p.parseJournalShort(s)
}

func (p *Parser) parseClassic(s string) (header, *LineError) {
	// "Nov 26 17:30:58", "Nov  6 17:30:58", "Nov 06 17:30:58", "Aug 3 15:30:49"
	i := 4
	for i < len(s) && s[i] == ' ' {
		i++
	}
	j := i
	for j < len(s) && j-i < 2 && isDigit(s[j]) {
		j++
	}
	if j == i || j+9 > len(s) || s[j] != ' ' || s[j+3] != ':' || s[j+6] != ':' {
		return header{}, errTimestamp
	}
	end := j + 9
	var h header
	if p.classicTS.match(s[:end]) {
		h.ts = p.classicTS.t
	} else {
		mon := monthOf(s)
		day := atoi(s[i:j])
		hh, ok1 := two(s, j+1)
		mm, ok2 := two(s, j+4)
		ss, ok3 := two(s, j+7)
		if !ok1 || !ok2 || !ok3 || day < 1 || day > 31 || hh > 23 || mm > 59 || ss > 60 {
			return header{}, errTimestamp
		}
		h.ts = p.inferYear(time.Month(mon), day, hh, mm, ss)
		p.classicTS.set(s[:end], "", h.ts)
	}
	if end < len(s) && s[end] == '.' { // high-precision variant without year
		k := end + 1
		ns, n := fraction(s[k:])
		h.ts = h.ts.Add(time.Duration(ns))
		end = k + n
	}
	return p.hostAndTag(h, s[end:])
}

// hostAndTag parses " host prog[pid]: msg" (or " prog[pid]: msg" from a
// syslog daemon that writes no host name; the line then gets
// Options.Host).
func (p *Parser) hostAndTag(h header, s string) (header, *LineError) {
	s = trimLeftSpace(s)
	i := 0 // the end of the first word (a host name: short)
	for i < len(s) && s[i] != ' ' {
		i++
	}
	if i == 0 || i == len(s) {
		return header{}, errNoTag
	}
	if s[0] == '<' && isPriToken(s[:i]) { // "<mail.info> host prog[pid]: ", "<22> host ..."
		s = trimLeftSpace(s[i:])
		if i = strings.IndexByte(s, ' '); i <= 0 {
			return header{}, errNoTag
		}
	}
	if i >= 2 && s[i-1] == ':' && (s[i-2] == ']' || strings.HasPrefix(s, "postfix")) {
		prog, pid, rest, ok := splitTag(s)
		if ok {
			h.prog, h.pid, h.msg = prog, pid, stripSolarisID(rest)
			return h, nil
		}
	}
	h.host = s[:i]
	s = trimLeftSpace(s[i:])
	prog, pid, rest, ok := splitTag(s)
	if !ok {
		// "host mail.info prog[pid]: " or "mail.info host prog[pid]: ":
		// a template's facility.level field.
		tok, after := cutToken(s)
		switch {
		case isPriToken(tok):
			prog, pid, rest, ok = splitTag(trimLeftSpace(after))
		case isPriToken(h.host):
			h.host = tok
			prog, pid, rest, ok = splitTag(trimLeftSpace(after))
		}
		if !ok {
			return header{}, errNoTag
		}
	}
	h.prog, h.pid, h.msg = prog, pid, stripSolarisID(rest)
	return h, nil
}

// splitTag splits "prog[pid]: msg" (or "prog: msg") into prog, pid and
// msg.
func splitTag(s string) (prog, pid, msg string, ok bool) {
	// One pass (tags are short): up to the ':', no space before it.
	i, j := 0, -1
	for ; i < len(s); i++ {
		c := s[i]
		if c == ':' {
			break
		}
		if c == ' ' {
			return "", "", "", false
		}
		if c == '[' && j < 0 {
			j = i
		}
	}
	if i == 0 || i == len(s) {
		return "", "", "", false
	}
	tag := s[:i]
	msg = s[i+1:]
	if len(msg) > 0 && msg[0] == ' ' {
		msg = msg[1:]
	}
	if j >= 0 {
		pid = strings.TrimSuffix(tag[j+1:], "]")
		tag = tag[:j]
	}
	if tag == "" {
		return "", "", "", false
	}
	return tag, pid, msg, true
}

func (p *Parser) parseRFC5424(s string) (header, *LineError) {
	// TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]
	var f [5]string
	for k := 0; k < 5; k++ {
		i := strings.IndexByte(s, ' ')
		if i <= 0 {
			return header{}, errBadRFC5424
		}
		f[k] = s[:i]
		s = s[i+1:]
	}
	// Structured data: "-" or one or more "[...]" with \] escapes.
	if strings.HasPrefix(s, "-") {
		s = s[1:]
	} else {
		for strings.HasPrefix(s, "[") {
			i := 1
			for i < len(s) && s[i] != ']' {
				if s[i] == '\\' {
					i++
				}
				i++
			}
			if i >= len(s) {
				return header{}, errBadRFC5424
			}
			s = s[i+1:]
		}
	}
	if len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	s = strings.TrimPrefix(s, "\xef\xbb\xbf") // BOM
	var h header
	if f[0] == "-" {
		return header{}, errNilTimestamp
	}
	ts, n, ok := p.parseISO(f[0], &p.isoTS)
	if !ok || n != len(f[0]) {
		return header{}, errTimestamp
	}
	h.ts = ts
	if f[1] != "-" {
		h.host = f[1]
	}
	if f[2] == "-" {
		return header{}, errNoTag
	}
	h.prog = f[2]
	if f[3] != "-" {
		h.pid = f[3]
	}
	h.msg = stripSolarisID(s)
	return h, nil
}

func (p *Parser) parseISOSyslog(s string) (header, *LineError) {
	ts, n, ok := p.parseISO(s, &p.isoTS)
	if !ok || n >= len(s) || s[n] != ' ' {
		return header{}, errTimestamp
	}
	if n+1 < len(s) && s[n+1] == 's' && p.depth == 0 {
		if _, _, ok := containerStream(s[n:]); ok {
			return header{ts: ts, msg: s[n:], container: true}, nil
		}
	}
	return p.hostAndTag(header{ts: ts}, s[n:])
}

// parseEximHeader parses "2026-11-26 17:30:58[.ddd] [+hhmm] [[pid]] ".
func (p *Parser) parseEximHeader(s string) (header, *LineError) {
	ts, n, ok := p.parseEximTime(s)
	if !ok {
		return header{}, errTimestamp
	}
	h := header{ts: ts, exim: true}
	s = trimLeftSpace(s[n:])
	if len(s) > 1 && s[0] == '[' && isDigit(s[1]) { // [pid]
		if i := strings.IndexByte(s, ']'); i > 0 {
			s = trimLeftSpace(s[i+1:])
		}
	}
	// "host exim[pid]: msg" (Exim writing to a syslog-formatted file).
	if i := strings.IndexByte(s, ' '); i > 0 && i+1 < len(s) {
		if prog, pid, rest, ok := splitTag(s[i+1:]); ok && isEximProg(prog) {
			h.host, h.prog, h.pid = s[:i], prog, pid
			s = rest
		}
	}
	h.msg = s
	return h, nil
}

// parseJournalShort handles "host exim[pid]: 2026-11-26 17:30:58 msg",
// and the parts of such a line that Exim split for syslog ("host
// exim[pid]: [2/3] msg", without a timestamp but that of the first part's
// text, see eximPart).
func (p *Parser) parseJournalShort(s string) (header, *LineError) {
	i := strings.IndexByte(s, ' ')
	if i <= 0 {
		return header{}, errNoFraming
	}
	prog, pid, rest, ok := splitTag(s[i+1:])
	if !ok {
		return header{}, errNoFraming
	}
	if len(rest) >= 19 && isDigit(rest[0]) && rest[4] == '-' && rest[10] == ' ' {
		h, err := p.parseEximHeader(rest)
		if err != nil {
			return header{}, err
		}
		h.exim = isEximProg(prog)
		h.host, h.prog, h.pid = s[:i], prog, pid
		return h, nil
	}
	if isEximProg(prog) {
		if _, _, _, _, ok := splitMarker(rest); ok {
			return header{host: s[:i], prog: prog, pid: pid, msg: rest}, nil
		}
	}
	return header{}, errNoFraming
}

// parseEximTime parses "YYYY-MM-DD HH:MM:SS[.fff][ +hhmm]" in Location
// unless an offset follows.
func (p *Parser) parseEximTime(s string) (time.Time, int, bool) {
	if len(s) < 19 || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, false
	}
	n := 19
	var ns int
	if n < len(s) && s[n] == '.' {
		f, k := fraction(s[n+1:])
		ns, n = f, n+1+k
	}
	// Optional zone: " +0100" / " -0500".
	zone, zn := 0, 0
	if n+6 <= len(s) && s[n] == ' ' && (s[n+1] == '+' || s[n+1] == '-') && allDigits(s[n+2:n+6]) &&
		(n+6 == len(s) || s[n+6] == ' ') {
		zone = (atoi(s[n+2:n+4])*60 + atoi(s[n+4:n+6])) * 60
		if s[n+1] == '-' {
			zone = -zone
		}
		zn = 6
	}
	key := s[:19]
	var base time.Time
	if zn == 0 && p.eximTS.match(key) {
		base = p.eximTS.t
	} else {
		y, mo, d, hh, mm, ss, ok := dateTime(s)
		if !ok {
			return time.Time{}, 0, false
		}
		if zn == 0 {
			base = time.Date(y, time.Month(mo), d, hh, mm, ss, 0, p.opts.Location).UTC()
			p.eximTS.set(key, "", base)
		} else {
			base = time.Date(y, time.Month(mo), d, hh, mm, ss, 0, time.UTC).Add(-time.Duration(zone) * time.Second)
		}
	}
	return base.Add(time.Duration(ns)), n + zn, true
}

// parseISO parses an RFC 3339 / ISO 8601 timestamp at the start of s
// ("2026-11-26T17:30:58", optional fraction, then Z, +hh:mm or +hhmm; no
// zone means Location). It returns the time in UTC and its length.
func (p *Parser) parseISO(s string, c *tsCache) (time.Time, int, bool) {
	if len(s) < 19 || s[10] != 'T' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, 0, false
	}
	n := 19
	var ns int
	if n < len(s) && (s[n] == '.' || s[n] == ',') {
		f, k := fraction(s[n+1:])
		ns, n = f, n+1+k
	}
	zs := n
	zone, local := 0, false
	switch {
	case n < len(s) && (s[n] == 'Z' || s[n] == 'z'):
		n++
	case n+3 <= len(s) && (s[n] == '+' || s[n] == '-') && isDigit(s[n+1]) && isDigit(s[n+2]):
		hh := atoi(s[n+1 : n+3])
		k := n + 3
		if k < len(s) && s[k] == ':' {
			k++
		}
		if k+2 > len(s) || !isDigit(s[k]) || !isDigit(s[k+1]) {
			return time.Time{}, 0, false
		}
		zone = (hh*60 + atoi(s[k:k+2])) * 60
		if s[n] == '-' {
			zone = -zone
		}
		n = k + 2
	default:
		local = true
	}
	// The cache key is the date and time to the second plus the zone text.
	key1, key2 := s[:19], s[zs:n]
	if c.match2(key1, key2) {
		return c.t.Add(time.Duration(ns)), n, true
	}
	y, mo, d, hh, mm, ss, ok := dateTime(s)
	if !ok {
		return time.Time{}, 0, false
	}
	var base time.Time
	if local {
		base = time.Date(y, time.Month(mo), d, hh, mm, ss, 0, p.opts.Location).UTC()
	} else {
		base = time.Date(y, time.Month(mo), d, hh, mm, ss, 0, time.UTC).Add(-time.Duration(zone) * time.Second)
	}
	c.set(key1, key2, base)
	return base.Add(time.Duration(ns)), n, true
}

// dateTime reads "YYYY-MM-DD?HH:MM:SS" (any separator at 10).
func dateTime(s string) (y, mo, d, hh, mm, ss int, ok bool) {
	if !allDigits(s[0:4]) {
		return
	}
	y = atoi(s[0:4])
	var ok1, ok2, ok3, ok4, ok5 bool
	mo, ok1 = two(s, 5)
	d, ok2 = two(s, 8)
	hh, ok3 = two(s, 11)
	mm, ok4 = two(s, 14)
	ss, ok5 = two(s, 17)
	ok = ok1 && ok2 && ok3 && ok4 && ok5 && mo >= 1 && mo <= 12 && d >= 1 && d <= 31 && hh <= 23 && mm <= 59 && ss <= 60 && y >= 1970
	return
}

// inferYear gives a syslog timestamp without a year the latest year that
// does not put it more than 24 h after Now.
func (p *Parser) inferYear(mon time.Month, day, hh, mm, ss int) time.Time {
	now := p.opts.Now()
	limit := now.Add(24 * time.Hour)
	loc := p.opts.Location
	c := &p.yearCache
	// Fast path (UTC only, where a day is always 24 h): the year chosen for
	// this month and day still holds if the time is not after the limit
	// and the same time a year later is.
	if loc == time.UTC && c.ok && c.mon == mon && c.day == day {
		off := time.Duration(hh*3600+mm*60+ss) * time.Second
		if t := c.mid.Add(off); !t.After(limit) && c.midNext.Add(off).After(limit) {
			return t
		}
	}
	y := now.In(loc).Year()
	t := time.Date(y-1, mon, day, hh, mm, ss, 0, loc)
	for yy := y + 1; yy >= y-1; yy-- {
		if c := time.Date(yy, mon, day, hh, mm, ss, 0, loc); !c.After(limit) {
			t = c
			break
		}
	}
	if loc == time.UTC {
		ty := t.Year()
		*c = yearCache{ok: true, mon: mon, day: day,
			mid: time.Date(ty, mon, day, 0, 0, 0, 0, time.UTC), midNext: time.Date(ty+1, mon, day, 0, 0, 0, 0, time.UTC)}
	}
	return t.UTC()
}

// yearCache remembers the midnight of the last month and day inferYear
// placed, and the same midnight a year later.
type yearCache struct {
	ok           bool
	mon          time.Month
	day          int
	mid, midNext time.Time
}

func monthOf(s string) int {
	if len(s) < 3 {
		return 0
	}
	switch s[:3] {
	case "Jan":
		return 1
	case "Feb":
		return 2
	case "Mar":
		return 3
	case "Apr":
		return 4
	case "May":
		return 5
	case "Jun":
		return 6
	case "Jul":
		return 7
	case "Aug":
		return 8
	case "Sep":
		return 9
	case "Oct":
		return 10
	case "Nov":
		return 11
	case "Dec":
		return 12
	}
	return 0
}

// fraction reads up to 9 significant decimal digits of a fraction of a
// second, returning nanoseconds and the number of digits consumed.
func fraction(s string) (int, int) {
	ns, i := 0, 0
	for i < len(s) && isDigit(s[i]) {
		if i < 9 {
			ns = ns*10 + int(s[i]-'0')
		}
		i++
	}
	for k := i; k < 9; k++ {
		ns *= 10
	}
	return ns, i
}

func isEximProg(prog string) bool {
	return prog == "exim" || prog == "exim4" || strings.HasPrefix(prog, "exim")
}

// parseUnixStamp parses journalctl -o short-unix: "1795714258.123456 host
// prog[pid]: msg" (seconds since the epoch, ten digits, and a fraction).
func (p *Parser) parseUnixStamp(s string) (header, bool) {
	if !allDigits(s[:10]) {
		return header{}, false
	}
	ns, n := fraction(s[11:])
	if n == 0 || 11+n >= len(s) || s[11+n] != ' ' {
		return header{}, false
	}
	ts := time.Unix(int64(atoi(s[:10])), int64(ns)).UTC()
	h, err := p.hostAndTag(header{ts: ts}, s[11+n:])
	if err != nil {
		return header{}, false
	}
	return h, true
}

// parseFullStamp parses journalctl -o short-full: "Thu 2026-11-26
// 17:30:58 CET host prog[pid]: msg". The zone is journalctl's abbreviation of the local zone: UTC and GMT are
// UTC, any other is Options.Location.
func (p *Parser) parseFullStamp(s string) (header, bool) {
	rest := s[4:]
	y, mo, d, hh, mm, ss, ok := dateTime(rest)
	if !ok || rest[10] != ' ' {
		return header{}, false
	}
	rest = rest[19:]
	if len(rest) < 2 || rest[0] != ' ' {
		return header{}, false
	}
	zone, after := cutToken(rest[1:])
	if zone == "" || len(zone) > 6 || after == "" {
		return header{}, false
	}
	loc := p.opts.Location
	if zone == "UTC" || zone == "GMT" {
		loc = time.UTC
	}
	ts := time.Date(y, time.Month(mo), d, hh, mm, ss, 0, loc).UTC()
	h, err := p.hostAndTag(header{ts: ts}, after)
	if err != nil {
		return header{}, false
	}
	return h, true
}

func isWeekday(s string) bool {
	switch s {
	case "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun":
		return true
	}
	return false
}
