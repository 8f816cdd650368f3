package enforcer

import (
	"bytes"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
)

var t0 = time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)

func testBan(subject string, mod ...func(*event.Ban)) *event.Ban {
	b := &event.Ban{Verdict: event.Verdict{
		Rule: "invalid_recipients", SubjectKind: event.KindSender, Subject: subject, Action: event.ActionBan,
		Message: "Your sending address has been blocked by admins", TS: t0,
	}, Source: "rule", Level: 1}
	b.Expires.Time = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, m := range mod {
		m(b)
	}
	return b
}

func TestPrinter(t *testing.T) {
	shadow := func(b *event.Ban) { b.Shadow = true }
	expired := func(b *event.Ban) { b.Expires.Time = t0.Add(-time.Minute) }
	tests := []struct {
		name string
		c    banset.Change
		want string
	}{
		{"new ban", banset.Change{New: testBan("root@localhost")},
			"BAN sender root@localhost rule=invalid_recipients expires=2026-11-27T10:00:00Z: Your sending address has been blocked by admins\n"},
		{"never expires", banset.Change{New: testBan("a@x.example", func(b *event.Ban) { b.Expires.Time = time.Time{} })},
			"BAN sender a@x.example rule=invalid_recipients expires=never: Your sending address has been blocked by admins\n"},
		{"same ban again", banset.Change{Old: testBan("a@x.example"), New: testBan("a@x.example")}, ""},
		{"escalated", banset.Change{Old: testBan("a@x.example"), New: testBan("a@x.example", func(b *event.Ban) { b.Level = 2 })},
			"BAN sender a@x.example rule=invalid_recipients expires=2026-11-27T10:00:00Z: Your sending address has been blocked by admins\n"},
		{"tombstone", banset.Change{Old: testBan("a@x.example")}, "UNBAN sender a@x.example rule=invalid_recipients reason=lifted\n"},
		{"tombstone of nothing", banset.Change{}, ""},
		{"replaced by shadow", banset.Change{Old: testBan("a@x.example"), New: testBan("a@x.example", shadow)},
			"UNBAN sender a@x.example rule=invalid_recipients reason=shadow\n"},
		{"replaced by expired", banset.Change{Old: testBan("a@x.example"), New: testBan("a@x.example", expired)},
			"UNBAN sender a@x.example rule=invalid_recipients reason=expired\n"},
		{"new shadow", banset.Change{New: testBan("a@x.example", shadow)}, ""},
		{"new expired", banset.Change{New: testBan("a@x.example", expired)}, ""},
		{"hostile fields", banset.Change{New: testBan("e\u202e@x.example", func(b *event.Ban) {
			b.Rule = "r\nBAN sender fake"
			b.Message = "m\nBAN sender forged"
		})}, "BAN sender \"e\\u202e@x.example\" rule=\"r\\nBAN sender fake\" expires=2026-11-27T10:00:00Z: m BAN sender forged\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			NewPrinter(&buf).Change(tt.c, t0)
			if buf.String() != tt.want {
				t.Fatalf("got  %q\nwant %q", buf.String(), tt.want)
			}
		})
	}
	var buf bytes.Buffer
	p := NewPrinter(&buf)
	p.Expired(banset.Change{Old: testBan("a@x.example")})
	p.Expired(banset.Change{Old: testBan("s@x.example", shadow)})
	if buf.String() != "UNBAN sender a@x.example rule=invalid_recipients reason=expired\n" {
		t.Fatalf("expired: %q", buf.String())
	}
}
