package event

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The reference: the codec as it was, on encoding/json.

func jsonMarshalEvent(e *DeliveryEvent) ([]byte, error) {
	c := *e
	c.V = SchemaVersion
	c.TS = c.TS.UTC()
	return json.Marshal(&c)
}

func jsonUnmarshalEvent(b []byte) (*DeliveryEvent, error) {
	var e DeliveryEvent
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: %w: decode event: %w", ErrInvalid, ErrDecode, err)
	}
	if e.V == 0 {
		e.V = 1
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// seedEvents returns the lines of testdata/events.jsonl: events ingest
// wrote for the parser's real and synthetic test logs.
func seedEvents(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open("testdata/events.jsonl")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if len(lines) < 100 {
		tb.Fatalf("testdata/events.jsonl: %d events, want the whole sample", len(lines))
	}
	return lines
}

// hostileStrings are values a log line may carry into any field.
var hostileStrings = []string{
	"", "a", "plain@example.com", "NUL\x00inside", "new\nline", "cr\rlf\r\n", "tab\there", "\b\f\v\x01\x1f\x7f",
	`quote " and \ backslash /`, "<script>alert(1)</script> & co", "bidi \u202eevil\u202c \u2066isolate\u2069 \u200b\ufeff",
	"line sep \u2028 para sep \u2029", "invalid \xff\xfe utf-8", "truncated \xe2\x82", "surrogate \xed\xa0\x80 in utf-8",
	"overlong \xc0\xaf", "replacement \ufffd char", "日本語 Ünïcödé 🙂", "\U0010ffff max", strings.Repeat("x<\u2028\xff", 1300),
	strings.Repeat("a", 5000), "Votre commande n° 4711",
}

// hostileEvents builds events with each hostile string in each field.
func hostileEvents() []*DeliveryEvent {
	base := DeliveryEvent{
		ID: "mx1:/var/log/maillog:42", TS: time.Date(2026, 11, 26, 17, 30, 58, 123456789, time.UTC),
		MTA: "postfix", Host: "mx1", QueueID: "4ABC", Sender: "a@b.example", Recipient: "c@d.example",
		Status: StatusBounced, DSN: "5.1.1", ReplyCode: 550, ReplyText: "550 5.1.1 user unknown",
		Reason: ReasonUserUnknown, SASLUser: "acme", Size: 1234,
	}
	var out []*DeliveryEvent
	for _, s := range hostileStrings {
		for f := 0; f < 16; f++ {
			e := base
			switch f {
			case 0:
				e.ID = s
			case 1:
				e.MTA = s
			case 2:
				e.Host = s
			case 3:
				e.QueueID = s
			case 4:
				e.Sender = s
			case 5:
				e.Recipient = s
			case 6:
				e.Status = Status(s)
			case 7:
				e.DSN = s
			case 8:
				e.ReplyText = s
			case 9:
				e.Reason = Reason(s)
			case 10:
				e.Relay = s
			case 11:
				e.ClientIP = s
			case 12:
				e.SASLUser = s
			case 13:
				e.MessageID = s
			case 14:
				e.Subject = s
			case 15:
				e.ReplyText, e.Subject = s, s
			}
			out = append(out, &e)
		}
	}
	for _, ts := range []time.Time{
		{}, time.Unix(0, 0), time.Date(2026, 1, 1, 0, 0, 0, 100, time.FixedZone("CET", 3600)),
		time.Date(2026, 1, 1, 0, 0, 0, 120_000_000, time.FixedZone("", -(9*3600+30*60))),
		time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC), time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(), // monotonic reading
	} {
		e := base
		e.TS = ts
		out = append(out, &e)
	}
	for _, n := range []int64{0, -1, 1 << 40, -1 << 62, 1<<63 - 1, -1 << 63} {
		e := base
		e.Size, e.ReplyCode = n, int(n)
		out = append(out, &e)
	}
	return out
}

