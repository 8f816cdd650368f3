package ban

import (
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Lift ends rule's enforced hold on the subject before its expiry, at
// event time ts (the evidence is gone: a full mailbox accepts mail
// again). It reports whether a hold was in force; only then is there a
// ban to take back. The subject's escalation level is kept, so a repeat
// still escalates.
func (l *Ledger) Lift(rule string, kind event.SubjectKind, subject string, ts time.Time) bool {
	hk := holdKey{rule, kind, subject}
	h, ok := l.holds[hk]
	if !ok || !ts.Before(h.until) {
		return false
	}
	if lv, ok := l.levels[subjectKey{kind: kind, subject: subject}]; !ok || lv.n == 0 {
		return false // a shadow or defer hold: no ban was published
	}
	h.until = ts
	l.touchHold(hk)
	return true
}
