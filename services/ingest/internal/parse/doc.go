// Package parse turns Postfix and Exim log lines into event.DeliveryEvent
// records: one per recipient attempt (sent, deferred, bounced, expired) and
// one per refused recipient (rejected), each joined with what the earlier
// lines of the same message said (sender, client IP, SASL login,
// Message-ID, size, Subject) and with its reply classified by package
// classify.
//
// # Input
//
// Feed takes one line at a time. The framing is recognised per line:
//
//	Nov 26 17:30:58 host postfix/smtp[123]: ...               classic syslog (year inferred, see Options.Now)
//	Nov 06 17:30:58 host postfix/smtp[123]: ...               Postfix maillog_file, journalctl -o short
//	<22>1 2026-11-26T17:30:58.123456+01:00 host postfix/smtp 123 - - ...   RFC 5424
//	2026-11-26T17:30:58.123456+00:00 host postfix/smtp[123]: ...           rsyslog high precision, journalctl -o short-iso
//	2026-11-26 17:30:58 [pid] 1abcDE-000123-Xy <= ...          Exim mainlog (host from Options.Host)
//	__REALTIME_TIMESTAMP=... / SYSLOG_IDENTIFIER=... / MESSAGE=... / (blank)   journalctl -o export
//	{"__REALTIME_TIMESTAMP":"...","SYSLOG_IDENTIFIER":"postfix/smtp","MESSAGE":...}   journalctl -o json (MESSAGE a string or a byte array)
//	1795714258.123456 host postfix/smtp[123]: ...                journalctl -o short-unix
//	Thu 2026-11-26 17:30:58 CET host postfix/smtp[123]: ...      journalctl -o short-full (the zone is Location's, or UTC/GMT)
//	Nov 26 17:30:58 relay1 postfix/local[13410]: [ID 197553 mail.info] ...   Solaris / illumos message-id tag
//	Nov 26 17:30:58 <mail.info> host postfix/smtp[123]: ...    syslog-ng / rsyslog templates (also "<22>", or a bare mail.info before or after the host)
//	2026-11-24T17:00:14.123Z stdout F <a line of any framing above>   CRI container log (P records joined); Docker json-file {"log":...}
//
// Program names are matched loosely: postfix/smtp, postfix-out/smtp
// (multi-instance), postfix/submission/smtpd (master.cf service names) all
// count as Postfix, exim and exim4 as Exim. Lines of other programs
// (amavis, dovecot, opendkim...) are counted and refused as
// unknown_program, or ignored with Options.IgnoreOtherPrograms.
// In journald's export format each field line is remembered and the blank
// line ending the entry is parsed (its events take the id of the MESSAGE
// line); fields in the binary form (values holding a newline) are not
// supported.
//
// Exim writing to syslog splits a line longer than 870 bytes, or holding
// newlines, into several messages marked "[1/3] ", "[2/3] ", "[3/3] "
// ("[n\m] " for a part that ended at a newline). The parts are held per
// host, program and pid, and the whole line is parsed when its last part
// comes (its events take the id of that part's line), up to its first
// newline (what follows is the reject log's header listing, whose copy of
// a rejection yields no second event). A part that does not follow the
// one before it is refused as unparseable and the line it belonged to is
// dropped, as is a line whose process logs an unmarked line before its
// last part (counted as messages_split_dropped). At most 256 lines are
// reassembled at once, each cut at MaxLineLen (and then reported as
// truncated); Expire drops those older than PendingTTL. Lines in flight
// are not part of Snapshot: after a restart, the rest of a line split
// across the checkpoint is refused.
//
// # What becomes of a line
//
// Every line of a Postfix or Exim program that yields no event is in
// exactly one counted class (see Stats): consumed into a message's join
// state (postfix_client, exim_arrival, ...), a known non-delivery line
// (postfix_other, exim_other: the lists in noise.go; *_reject_session:
// rejects of no message; postfix_verify: address probes), or refused as
// unrecognised (a LineError of KindUnrecognised; *_unrecognised): a text
// of no shape the parser knows, which may be a delivery in a format it
// cannot read, so it is never dropped in silence. Failed SMTP AUTH
// attempts (Postfix "SASL LOGIN authentication failed", Exim
// "authenticator failed for") are events of status auth_failed with the
// client IP and the login, when logged.
//
// Exim's escapes in T="...", C="..." and reply texts (\NNN octal for every
// non-ASCII byte, \n for a folded header line, \" and \\) are decoded to
// UTF-8; invalid bytes become U+FFFD and the text counts under
// texts_invalid_utf8.
//
// # Joining
//
// Postfix logs a message's life across daemons, keyed by queue id (short
// hex ids and long ids alike); Exim keys it by message id (both the
// 16-character and the 23-character format). Per host, the parser keeps
// one pending record per in-flight message:
//
//	smtpd   QID: client=host[ip], sasl_username=u   ─┐
//	cleanup QID: message-id=<id>                     │ fill the record
//	cleanup QID: warning: header Subject: ...        │
//	qmgr    QID: from=<s>, size=N, nrcpt=M          ─┘
//	smtp    QID: to=<r>, ..., status=sent (...)      → event, joined with the record
//	smtp    QID: to=<r>, ..., status=deferred (...)  → event; r is remembered as outstanding
//	qmgr    QID: from=<s>, status=expired, ...       → one "expired" event per outstanding recipient
//	qmgr    QID: removed                             → record freed
//
//	Exim:   <= (record)   => -> *> >> ** == (events)   Completed (record freed)
//
// Rejections (NOQUEUE: reject, QID: reject, milter-reject, proxy-reject,
// cleanup header/body REJECT; Exim "rejected RCPT", "rejected after DATA")
// produce one "rejected" event each, joined when the message has a record.
//
// A record that sees no line for PendingTTL (event time) is given up by
// Expire; a record beyond MaxPending is evicted, least recently seen
// first. Both emit what is known: an "expired" event per outstanding
// (deferred) recipient, or one without recipient for a queued message
// that never had a delivery attempt.
//
// # Hostile input
//
// Every address is normalised with event.NormalizeAddress and checked with
// event.CheckToken, and so are the client IP, SASL login, queue id and
// host. A line carrying a hostile value yields a hostile_field LineError
// and no event; a message whose sender or login was hostile refuses all
// its later events the same way. Reply texts, subjects and Message-IDs
// are kept as text but cleaned of control characters and bounded.
//
// # Speed
//
// The hot path does no regular-expression matching and no allocation per
// line: it scans the line in place (strings are views of the caller's
// buffer until Parser.own copies what must outlive Feed), caches parsed
// timestamps per second, interns relays and DSNs, and allocates only for
// emitted events and new pending records; with Options.ReuseEvents (ingest
// parse, the Kafka pipeline) not even for the events. `make bench` runs
// `ingest parse` as a process over a day of a shared host's log
// (daylog_test.go) next to a bare line scan of the same file.
package parse