func TestAppendEventMatchesEncodingJSON(t *testing.T) {
	events := hostileEvents()
	for _, line := range seedEvents(t) {
		var e DeliveryEvent
		if err := json.Unmarshal(line, &e); err != nil {
			t.Fatal(err)
		}
		events = append(events, &e)
	}
	for _, e := range events {
		want, err := jsonMarshalEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendEvent(nil, e); !bytes.Equal(got, want) {
			t.Errorf("AppendEvent(%+v)\n got %s\nwant %s", e, got, want)
		}
		got, err := MarshalEvent(e)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("MarshalEvent = %s, %v\nwant %s", got, err, want)
		}
		// Appending keeps what dst held.
		if got := AppendEvent([]byte("prefix "), e); !bytes.Equal(got, append([]byte("prefix "), want...)) {
			t.Errorf("AppendEvent to a non-empty buffer: %s", got)
		}
	}
}

func TestMarshalEventTimeOutOfRange(t *testing.T) {
	for _, ts := range []time.Time{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 30, 0, 0, time.FixedZone("", -3600))} { // 10000 in UTC
		e := &DeliveryEvent{TS: ts, Status: StatusSent}
		if _, jerr := jsonMarshalEvent(e); jerr == nil {
			t.Fatalf("encoding/json encodes %v; the test assumes it refuses", ts)
		}
		if b, err := MarshalEvent(e); err == nil {
			t.Errorf("MarshalEvent(%v) = %s, want an error as from encoding/json", ts, b)
		}
		b := AppendEvent(nil, e)
		if !bytes.Contains(b, []byte(`,"ts":"",`)) {
			t.Errorf("AppendEvent(%v) = %s, want an empty ts", ts, b)
		}
		if _, err := UnmarshalEvent(b); !errors.Is(err, ErrDecode) {
			t.Errorf("the record with an empty ts decodes: %v", err)
		}
	}
}

