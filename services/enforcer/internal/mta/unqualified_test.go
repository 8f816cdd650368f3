package mta

import (
	"strings"
	"testing"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// TestPostfixSkipsUnqualifiedSender: a ban of an unqualified sender
// ("www-data", the invalid_sender rule's) is never written as a Postfix
// access key, where it would read as a domain; the qualified ban next to
// it is written.
func TestPostfixSkipsUnqualifiedSender(t *testing.T) {
	ban := func(subject string) *event.Ban {
		return &event.Ban{Verdict: event.Verdict{Rule: "invalid_sender", SubjectKind: event.KindSender, Subject: subject,
			Action: event.ActionBan, Message: "Your sending address has been blocked by admins"}}
	}
	r := Postfix.Render([]*event.Ban{ban("www-data"), ban("root@localhost")}, nil, SideSender)
	body := string(r.Body)
	if strings.Contains(body, "\nwww-data ") || strings.HasPrefix(body, "www-data ") {
		t.Fatalf("unqualified sender written as a key:\n%s", body)
	}
	if !strings.Contains(body, "root@localhost REJECT ") || r.Entries != 1 || len(r.Skipped) != 1 {
		t.Fatalf("entries %d skipped %v:\n%s", r.Entries, r.Skipped, body)
	}
}
