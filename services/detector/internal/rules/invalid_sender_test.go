package rules

import (
	"testing"

	"github.com/mxwarden/mxwarden/pkg/event"
)

func TestSenderFault(t *testing.T) {
	for addr, want := range map[string]int{
		"root@localhost":          faultNoDot,
		"cron@web1":               faultNoDot,
		"www-data":                faultUnqualified,
		"root@":                   faultUnqualified,
		"@shop.example":           faultNoLocal,
		"admin@nas.local":         faultReserved,
		"root@box.localdomain":    faultReserved,
		"ROOT@Box.LocalDomain.":   faultReserved,
		"x@printer.home.arpa":     faultReserved,
		"x@bad..example":          faultSyntax,
		"x@-bad.example":          faultSyntax,
		"x@10.0.0.1":              faultSyntax,
		"x@sp ace.example":        faultSyntax,
		"x@arpa.example":          faultNone,
		"root@web1.shop.example":  faultNone,
		"info@bücher.example":     faultNone,
		"postmaster@[192.0.2.5]":  faultNone,
		"a_b@under_score.example": faultNone,
		"x@localdomain.example":   faultNone,
	} {
		if got := senderFault(addr, defaultReservedTLDs); got != want {
			t.Errorf("senderFault(%q) = %d, want %d", addr, got, want)
		}
	}
}

func ev(subject string) *event.DeliveryEvent {
	return &event.DeliveryEvent{Sender: "a@b.example", Recipient: "c@d.example", Status: event.StatusSent, Subject: subject}
}