// decodeCases are records encoding/json accepts or rejects for reasons the
// decoder must mirror.
var decodeCases = []string{
	// Field order, white space, case-insensitive and folded names, unknown fields.
	`{"status":"sent","ts":"2026-01-01T00:00:00Z","v":1}`,
	" \t\r\n{ \"ts\" : \"2026-01-01T00:00:00Z\" ,\n\"status\"\t:\"sent\" } \n",
	`{"TS":"2026-01-01T00:00:00Z","Status":"sent","SENDER":"a@b","Reply_Code":550,"ſender":"s@long.s","SıZE":1}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","extra":{"a":[1,2.5e-3,-0,true,false,null,"x\u0041",{}],"b":[]},"n":-12.5E+3}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","nested":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","\u0073ender":"escaped@key"}`,
	// Escapes: \uXXXX, surrogate pairs, lone surrogates, invalid UTF-8 replaced.
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","reply_text":"\"\\\/\b\f\n\r\t\u0000\u001f\u00e9\u20AC\ud83d\ude42"}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","reply_text":"lone \ud83d high, lone \ude42 low, \ud83d\u0041 broken pair, \ud83d\ud83d\ude42 two highs"}`,
	"{\"ts\":\"2026-01-01T00:00:00Z\",\"status\":\"sent\",\"subject\":\"bad \xff\xfe utf-8 \xed\xa0\x80 \xe2\x82\"}",
	"{\"ts\":\"2026-01-01T00:00:00Z\",\"status\":\"sent\",\"subject\":\"ok \u2028 \u202e 日本 🙂\"}",
	// Null leaves a field as it is, numbers for the integers.
	`{"v":null,"id":null,"ts":"2026-01-01T00:00:00Z","status":"sent","reply_code":null,"size":null,"subject":null}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":"first@x","sender":null}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":"first@x","sender":"second@x"}`,
	`{"ts":"2026-01-01T00:00:00Z","ts":null,"status":"sent"}`,
	`{"v":0,"ts":"2026-01-01T00:00:00Z","status":"sent","size":9223372036854775807,"reply_code":-0}`,
	`{"v":-3,"ts":"2026-01-01T00:00:00Z","status":"sent","size":-9223372036854775808}`,
	// Times: offsets, fractions, what time.Time refuses.
	`{"ts":"2026-01-01T01:00:00.5+01:00","status":"sent"}`,
	`{"ts":"2026-01-01T00:00:00.123456789-09:30","status":"sent"}`,
	`{"ts":"2026-01-01t00:00:00z","status":"sent"}`,
	`{"ts":"2026-01-01 00:00:00Z","status":"sent"}`,
	`{"ts":"2026-01-01T00:00:00\u005a","status":"sent"}`,
	`{"ts":"2026-13-01T00:00:00Z","status":"sent"}`,
	`{"ts":"2026-01-01T00:00:00,5Z","status":"sent"}`,
	`{"ts":"","status":"sent"}`,
	`{"ts":1767225600,"status":"sent"}`,
	`{"ts":{},"status":"sent"}`,
	// Wrong types, bad numbers.
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","size":"12"}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","size":1.5}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","size":1e3}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","size":9223372036854775808}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","size":-9223372036854775809}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","size":012}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","size":-}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","size":true}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":5}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":["a"]}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":{"a":1}}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","v":"1"}`,
	// Syntax.
	``, ` `, `null`, ` null `, `[]`, `"x"`, `1`, `{}`, `{`, `}`, `{"ts":`, `{"ts"}`, `{"ts":"2026-01-01T00:00:00Z","status":"sent",}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent"}x`, `{"ts":"2026-01-01T00:00:00Z","status":"sent"}{}`,
	`{"ts":"2026-01-01T00:00:00Z" "status":"sent"}`, `{'ts':"x"}`, `{ts:"x"}`,
	"{\"ts\":\"2026-01-01T00:00:00Z\",\"status\":\"sent\",\"sender\":\"raw\nnewline\"}",
	"{\"ts\":\"2026-01-01T00:00:00Z\",\"status\":\"sent\",\"x\":\"raw\x00nul\"}",
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":"bad \x escape"}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":"bad \u12G4 escape"}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":"bad \'"}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","x":tru}`, `{"ts":"2026-01-01T00:00:00Z","status":"sent","x":nul}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","x":[1,]}`, `{"ts":"2026-01-01T00:00:00Z","status":"sent","x":{"a"}}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","x":01}`, `{"ts":"2026-01-01T00:00:00Z","status":"sent","x":1.}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","x":.5}`, `{"ts":"2026-01-01T00:00:00Z","status":"sent","x":+1}`,
	"\xef\xbb\xbf{\"ts\":\"2026-01-01T00:00:00Z\",\"status\":\"sent\"}",
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","x":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","x":` + strings.Repeat("[", 9000) + strings.Repeat("]", 9000) + `}`,
	// Validation: the same errors as before.
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":"a@b\nc REJECT"}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","recipient":"a\u0000@b"}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","recipient":"a\u202e@b"}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","sender":"` + strings.Repeat("a", 400) + `"}`,
	"{\"ts\":\"2026-01-01T00:00:00Z\",\"status\":\"sent\",\"sender\":\"a\xff@b\"}",
	`{"ts":"2026-01-01T00:00:00Z","status":"lost"}`, `{"status":"sent"}`,
	`{"v":2,"ts":"2026-01-01T00:00:00Z","status":"sent"}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","subject":"` + strings.Repeat("\\u00e9<>", 1000) + `"}`,
	// An int field takes what int holds on this platform.
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","reply_code":9223372036854775807}`,
	`{"ts":"2026-01-01T00:00:00Z","status":"sent","reply_code":-2147483649}`,
}

