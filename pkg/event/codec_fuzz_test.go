package event

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// FuzzDecodeEvent holds the hand-written decoder to encoding/json on any
// input: the same event or the same error (checkDecode), and a decoded
// event encodes to a record that decodes to it again.
func FuzzDecodeEvent(f *testing.F) {
	for _, l := range seedEvents(f) {
		f.Add(l)
	}
	for _, c := range decodeCases {
		if len(c) < 4096 {
			f.Add([]byte(c))
		}
	}
	for _, e := range hostileEvents() {
		if len(e.Subject)+len(e.ReplyText)+len(e.ID) < 4096 {
			f.Add(AppendEvent(nil, e))
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		checkDecode(t, in)
		e, err := UnmarshalEvent(in)
		if err != nil {
			return
		}
		if CheckToken(e.Sender) != nil || CheckToken(e.Recipient) != nil || CheckToken(e.SASLUser) != nil {
			t.Fatalf("accepted hostile addresses: %+v", e)
		}
		enc := AppendEvent(nil, e)
		again, err := UnmarshalEvent(enc)
		if err != nil {
			t.Fatalf("re-encoded %q as %q: %v", in, enc, err)
		}
		if !again.TS.Equal(e.TS) {
			t.Fatalf("ts %v came back as %v", e.TS, again.TS)
		}
		again.TS, e.TS = time.Time{}, time.Time{}
		e.V = SchemaVersion // the encoder stamps it
		if !reflect.DeepEqual(again, e) {
			t.Fatalf("round trip of %q:\n got %+v\nwant %+v", in, again, e)
		}
	})
}

// FuzzAppendEvent holds the hand-written encoder to json.Marshal on any
// field values, and checks what the decoder makes of its output.
func FuzzAppendEvent(f *testing.F) {
	for _, l := range seedEvents(f) {
		var e DeliveryEvent
		if err := json.Unmarshal(l, &e); err != nil {
			f.Fatal(err)
		}
		f.Add(e.ID, e.TS.UnixNano(), e.MTA, e.Host, e.QueueID, e.Sender, e.Recipient, string(e.Status), e.DSN,
			int64(e.ReplyCode), e.ReplyText, string(e.Reason), e.Relay, e.ClientIP, e.SASLUser, e.MessageID, e.Size, e.Subject)
	}
	for i, s := range hostileStrings {
		if len(s) > 4096 {
			continue
		}
		o := hostileStrings[(i+1)%len(hostileStrings)]
		f.Add(s, int64(i)*1e17, o, s, s, s, o, "sent", s, int64(-i), s, s, o, s, o, s, int64(i)<<50, o)
	}
	f.Fuzz(func(t *testing.T, id string, ts int64, mta, host, queueID, sender, recipient, status, dsn string,
		replyCode int64, replyText, reason, relay, clientIP, saslUser, messageID string, size int64, subject string) {
		e := &DeliveryEvent{ID: id, TS: time.Unix(0, ts), MTA: mta, Host: host, QueueID: queueID, Sender: sender,
			Recipient: recipient, Status: Status(status), DSN: dsn, ReplyCode: int(replyCode), ReplyText: replyText,
			Reason: Reason(reason), Relay: relay, ClientIP: clientIP, SASLUser: saslUser, MessageID: messageID,
			Size: size, Subject: subject}
		if len(subject)%2 == 1 { // logged headers too, from the fuzzed strings
			e.Headers = []string{subject, replyText, relay}
		}
		want, err := jsonMarshalEvent(e)
		if err != nil {
			t.Fatal(err) // Unix nanoseconds stay within the years json.Marshal encodes
		}
		got := AppendEvent(nil, e)
		if !bytes.Equal(got, want) {
			t.Fatalf("AppendEvent(%+v)\n got %s\nwant %s", e, got, want)
		}
		if m, err := MarshalEvent(e); err != nil || !bytes.Equal(m, want) {
			t.Fatalf("MarshalEvent = %s, %v\nwant %s", m, err, want)
		}
		checkDecode(t, got)
	})
}

// FuzzDecodeEventField puts fuzzed bytes where they are hardest to get
// right, a key and a raw value inside an otherwise valid record, and holds
// the decoder to encoding/json there.
func FuzzDecodeEventField(f *testing.F) {
	for _, n := range fieldNames {
		f.Add(string(n), `"a@b"`)
		f.Add(string(n), `123`)
	}
	for _, s := range []string{`"\u00e9\ud83d\ude42\ud800x"`, `"\"\\\/\b\f\n\r\t"`, "\"\xff\xed\xa0\x80\"", `null`, `-0`,
		`9223372036854775808`, `1e3`, `[{"a":[]}]`, `"2026-01-01T00:00:00.5+01:00"`, `"\u2028<>&"`, `true`} {
		f.Add("reply_text", s)
		f.Add("size", s)
		f.Add("ts", s)
		f.Add(`\u0073ender`, s)
		f.Add("Subject", s)
		f.Add("headers", "["+s+"]")
		f.Add("unknown", s)
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		checkDecode(t, []byte(`{"ts":"2026-01-01T00:00:00Z","status":"sent","`+key+`":`+value+`}`))
		checkDecode(t, []byte(`{"`+key+`":`+value+`,"ts":"2026-01-01T00:00:00Z","status":"sent"}`))
	})
}
