package event

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The hand-written codec of DeliveryEvent. It is the hot path of ingest
// (one encode per recipient attempt) and of the detector (one decode per
// record), where encoding/json's reflection dominated. Its contract is
// encoding/json's: AppendEvent writes the bytes json.Marshal writes for the
// wire form, and DecodeEvent accepts what json.Unmarshal accepts into a
// DeliveryEvent, with the same field values, and rejects what it rejects.
// Whatever the fast decoder does not handle itself, or finds wrong, is
// handed to json.Unmarshal, so the verdict on odd input (and the error
// message) is always encoding/json's. codec_test.go and codec_fuzz_test.go
// check both directions against encoding/json.

// AppendEvent appends the wire form of e to dst and returns the extended
// buffer: the bytes json.Marshal writes for e with the schema version
// stamped and the time in UTC (MarshalEvent's form), in the struct's field
// order, strings escaped as encoding/json escapes them (HTML-safe <, >, &,
// U+2028 and U+2029 escaped, invalid UTF-8 replaced by U+FFFD), ts in
// RFC 3339 with nanoseconds, subject omitted when empty. It allocates
// nothing when dst has room.
//
// json.Marshal refuses a time outside the years 0-9999; for such a time
// AppendEvent writes "ts":"", which every decoder refuses as undecodable.
// MarshalEvent returns an error instead.
func AppendEvent(dst []byte, e *DeliveryEvent) []byte {
	dst = append(dst, `{"v":`...)
	dst = strconv.AppendInt(dst, SchemaVersion, 10)
	dst = append(dst, `,"id":`...)
	dst = appendJSONString(dst, e.ID)
	dst = append(dst, `,"ts":"`...)
	if ts := e.TS.UTC(); encodableTime(ts) {
		dst = ts.AppendFormat(dst, time.RFC3339Nano)
	}
	dst = append(dst, `","mta":`...)
	dst = appendJSONString(dst, e.MTA)
	dst = append(dst, `,"host":`...)
	dst = appendJSONString(dst, e.Host)
	dst = append(dst, `,"queue_id":`...)
	dst = appendJSONString(dst, e.QueueID)
	dst = append(dst, `,"sender":`...)
	dst = appendJSONString(dst, e.Sender)
	dst = append(dst, `,"recipient":`...)
	dst = appendJSONString(dst, e.Recipient)
	dst = append(dst, `,"status":`...)
	dst = appendJSONString(dst, string(e.Status))
	dst = append(dst, `,"dsn":`...)
	dst = appendJSONString(dst, e.DSN)
	dst = append(dst, `,"reply_code":`...)
	dst = strconv.AppendInt(dst, int64(e.ReplyCode), 10)
	dst = append(dst, `,"reply_text":`...)
	dst = appendJSONString(dst, e.ReplyText)
	dst = append(dst, `,"reason":`...)
	dst = appendJSONString(dst, string(e.Reason))
	dst = append(dst, `,"relay":`...)
	dst = appendJSONString(dst, e.Relay)
	dst = append(dst, `,"client_ip":`...)
	dst = appendJSONString(dst, e.ClientIP)
	dst = append(dst, `,"sasl_user":`...)
	dst = appendJSONString(dst, e.SASLUser)
	dst = append(dst, `,"message_id":`...)
	dst = appendJSONString(dst, e.MessageID)
	dst = append(dst, `,"size":`...)
	dst = strconv.AppendInt(dst, e.Size, 10)
	if e.Subject != "" {
		dst = append(dst, `,"subject":`...)
		dst = appendJSONString(dst, e.Subject)
	}
	if len(e.Headers) > 0 {
		dst = append(dst, `,"headers":[`...)
		for i, h := range e.Headers {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, h)
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// encodableTime reports whether json.Marshal can encode t (in UTC): RFC 3339
// has four-digit years only.
func encodableTime(t time.Time) bool {
	y := t.Year()
	return y >= 0 && y <= 9999
}

// errTimeRange is MarshalEvent's error for a time json.Marshal refuses.
var errTimeRange = errors.New("encode event: ts year outside of range [0,9999]")

// eventSizeHint is a capacity that holds e's wire form unless its strings
// need many escapes.
func eventSizeHint(e *DeliveryEvent) int {
	return 272 + len(e.ID) + len(e.MTA) + len(e.Host) + len(e.QueueID) + len(e.Sender) + len(e.Recipient) +
		len(e.Status) + len(e.DSN) + len(e.ReplyText) + len(e.Reason) + len(e.Relay) + len(e.ClientIP) +
		len(e.SASLUser) + len(e.MessageID) + len(e.Subject) + headersSize(e.Headers)
}

// headersSize is the room the headers take unescaped, brackets and quotes included.
func headersSize(hs []string) int {
	if len(hs) == 0 {
		return 0
	}
	n := 13
	for _, h := range hs {
		n += len(h) + 3
	}
	return n
}

// jsonSafe[b] is true for the ASCII bytes encoding/json writes unescaped
// (its htmlSafeSet); false for the rest, including every byte >= 0x80.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = true
	}
	for _, c := range `"\<>&` {
		t[c] = false
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string, escaped exactly as
// encoding/json's Marshal escapes it (HTML-safe).
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if i+8 <= len(s) && encodeSpecial8(uint64(s[i])|uint64(s[i+1])<<8|uint64(s[i+2])<<16|uint64(s[i+3])<<24|
			uint64(s[i+4])<<32|uint64(s[i+5])<<40|uint64(s[i+6])<<48|uint64(s[i+7])<<56) == 0 {
			i += 8
			continue
		}
		b := s[i]
		if jsonSafe[b] {
			i++
			continue
		}
		if b < utf8.RuneSelf {
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default: // other control bytes, <, >, &
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case c == utf8.RuneError && size == 1:
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
		case c == '\u2028' || c == '\u2029':
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// DecodeEvent decodes and validates one wire record into e, as
// UnmarshalEvent does, reusing e: fields the record does not set are zero
// afterwards, and a string field whose new value equals its previous one
// keeps the previous string instead of allocating a copy (a stream of one
// host's records allocates its host, relay and dsn once). Status, reason
// and mta values of the contract never allocate. On error e holds no
// meaningful event.
func DecodeEvent(b []byte, e *DeliveryEvent) error {
	prev := *e
	*e = DeliveryEvent{}
	if err := decodeEventFast(b, e, &prev); err != nil {
		// Not handled here, or not what it should be: encoding/json has
		// the last word, and its error message is the one reported.
		*e = DeliveryEvent{}
		if jerr := json.Unmarshal(b, e); jerr != nil {
			return fmt.Errorf("%w: %w: decode event: %w", ErrInvalid, ErrDecode, jerr)
		}
	}
	if e.V == 0 {
		e.V = 1
	}
	return e.Validate()
}

// errFallback means: the fast decoder does not handle this input (it may
// well be valid); encoding/json decides. errReject means: encoding/json
// rejects this input too (the fuzz test holds the fast decoder to it).
var (
	errFallback = errors.New("event codec: left to encoding/json")
	errReject   = errors.New("event codec: not a valid event record")
)

// maxSkipDepth bounds the nesting of unknown fields' values the fast
// decoder walks (encoding/json allows 10000; deeper is left to it).
const maxSkipDepth = 64

// The fields, in wire order.
const (
	fieldV = iota
	fieldID
	fieldTS
	fieldMTA
	fieldHost
	fieldQueueID
	fieldSender
	fieldRecipient
	fieldStatus
	fieldDSN
	fieldReplyCode
	fieldReplyText
	fieldReason
	fieldRelay
	fieldClientIP
	fieldSASLUser
	fieldMessageID
	fieldSize
	fieldSubject
	fieldHeaders
	fieldUnknown = -1
)

var fieldNames = [...][]byte{
	[]byte("v"), []byte("id"), []byte("ts"), []byte("mta"), []byte("host"), []byte("queue_id"),
	[]byte("sender"), []byte("recipient"), []byte("status"), []byte("dsn"), []byte("reply_code"),
	[]byte("reply_text"), []byte("reason"), []byte("relay"), []byte("client_ip"), []byte("sasl_user"),
	[]byte("message_id"), []byte("size"), []byte("subject"), []byte("headers"),
}

// wireKeys are the keys as AppendEvent writes them, quoted and with the
// colon, indexed by field.
var wireKeys = func() (k [len(fieldNames)][]byte) {
	for i, n := range fieldNames {
		k[i] = []byte(`"` + string(n) + `":`)
	}
	return k
}()

// fieldIndex finds the field a key names as encoding/json does: the exact
// name, else a case-insensitive match (Unicode simple folding, so "ſender"
// is sender, as bytes.EqualFold has it).
func fieldIndex(k []byte) int {
	switch string(k) {
	case "v":
		return fieldV
	case "id":
		return fieldID
	case "ts":
		return fieldTS
	case "mta":
		return fieldMTA
	case "host":
		return fieldHost
	case "queue_id":
		return fieldQueueID
	case "sender":
		return fieldSender
	case "recipient":
		return fieldRecipient
	case "status":
		return fieldStatus
	case "dsn":
		return fieldDSN
	case "reply_code":
		return fieldReplyCode
	case "reply_text":
		return fieldReplyText
	case "reason":
		return fieldReason
	case "relay":
		return fieldRelay
	case "client_ip":
		return fieldClientIP
	case "sasl_user":
		return fieldSASLUser
	case "message_id":
		return fieldMessageID
	case "size":
		return fieldSize
	case "subject":
		return fieldSubject
	case "headers":
		return fieldHeaders
	}
	for i, n := range fieldNames {
		if bytes.EqualFold(k, n) {
			return i
		}
	}
	return fieldUnknown
}

// strClass classifies bytes inside a JSON string: 0 plain ASCII, 1 the
// closing quote, 2 a backslash, 3 a control byte (invalid), 4 a byte of a
// multi-byte (or invalid) UTF-8 sequence.
var strClass = func() (t [256]uint8) {
	for c := 0; c < 0x20; c++ {
		t[c] = 3
	}
	t['"'] = 1
	t['\\'] = 2
	for c := 0x80; c < 0x100; c++ {
		t[c] = 4
	}
	return t
}()

// decoder is the fast path's state: the input, the read position, a buffer
// for unescaped strings and the event's previous strings for reuse.
type decoder struct {
	b    []byte
	i    int
	buf  []byte
	prev *DeliveryEvent
}

// decodeEventFast decodes b into the zero event e. It returns errFallback
// or errReject when encoding/json must decide; e is then garbage.
func decodeEventFast(b []byte, e *DeliveryEvent, prev *DeliveryEvent) error {
	var arr [512]byte
	d := decoder{b: b, buf: arr[:0], prev: prev}
	d.ws()
	if d.i >= len(b) || b[d.i] != '{' {
		return errFallback // null, or not an object: rare, encoding/json says what it is
	}
	d.i++
	d.ws()
	if d.i < len(b) && b[d.i] == '}' {
		d.i++
	} else {
		next := 0 // the field expected next, in the encoder's order
		for {
			var f int
			if next < len(wireKeys) && bytes.HasPrefix(b[d.i:], wireKeys[next]) {
				f = next // the usual case: the key AppendEvent writes next
				d.i += len(wireKeys[next])
			} else {
				if d.i >= len(b) || b[d.i] != '"' {
					return errReject
				}
				k0, k1, plain, err := d.scanString()
				if err != nil {
					return err
				}
				key := b[k0:k1]
				if !plain {
					key = appendUnquoted(d.buf[:0], key)
				}
				f = fieldIndex(key)
				d.ws()
				if d.i >= len(b) || b[d.i] != ':' {
					return errReject
				}
				d.i++
			}
			d.ws()
			if err := d.field(f, e); err != nil {
				return err
			}
			if f != fieldUnknown {
				next = f + 1
			}
			d.ws()
			if d.i >= len(b) {
				return errReject
			}
			if b[d.i] == '}' {
				d.i++
				break
			}
			if b[d.i] != ',' {
				return errReject
			}
			d.i++
			d.ws()
		}
	}
	d.ws()
	if d.i != len(b) {
		return errReject // something after the object
	}
	return nil
}

// ws skips JSON white space.
func (d *decoder) ws() {
	if d.i < len(d.b) && d.b[d.i] > ' ' {
		return
	}
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// field decodes the value at d.i into field f of e.
func (d *decoder) field(f int, e *DeliveryEvent) error {
	if d.i >= len(d.b) {
		return errReject
	}
	switch f {
	case fieldUnknown:
		return d.skip(0)
	case fieldHeaders:
		return errFallback // rare (only messages with logged headers): encoding/json decodes the array
	case fieldV, fieldReplyCode:
		n, null, err := d.integer()
		if err != nil || null {
			return err
		}
		if n < minInt || n > maxInt {
			return errReject
		}
		if f == fieldV {
			e.V = int(n)
		} else {
			e.ReplyCode = int(n)
		}
		return nil
	case fieldSize:
		n, null, err := d.integer()
		if err == nil && !null {
			e.Size = n
		}
		return err
	case fieldTS:
		if d.b[d.i] == 'n' {
			return d.literal("null")
		}
		if d.b[d.i] != '"' {
			return errReject // time.Time.UnmarshalJSON: not a JSON string
		}
		start := d.i
		if _, _, _, err := d.scanString(); err != nil {
			return err
		}
		// As encoding/json does: the raw literal, escapes and all.
		if err := e.TS.UnmarshalJSON(d.b[start:d.i]); err != nil {
			return errReject
		}
		return nil
	}
	// A string field.
	if d.b[d.i] == 'n' {
		return d.literal("null") // null leaves the field as it is
	}
	if d.b[d.i] != '"' {
		return errReject
	}
	s0, s1, plain, err := d.scanString()
	if err != nil {
		return err
	}
	raw := d.b[s0:s1]
	if !plain {
		// Not kept in d.buf: an assignment through d would move the
		// buffer to the heap. A value longer than it allocates.
		raw = appendUnquoted(d.buf[:0], raw)
	}
	p := d.prev
	switch f {
	case fieldID:
		e.ID = keep(raw, p.ID)
	case fieldMTA:
		e.MTA = internMTA(raw, p.MTA)
	case fieldHost:
		e.Host = keep(raw, p.Host)
	case fieldQueueID:
		e.QueueID = keep(raw, p.QueueID)
	case fieldSender:
		e.Sender = keep(raw, p.Sender)
	case fieldRecipient:
		e.Recipient = keep(raw, p.Recipient)
	case fieldStatus:
		e.Status = internStatus(raw, p.Status)
	case fieldDSN:
		e.DSN = keep(raw, p.DSN)
	case fieldReplyText:
		e.ReplyText = keep(raw, p.ReplyText)
	case fieldReason:
		e.Reason = internReason(raw, p.Reason)
	case fieldRelay:
		e.Relay = keep(raw, p.Relay)
	case fieldClientIP:
		e.ClientIP = keep(raw, p.ClientIP)
	case fieldSASLUser:
		e.SASLUser = keep(raw, p.SASLUser)
	case fieldMessageID:
		e.MessageID = keep(raw, p.MessageID)
	case fieldSubject:
		e.Subject = keep(raw, p.Subject)
	}
	return nil
}

const (
	maxInt = int64(^uint(0) >> 1)
	minInt = -maxInt - 1
)

// keep returns prev when it equals b, else a new string of b.
func keep(b []byte, prev string) string {
	if string(b) == prev {
		return prev
	}
	return string(b)
}

func internMTA(b []byte, prev string) string {
	switch string(b) {
	case "postfix":
		return "postfix"
	case "exim":
		return "exim"
	}
	return keep(b, prev)
}

func internStatus(b []byte, prev Status) Status {
	switch Status(b) {
	case StatusSent:
		return StatusSent
	case StatusDeferred:
		return StatusDeferred
	case StatusBounced:
		return StatusBounced
	case StatusRejected:
		return StatusRejected
	case StatusExpired:
		return StatusExpired
	case StatusAuthFailed:
		return StatusAuthFailed
	}
	return Status(keep(b, string(prev)))
}

func internReason(b []byte, prev Reason) Reason {
	if len(b) == 0 {
		return ReasonNone
	}
	for _, r := range reasonValues {
		if string(b) == string(r) {
			return r
		}
	}
	return Reason(keep(b, string(prev)))
}

var reasonValues = Reasons()

// Word-at-a-time tests (the "has less than" and "has zero byte" tricks):
// nonzero exactly when one of the 8 bytes of x is of the kind named.
const (
	ones = 0x0101010101010101
	high = 0x8080808080808080
)

// stringSpecial8: a byte of x ends a plain run inside a JSON string being
// decoded: '"', '\\', a control byte or a byte >= 0x80.
func stringSpecial8(x uint64) uint64 {
	q := x ^ (ones * '"')
	bs := x ^ (ones * '\\')
	return ((x - ones*0x20) | x | (q-ones)&^q | (bs-ones)&^bs) & high
}

// encodeSpecial8: a byte of x is not written as it stands by
// appendJSONString: what stringSpecial8 finds, and <, >, &.
func encodeSpecial8(x uint64) uint64 {
	lt := x ^ (ones * '<')
	gt := x ^ (ones * '>')
	amp := x ^ (ones * '&')
	return stringSpecial8(x) | ((lt-ones)&^lt|(gt-ones)&^gt|(amp-ones)&^amp)&high
}

// scanString reads the JSON string starting at the quote at d.i, checking
// it as encoding/json's scanner does (no control bytes, known escapes
// only), and returns the bounds of its contents. plain reports that the
// contents are the value as they stand: no escapes and valid UTF-8.
func (d *decoder) scanString() (start, end int, plain bool, err error) {
	b := d.b
	i := d.i + 1
	start = i
	ascii := true
	for {
		for i+8 <= len(b) && stringSpecial8(binary.LittleEndian.Uint64(b[i:])) == 0 {
			i += 8
		}
		// A special byte within the next 8, or the tail.
		for i < len(b) && strClass[b[i]] == 0 {
			i++
		}
		if i >= len(b) {
			return 0, 0, false, errReject
		}
		switch strClass[b[i]] {
		case 1:
			d.i = i + 1
			return start, i, ascii || utf8.Valid(b[start:i]), nil
		case 2:
			return d.scanEscaped(start, i)
		case 3:
			return 0, 0, false, errReject
		case 4:
			ascii = false
			i++
		}
	}
}

// scanEscaped goes on with scanString from the backslash at i.
func (d *decoder) scanEscaped(start, i int) (int, int, bool, error) {
	b := d.b
	for i < len(b) {
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			return start, i, false, nil
		case c == '\\':
			i++
			if i >= len(b) {
				return 0, 0, false, errReject
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+4 >= len(b) {
					return 0, 0, false, errReject
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return 0, 0, false, errReject
					}
				}
				i += 5
			default:
				return 0, 0, false, errReject
			}
		case c < 0x20:
			return 0, 0, false, errReject
		default:
			i++
		}
	}
	return 0, 0, false, errReject
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// appendUnquoted appends the value of the string contents s, already
// checked by scanString, decoded as encoding/json's unquote does: escapes
// resolved, a \u surrogate pair joined, a lone surrogate and every byte
// of invalid UTF-8 replaced by U+FFFD.
func appendUnquoted(dst, s []byte) []byte {
	for r := 0; r < len(s); {
		c := s[r]
		switch {
		case c == '\\':
			switch s[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				rr := getu4(s[r:])
				r += 6
				if utf16.IsSurrogate(rr) {
					if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = unicode.ReplacementChar
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // " \ /
				dst = append(dst, s[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(s[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// getu4 decodes the \uXXXX escape at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// integer reads a JSON integer (or null) into an int64 as encoding/json
// does for an integer field: a fraction, an exponent, an overflow or any
// other type is an error.
func (d *decoder) integer() (n int64, null bool, err error) {
	b := d.b
	i := d.i
	if b[i] == 'n' {
		return 0, true, d.literal("null")
	}
	neg := b[i] == '-'
	if neg {
		i++
	}
	if i >= len(b) || b[i] < '0' || b[i] > '9' {
		return 0, false, errReject
	}
	start := i
	var u uint64
	if b[i] == '0' {
		i++
	} else {
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if i-start >= 19 {
				return 0, false, errReject // beyond int64
			}
			u = u*10 + uint64(b[i]-'0')
			i++
		}
	}
	if i < len(b) && (b[i] == '.' || b[i] == 'e' || b[i] == 'E') {
		return 0, false, errReject // not an integer
	}
	d.i = i
	if neg {
		if u > 1<<63 {
			return 0, false, errReject
		}
		return -int64(u), false, nil
	}
	if u > 1<<63-1 {
		return 0, false, errReject
	}
	return int64(u), false, nil
}

// literal consumes the literal lit (true, false, null) at d.i.
func (d *decoder) literal(lit string) error {
	if !bytes.HasPrefix(d.b[d.i:], []byte(lit)) {
		return errReject
	}
	d.i += len(lit)
	return nil
}

// skip checks and passes over any JSON value (an unknown field's).
func (d *decoder) skip(depth int) error {
	b := d.b
	if d.i >= len(b) {
		return errReject
	}
	switch c := b[d.i]; {
	case c == '"':
		_, _, _, err := d.scanString()
		return err
	case c == 'n':
		return d.literal("null")
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == '-' || '0' <= c && c <= '9':
		return d.number()
	case c == '{' || c == '[':
		if depth >= maxSkipDepth {
			return errFallback
		}
		end := byte('}')
		if c == '[' {
			end = ']'
		}
		d.i++
		d.ws()
		if d.i < len(b) && b[d.i] == end {
			d.i++
			return nil
		}
		for {
			if c == '{' {
				if d.i >= len(b) || b[d.i] != '"' {
					return errReject
				}
				if _, _, _, err := d.scanString(); err != nil {
					return err
				}
				d.ws()
				if d.i >= len(b) || b[d.i] != ':' {
					return errReject
				}
				d.i++
				d.ws()
			}
			if err := d.skip(depth + 1); err != nil {
				return err
			}
			d.ws()
			if d.i >= len(b) {
				return errReject
			}
			if b[d.i] == end {
				d.i++
				return nil
			}
			if b[d.i] != ',' {
				return errReject
			}
			d.i++
			d.ws()
		}
	}
	return errReject
}

// number passes over a JSON number, checking its grammar.
func (d *decoder) number() error {
	b := d.b
	i := d.i
	if b[i] == '-' {
		i++
	}
	digits := func() bool {
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		return i > s
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case !digits():
		return errReject
	}
	if i < len(b) && b[i] == '.' {
		i++
		if !digits() {
			return errReject
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if !digits() {
			return errReject
		}
	}
	d.i = i
	return nil
}