// checkDecode holds DecodeEvent and UnmarshalEvent to encoding/json on in:
// both accept with the same event or both refuse with the same error.
func checkDecode(t *testing.T, in []byte) {
	t.Helper()
	want, wantErr := jsonUnmarshalEvent(in)
	got, err := UnmarshalEvent(in)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("UnmarshalEvent(%q)\n got error %v\nwant error %v", in, err, wantErr)
	}
	for _, target := range []error{ErrInvalid, ErrDecode, ErrUnsupportedVersion} {
		if errors.Is(err, target) != errors.Is(wantErr, target) {
			t.Fatalf("UnmarshalEvent(%q): error %v: errors.Is(%v) differs from encoding/json's", in, err, target)
		}
	}
	if err == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("UnmarshalEvent(%q)\n got %+v\nwant %+v", in, got, want)
	}
	// The reusable variant, over an event full of other values.
	reused := &DeliveryEvent{V: 7, ID: "old", TS: time.Now(), MTA: "exim", Host: "h", QueueID: "q", Sender: "s",
		Recipient: "r", Status: StatusDeferred, DSN: "4.0.0", ReplyCode: 451, ReplyText: "t", Reason: ReasonOther,
		Relay: "rl", ClientIP: "ip", SASLUser: "u", MessageID: "m", Size: 9, Subject: "subj"}
	derr := DecodeEvent(in, reused)
	if (derr == nil) != (err == nil) || derr != nil && derr.Error() != err.Error() {
		t.Fatalf("DecodeEvent(%q) = %v, UnmarshalEvent %v", in, derr, err)
	}
	if derr == nil && !reflect.DeepEqual(reused, want) {
		t.Fatalf("DecodeEvent(%q) into a used event\n got %+v\nwant %+v", in, reused, want)
	}
	// The fast path refuses only what encoding/json refuses.
	var e DeliveryEvent
	if ferr := decodeEventFast(in, &e, &DeliveryEvent{}); errors.Is(ferr, errReject) {
		var v DeliveryEvent
		if jerr := json.Unmarshal(in, &v); jerr == nil {
			t.Fatalf("fast decoder rejects %q, encoding/json accepts it as %+v", in, v)
		}
	}
}

func TestDecodeEventMatchesEncodingJSON(t *testing.T) {
	for i, in := range decodeCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkDecode(t, []byte(in)) })
	}
	for _, line := range seedEvents(t) {
		checkDecode(t, line)
	}
}

// TestDecodeEventNoFallback checks that the records the services exchange
// and their ordinary variants take the fast path: falling back to
// encoding/json would be correct but slow.
func TestDecodeEventNoFallback(t *testing.T) {
	var ins [][]byte
	for _, line := range seedEvents(t) {
		ins = append(ins, line)
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatal(err)
		}
		m["unknown_field"] = map[string]any{"list": []any{1.5, "x", nil, true}}
		indented, _ := json.MarshalIndent(m, "", "  ") // other order (sorted), white space, unknown field
		ins = append(ins, indented)
	}
	for _, e := range hostileEvents() {
		if encodableTime(e.TS.UTC()) {
			ins = append(ins, AppendEvent(nil, e))
		}
	}
	for _, i := range []int{0, 1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15} {
		ins = append(ins, []byte(decodeCases[i]))
	}
	for _, in := range ins {
		var e DeliveryEvent
		if err := decodeEventFast(in, &e, &DeliveryEvent{}); err != nil {
			t.Errorf("fast decoder: %v on %q", err, in)
		}
	}
}

func TestEventCodecRoundTrip(t *testing.T) {
	for _, e := range hostileEvents() {
		if !encodableTime(e.TS.UTC()) {
			continue
		}
		b := AppendEvent(nil, e)
		got, err := UnmarshalEvent(b)
		want, wantErr := jsonUnmarshalEvent(b)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("round trip of %+v: %v, encoding/json %v", e, err, wantErr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrDecode) {
				t.Errorf("our own record %s is refused as undecodable: %v", b, err)
			}
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, want)
		}
		// Valid UTF-8 comes back unchanged; the time is the same instant.
		if !got.TS.Equal(e.TS) || got.Sender != e.Sender && e.Sender == strings.ToValidUTF8(e.Sender, "\x00") ||
			got.Subject != e.Subject && e.Subject == strings.ToValidUTF8(e.Subject, "\x00") {
			t.Errorf("round trip of %+v gave %+v", e, got)
		}
	}
}

