package parse

// lineKind is what Feed made of one line. Every line counts under exactly
// one of the kinds up to kUnframed; rejected lines also count under
// one "rejected_" key (the LineError kind), truncated lines under
// "rejected_truncated" too; the "messages_" keys count joined messages
// given up and Exim lines whose syslog parts could not all be gathered.
// The names are the keys of Stats.
type lineKind uint8

const (
	// Postfix.
	kPostfixClient        lineKind = iota // smtpd "QID: client=..."
	kPostfixMessageID                     // cleanup "QID: message-id=<...>"
	kPostfixHeader                        // cleanup header_checks / milter header actions
	kPostfixQueued                        // qmgr "QID: from=<...>, size=..., nrcpt=..."
	kPostfixRemoved                       // qmgr/postsuper "QID: removed"
	kPostfixExpired                       // qmgr "QID: from=<...>, status=expired, returned to sender"
	kPostfixDelivery                      // smtp/lmtp/local/virtual/pipe/error "QID: to=<...>, ... status=sent|deferred|bounced"
	kPostfixVerify                        // address verification probe results (status=deliverable/undeliverable)
	kPostfixReject                        // NOQUEUE/QID reject, milter-reject, proxy-reject, cleanup reject
	kPostfixRejectSession                 // a reject of no message: CONNECT, HELO/EHLO, VRFY, ETRN, AUTH stage (no event)
	kPostfixBounce                        // bounce "QID: sender non-delivery notification: QID2"
	kPostfixPickup                        // pickup "QID: uid=N from=<...>"
	kPostfixOther                         // understood Postfix noise: connect, disconnect, TLS, warnings, anvil, postscreen...
	kPostfixUnknown                       // a Postfix line of a message-bearing shape that could not be read
	kPostfixAuth                          // smtpd "warning: host[ip]: SASL LOGIN authentication failed: ..." (an auth_failed event)
	kPostfixUnrecognised                  // a Postfix line of no shape the parser knows (rejected as unrecognised)
	// Exim.
	kEximArrival       // "<="
	kEximDelivery      // "=>", "->", "*>", ">>"
	kEximDefer         // "=="
	kEximFail          // "**"
	kEximCompleted     // "Completed", "removed by"
	kEximReject        // "rejected RCPT", "rejected after DATA", ...
	kEximRejectSession // "rejected EHLO or HELO", "rejected connection", "rejected MAIL command"...: no message, no event
	kEximOther         // understood Exim noise: connections, queue runs, TLS, frozen...
	kEximUnknown       // an Exim line with a message id and flag that could not be read
	kEximPart          // a part of an Exim line split for syslog ("[2/3] ..."), held until its last part (which counts under the kind of the whole line)
	kEximAuth          // "<authenticator> authenticator failed for ..." (an auth_failed event)
	kEximUnrecognised  // an Exim line of no shape the parser knows (rejected as unrecognised)
	// Dovecot (auth failures only; its other lines are other_program).
	kDovecotAuth
	// Lines from other programs.
	kOtherProgram
	// Field lines of journald's export format (their entry's message is
	// counted under its own kind on the blank line that ends the entry).
	kJournalField
	// A partial line of a container runtime's log ("... stdout P ..."),
	// held until the line's last part (which counts under its own kind).
	kContainerPart
	// Lines that could not be attributed: no framing, bad timestamp, hostile host.
	kUnframed
	// Rejected lines, by LineError kind.
	kErrUnparseable
	kErrUnknownProgram
	kErrTruncated
	kErrBadTimestamp
	kErrHostileField
	kErrUnrecognised
	// Joined messages that ended without their final line.
	kMsgExpired // given up by Expire after PendingTTL
	kMsgEvicted // evicted to stay within MaxPending
	// Exim lines split for syslog whose parts never all arrived: the parts
	// held are dropped (a part missing or out of order, or given up by
	// Expire or to stay within maxSplits).
	kSplitDropped
	// Exim texts (T=, C=, error texts) whose decoded escapes were not valid
	// UTF-8: the invalid bytes were replaced by U+FFFD.
	kTextInvalidUTF8
	numKinds
)

var kindNames = [numKinds]string{
	kPostfixClient:        "postfix_client",
	kPostfixMessageID:     "postfix_message_id",
	kPostfixHeader:        "postfix_header",
	kPostfixQueued:        "postfix_queued",
	kPostfixRemoved:       "postfix_removed",
	kPostfixExpired:       "postfix_expired",
	kPostfixDelivery:      "postfix_delivery",
	kPostfixVerify:        "postfix_verify",
	kPostfixReject:        "postfix_reject",
	kPostfixRejectSession: "postfix_reject_session",
	kPostfixBounce:        "postfix_bounce",
	kPostfixPickup:        "postfix_pickup",
	kPostfixOther:         "postfix_other",
	kPostfixUnknown:       "postfix_unknown",
	kPostfixAuth:          "postfix_auth_failed",
	kPostfixUnrecognised:  "postfix_unrecognised",
	kEximArrival:          "exim_arrival",
	kEximDelivery:         "exim_delivery",
	kEximDefer:            "exim_defer",
	kEximFail:             "exim_fail",
	kEximCompleted:        "exim_completed",
	kEximReject:           "exim_reject",
	kEximRejectSession:    "exim_reject_session",
	kEximOther:            "exim_other",
	kEximUnknown:          "exim_unknown",
	kEximPart:             "exim_part",
	kEximAuth:             "exim_auth_failed",
	kEximUnrecognised:     "exim_unrecognised",
	kDovecotAuth:          "dovecot_auth_failed",
	kOtherProgram:         "other_program",
	kJournalField:         "journal_field",
	kContainerPart:        "container_part",
	kUnframed:             "unframed",
	kErrUnparseable:       "rejected_" + KindUnparseable,
	kErrUnknownProgram:    "rejected_" + KindUnknownProgram,
	kErrTruncated:         "rejected_" + KindTruncated,
	kErrBadTimestamp:      "rejected_" + KindBadTimestamp,
	kErrHostileField:      "rejected_" + KindHostileField,
	kErrUnrecognised:      "rejected_" + KindUnrecognised,
	kMsgExpired:           "messages_expired",
	kMsgEvicted:           "messages_evicted",
	kSplitDropped:         "messages_split_dropped",
	kTextInvalidUTF8:      "texts_invalid_utf8",
}

func errKind(e *LineError) lineKind {
	switch e.Kind {
	case KindUnknownProgram:
		return kErrUnknownProgram
	case KindTruncated:
		return kErrTruncated
	case KindBadTimestamp:
		return kErrBadTimestamp
	case KindHostileField:
		return kErrHostileField
	case KindUnrecognised:
		return kErrUnrecognised
	}
	return kErrUnparseable
}

// StatNames lists every key Stats returns, so metrics can be created up
// front. The set is fixed.
func StatNames() []string {
	return append([]string(nil), kindNames[:]...)
}

// Stats returns counters by kind: every line fed counts under exactly one
// line kind (postfix_*, exim_*, other_program, journal_field,
// unrecognized: their sum is the number of lines fed); every line Feed
// rejected also counts under "rejected_<LineError kind>";
// "messages_expired" and "messages_evicted" count joined messages given up
// by Expire or MaxPending, "messages_split_dropped" Exim lines split for
// syslog that could not be reassembled (their parts held so far are
// dropped). Keys are the fixed set of StatNames; the map is a copy.
func (p *Parser) Stats() map[string]uint64 {
	m := make(map[string]uint64, numKinds)
	for k, n := range p.stats {
		m[kindNames[k]] = n
	}
	return m
}