func TestDecodeEventReuse(t *testing.T) {
	lines := seedEvents(t)
	var e DeliveryEvent
	// A record without subject after one with: the subject is gone.
	with := []byte(`{"ts":"2026-01-01T00:00:00Z","status":"sent","host":"mx1","subject":"hello","size":5}`)
	without := []byte(`{"ts":"2026-01-01T00:00:00Z","status":"bounced","host":"mx1"}`)
	if err := DecodeEvent(with, &e); err != nil || e.Subject != "hello" {
		t.Fatalf("DecodeEvent = %v, %+v", err, e)
	}
	if err := DecodeEvent(without, &e); err != nil || e.Subject != "" || e.Size != 0 || e.Status != StatusBounced {
		t.Fatalf("DecodeEvent after a record with subject and size = %v, %+v", err, e)
	}
	// The same record again allocates nothing: every string is kept.
	line := lines[len(lines)/2]
	if err := DecodeEvent(line, &e); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if err := DecodeEvent(line, &e); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("DecodeEvent of a record equal to the previous one: %v allocations, want 0", n)
	}
	// Strings kept from an earlier event are not overwritten by later decodes.
	if err := DecodeEvent(lines[0], &e); err != nil {
		t.Fatal(err)
	}
	first := e
	for _, l := range lines[1:] {
		if err := DecodeEvent(l, &e); err != nil {
			t.Fatal(err)
		}
	}
	again, _ := UnmarshalEvent(lines[0])
	if !reflect.DeepEqual(&first, again) {
		t.Errorf("an earlier decode changed: %+v, want %+v", first, *again)
	}
}

func TestAppendEventAllocs(t *testing.T) {
	lines := seedEvents(t)
	events := make([]*DeliveryEvent, len(lines))
	for i, l := range lines {
		e, err := UnmarshalEvent(l)
		if err != nil {
			t.Fatal(err)
		}
		events[i] = e
	}
	buf := make([]byte, 0, 64<<10)
	if n := testing.AllocsPerRun(10, func() {
		for _, e := range events {
			buf = AppendEvent(buf[:0], e)
		}
	}); n != 0 {
		t.Errorf("AppendEvent into a buffer with room: %v allocations per %d events, want 0", n, len(events))
	}
	if n := testing.AllocsPerRun(10, func() {
		for _, e := range events {
			if _, err := MarshalEvent(e); err != nil {
				t.Fatal(err)
			}
		}
	}); n > float64(len(events)) {
		t.Errorf("MarshalEvent: %v allocations per %d events, want one each", n, len(events))
	}
}

// Benchmarks: one event per op, cycling through the sample; events/s is
// per core with -cpu 1 (scripts/bench.sh prints them).

func benchEvents(b *testing.B) ([][]byte, []*DeliveryEvent, int64) {
	lines := seedEvents(b)
	events := make([]*DeliveryEvent, len(lines))
	var size int64
	for i, l := range lines {
		e, err := UnmarshalEvent(l)
		if err != nil {
			b.Fatal(err)
		}
		events[i] = e
		size += int64(len(l))
	}
	return lines, events, size / int64(len(lines))
}

func reportEvents(b *testing.B, start time.Time) {
	if s := time.Since(start).Seconds(); s > 0 {
		b.ReportMetric(float64(b.N)/s, "events/s")
	}
}

func BenchmarkEventDecode(b *testing.B) {
	lines, _, size := benchEvents(b)
	run := func(name string, decode func([]byte) error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(size)
			start := time.Now()
			for i := range b.N {
				if err := decode(lines[i%len(lines)]); err != nil {
					b.Fatal(err)
				}
			}
			reportEvents(b, start)
		})
	}
	var e DeliveryEvent
	run("DecodeEvent", func(l []byte) error { return DecodeEvent(l, &e) })
	run("UnmarshalEvent", func(l []byte) error { _, err := UnmarshalEvent(l); return err })
	run("encoding_json", func(l []byte) error { _, err := jsonUnmarshalEvent(l); return err })
}

func BenchmarkEventEncode(b *testing.B) {
	_, events, size := benchEvents(b)
	run := func(name string, encode func(*DeliveryEvent) error) {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(size)
			start := time.Now()
			for i := range b.N {
				if err := encode(events[i%len(events)]); err != nil {
					b.Fatal(err)
				}
			}
			reportEvents(b, start)
		})
	}
	buf := make([]byte, 0, 64<<10)
	run("AppendEvent", func(e *DeliveryEvent) error { buf = AppendEvent(buf[:0], e); return nil })
	run("MarshalEvent", func(e *DeliveryEvent) error { _, err := MarshalEvent(e); return err })
	run("encoding_json", func(e *DeliveryEvent) error { _, err := jsonMarshalEvent(e); return err })
}
