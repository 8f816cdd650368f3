package parse

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

var testNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newTestParser(t testing.TB, o Options) *Parser {
	t.Helper()
	if o.Now == nil {
		o.Now = func() time.Time { return testNow }
	}
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// feedAll feeds lines (ids "l1", "l2", ...) and returns the events and the
// error of the last line.
func feedAll(t testing.TB, p *Parser, lines ...string) ([]*event.DeliveryEvent, error) {
	t.Helper()
	var evs []*event.DeliveryEvent
	var err error
	for i, l := range lines {
		err = p.Feed([]byte(l), "l"+itoa(i+1), func(e *event.DeliveryEvent) {
			if verr := e.Validate(); verr != nil {
				t.Errorf("event fails Validate: %v: %+v", verr, e)
			}
			evs = append(evs, e)
		})
	}
	return evs, err
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// want lists the fields a table case checks; every listed field is
// compared, empty strings included.
type want struct {
	status, rcpt, sender, qid, dsn, reason, client, sasl, msgid, subject, relay, text string
	code                                                                              int
	size                                                                              int64
}

func (w want) check(t *testing.T, e *event.DeliveryEvent) {
	t.Helper()
	got := want{string(e.Status), e.Recipient, e.Sender, e.QueueID, e.DSN, string(e.Reason), e.ClientIP, e.SASLUser,
		e.MessageID, e.Subject, e.Relay, e.ReplyText, e.ReplyCode, e.Size}
	if w.relay == "" {
		got.relay = ""
	}
	if w.text == "" {
		got.text = ""
	}
	if got != w {
		t.Errorf("event mismatch\n got: %+v\nwant: %+v", got, w)
	}
}

const (
	pfx = "Nov 26 17:30:58 mx postfix/"
	ex  = "2026-11-26 17:30:58 "
)

var preamble = []string{
	pfx + "smtpd[1]: 3F1A2B4C5D: client=mail.example.org[192.0.2.10], sasl_method=PLAIN, sasl_username=alice@example.org",
	pfx + "cleanup[2]: 3F1A2B4C5D: message-id=<abc@example.org>",
	pfx + "cleanup[2]: 3F1A2B4C5D: info: header Subject: Hello from Nantes from mail.example.org[192.0.2.10]; from=<alice@example.org> to=<bob@example.net> proto=ESMTP helo=<mail.example.org>",
	pfx + "qmgr[3]: 3F1A2B4C5D: from=<Alice@Example.org>, size=4321, nrcpt=2 (queue active)",
}

func joined(status, rcpt, dsn, reason string, code int) want {
	return want{status: status, rcpt: rcpt, sender: "alice@example.org", qid: "3F1A2B4C5D", dsn: dsn, reason: reason,
		client: "192.0.2.10", sasl: "alice@example.org", msgid: "abc@example.org", subject: "Hello from Nantes", code: code, size: 4321}
}

func TestLineKinds(t *testing.T) {
	cases := []struct {
		name    string
		setup   []string
		line    string
		errKind string // "" for nil
		events  []want
		kind    string // Stats key the line counts under
	}{
		// Postfix delivery agents, joined with the preamble.
		{name: "smtp sent", setup: preamble,
			line: pfx + "smtp[4]: 3F1A2B4C5D: to=<bob@example.net>, relay=mx.example.net[198.51.100.2]:25, delay=0.9, delays=0.1/0/0.3/0.5, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as 99AA)",
			events: []want{func() want {
				w := joined("sent", "bob@example.net", "2.0.0", "", 250)
				w.relay = "mx.example.net[198.51.100.2]:25"
				w.text = "Ok: queued as 99AA"
				return w
			}()},
			kind: "postfix_delivery"},
		{name: "smtp bounced gmail", setup: preamble,
			line: pfx + "smtp[4]: 3F1A2B4C5D: to=<nobody@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.1.27]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=5.1.1, status=bounced (host gmail-smtp-in.l.google.com[142.250.1.27] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address (in reply to RCPT TO command))",
			events: []want{func() want {
				w := joined("bounced", "nobody@gmail.com", "5.1.1", "user_unknown", 550)
				w.text = "The email account that you tried to reach does not exist. Please try double-checking the recipient's email address"
				return w
			}()},
			kind: "postfix_delivery"},
		{name: "smtp deferred tls field 3.11", setup: preamble,
			line:   pfx + "smtp[4]: 3F1A2B4C5D: to=<bob@example.net>, relay=mx.example.net[198.51.100.2]:25, conn_use=2, delay=3, delays=0.1/0/2/0.9, tls=dane/requiretls?, dsn=4.7.0, status=deferred (host mx.example.net[198.51.100.2] said: 421 4.7.0 Try again later, closing connection. (EHLO) (in reply to EHLO command))",
			events: []want{joined("deferred", "bob@example.net", "4.7.0", "policy", 421)},
			kind:   "postfix_delivery"},
		{name: "lmtp", setup: preamble,
			line:   pfx + "lmtp[4]: 3F1A2B4C5D: to=<bob@example.net>, relay=mail.example.net[private/dovecot-lmtp], delay=0.32, delays=0.11/0.01/0.01/0.2, dsn=2.0.0, status=sent (250 2.0.0 <bob@example.net> z5FOLrRhDVpddgAABvoInA Saved)",
			events: []want{joined("sent", "bob@example.net", "2.0.0", "", 250)}, kind: "postfix_delivery"},
		{name: "local bare address", setup: preamble,
			line:   pfx + "local[4]: 3F1A2B4C5D: to=root@mx.example.net, orig_to=root, relay=local, delay=0.07, delays=0.04/0/0/0.03, dsn=2.0.0, status=sent (delivered to mailbox)",
			events: []want{joined("sent", "root@mx.example.net", "2.0.0", "", 0)}, kind: "postfix_delivery"},
		{name: "virtual", setup: preamble,
			line:   pfx + "virtual[4]: 3F1A2B4C5D: to=<bob@example.net>, relay=virtual, delay=0.52, delays=0.51/0.01/0/0, dsn=2.0.0, status=sent (delivered to maildir)",
			events: []want{joined("sent", "bob@example.net", "2.0.0", "", 0)}, kind: "postfix_delivery"},
		{name: "pipe bounced", setup: preamble,
			line:   pfx + "pipe[4]: 3F1A2B4C5D: to=<bob@example.net>, relay=dovecot, delay=5.1, delays=4.4/0.02/0/0.61, dsn=5.1.1, status=bounced (user unknown)",
			events: []want{joined("bounced", "bob@example.net", "5.1.1", "user_unknown", 0)}, kind: "postfix_delivery"},
		{name: "error agent", setup: preamble,
			line:   pfx + "error[4]: 3F1A2B4C5D: to=<bob@yahoo.com>, relay=none, delay=63495, delays=63350/144/0/0, dsn=4.4.2, status=deferred (delivery temporarily suspended: lost connection with mta7.am0.yahoodns.net[98.136.216.22] while sending RCPT TO)",
			events: []want{joined("deferred", "bob@yahoo.com", "4.4.2", "network", 0)}, kind: "postfix_delivery"},
		{name: "unjoined delivery", line: pfx + "smtp[4]: 0D9633D: to=<jos@example.com>, orig_to=<bestuur@example.com>, relay=mail1.example.net[10.74.103.11]:25, delay=11, delays=5.4/0.06/5.1/0.03, dsn=2.0.0, status=sent (250 2.0.0 Ok: queued as F12DF84004)",
			events: []want{{status: "sent", rcpt: "jos@example.com", qid: "0D9633D", dsn: "2.0.0", code: 250}}, kind: "postfix_delivery"},
		{name: "multi-instance program", line: "Nov 26 17:30:58 mx postfix-out/smtp[9]: 0D9633D: to=<jos@example.com>, relay=x[10.0.0.1]:25, delay=1, delays=0/0/0/1, dsn=2.0.0, status=sent (250 ok)",
			events: []want{{status: "sent", rcpt: "jos@example.com", qid: "0D9633D", dsn: "2.0.0", code: 250}}, kind: "postfix_delivery"},
		{name: "verify probe", line: pfx + "smtp[4]: 2847EE008E: to=<info@test2.com>, relay=mail.domain.test[94.23.191.34]:25, delay=6.3, delays=0.04/0.01/6/0.19, dsn=2.1.5, status=deliverable (250 2.1.5 Ok)",
			kind: "postfix_verify"},
		// Preamble kinds.
		{name: "client", line: preamble[0], kind: "postfix_client"},
		{name: "client orig_client", line: pfx + "smtpd[1]: 1FEB7E00C4: client=localhost.localdomain[127.0.0.1], orig_client=misas5.babino.pl[207.154.235.157]", kind: "postfix_client"},
		{name: "message-id", line: preamble[1], kind: "postfix_message_id"},
		{name: "header", line: preamble[2], kind: "postfix_header"},
		{name: "qmgr from", line: preamble[3], kind: "postfix_queued"},
		{name: "qmgr removed", setup: preamble, line: pfx + "qmgr[3]: 3F1A2B4C5D: removed", kind: "postfix_removed"},
		{name: "bounce notice", line: pfx + "bounce[5]: 17CCA8044: sender non-delivery notification: ADD2F8052", kind: "postfix_bounce"},
		{name: "pickup", line: pfx + "pickup[5]: D2FAE20586: uid=0 from=<fail2ban>", kind: "postfix_pickup"},
		// Expiry.
		{name: "qmgr expired no attempts", setup: preamble, line: pfx + "qmgr[3]: 3F1A2B4C5D: from=<alice@example.org>, status=expired, returned to sender",
			events: []want{func() want { w := joined("expired", "", "", "other", 0); w.text = "returned to sender"; return w }()}, kind: "postfix_expired"},
		{name: "qmgr expired outstanding", setup: append(append([]string{}, preamble...),
			pfx+"smtp[4]: 3F1A2B4C5D: to=<bob@example.net>, relay=none, delay=1, delays=1/0/0/0, dsn=4.4.1, status=deferred (connect to mx.example.net[198.51.100.2]:25: Connection refused)"),
			line:   pfx + "qmgr[3]: 3F1A2B4C5D: from=<alice@example.org>, status=expired, returned to sender",
			events: []want{joined("expired", "bob@example.net", "4.4.1", "network", 0)}, kind: "postfix_expired"},
		// Rejects.
		{name: "noqueue reject", line: pfx + "smtpd[1]: NOQUEUE: reject: RCPT from unknown[192.0.2.116]: 550 5.1.1 <x@example.com>: Recipient address rejected: User unknown in local recipient table; from=<s@example.org> to=<x@example.com> proto=ESMTP helo=<WIN-6A0KEE6QVP5>",
			events: []want{{status: "rejected", rcpt: "x@example.com", sender: "s@example.org", dsn: "5.1.1", reason: "user_unknown", client: "192.0.2.116", code: 550}}, kind: "postfix_reject"},
		{name: "noqueue reject rbl semicolons", line: pfx + "smtpd[1]: NOQUEUE: reject: RCPT from badguy.example.com[93.184.216.34]: 454 4.7.1 Service unavailable; Client host [93.184.216.34] blocked using rbl.example.com; http://www.example.com/query?ip=93.184.216.34; from=<spammer@example.com> to=<goodguy@example.com> proto=ESMTP helo=<badguy.example.com>",
			events: []want{{status: "rejected", rcpt: "goodguy@example.com", sender: "spammer@example.com", dsn: "4.7.1", reason: "blocklisted", client: "93.184.216.34", code: 454,
				text: "Service unavailable; Client host [93.184.216.34] blocked using rbl.example.com; http://www.example.com/query?ip=93.184.216.34"}}, kind: "postfix_reject"},
		{name: "postscreen reject commas", line: pfx + "postscreen[1]: NOQUEUE: reject: RCPT from [216.245.194.173]:60591: 550 5.7.1 Service unavailable; client [216.245.194.173] blocked using rbl.example.com; from=<spammer@example.com>, to=<goodguy@example.com>, proto=ESMTP, helo=<badguy.example.com>",
			events: []want{{status: "rejected", rcpt: "goodguy@example.com", sender: "spammer@example.com", dsn: "5.7.1", reason: "blocklisted", client: "216.245.194.173", code: 550}}, kind: "postfix_reject"},
		{name: "submission service name", line: "Nov 26 17:30:58 mx postfix/submission/smtpd[2]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 553 5.7.1 <s@example.com>: Sender address rejected: not owned by user ph123; from=<s@example.com> to=<r@example.net> proto=ESMTP helo=<x>",
			events: []want{{status: "rejected", rcpt: "r@example.net", sender: "s@example.com", dsn: "5.7.1", reason: "policy", client: "192.0.2.1", code: 553}}, kind: "postfix_reject"},
		{name: "queued reject joined", setup: preamble[:1], line: pfx + "smtpd[1]: 3F1A2B4C5D: reject: RCPT from mail.example.org[192.0.2.10]: 550 5.1.1 <x@example.com>: Recipient address rejected: User unknown; from=<alice@example.org> to=<x@example.com> proto=ESMTP helo=<mail.example.org>",
			events: []want{{status: "rejected", rcpt: "x@example.com", sender: "alice@example.org", qid: "3F1A2B4C5D", dsn: "5.1.1", reason: "user_unknown", client: "192.0.2.10", sasl: "alice@example.org", code: 550}}, kind: "postfix_reject"},
		{name: "milter reject inferred code", line: pfx + "cleanup[2]: 4104E3D: milter-reject: END-OF-MESSAGE from x.example.com[61.238.241.86]: 5.7.1 Blocked by SpamAssassin; from=<w@example.com> to=<v@example.com> proto=ESMTP helo=<ecsolved.com>",
			events: []want{{status: "rejected", rcpt: "v@example.com", sender: "w@example.com", qid: "4104E3D", dsn: "5.7.1", reason: "spam_content", client: "61.238.241.86", code: 550}}, kind: "postfix_reject"},
		{name: "proxy reject", line: pfx + "smtpd[1]: proxy-reject: END-OF-MESSAGE: 554 5.7.0 Reject, id=31619-02 - spam; from=<> to=<u@example2.com> proto=SMTP helo=<17.33.12.53>",
			events: []want{{status: "rejected", rcpt: "u@example2.com", dsn: "5.7.0", reason: "spam_content", code: 554}}, kind: "postfix_reject"},
		{name: "cleanup header reject", setup: preamble[:1], line: pfx + "cleanup[2]: 3F1A2B4C5D: reject: header Subject: Buy now from mail.example.org[192.0.2.10]; from=<alice@example.org> to=<bob@example.net> proto=ESMTP helo=<mail.example.org>: 5.7.1 spam subject",
			events: []want{{status: "rejected", rcpt: "bob@example.net", sender: "alice@example.org", qid: "3F1A2B4C5D", dsn: "5.7.1", reason: "spam_content", client: "192.0.2.10", sasl: "alice@example.org", subject: "Buy now", code: 550}}, kind: "postfix_reject"},
		{name: "ehlo reject no event", line: pfx + "smtpd[1]: NOQUEUE: reject: EHLO from s271272.static.corbina.ru[78.107.251.238]: 504 5.5.2 <User>: Helo command rejected: need fully-qualified hostname; proto=SMTP helo=<User>", kind: "postfix_reject_session"},
		{name: "reject_warning", line: pfx + "smtpd[1]: NOQUEUE: reject_warning: RCPT from example.com[93.184.216.34]: 553 5.7.1 <s@example.com>: Sender address rejected: not owned; from=<s@example.com> to=<r@example.com> proto=ESMTP helo=<example.com>", kind: "postfix_other"},
		// Noise.
		{name: "connect", line: pfx + "smtpd[1]: connect from mail.example.org[192.0.2.10]", kind: "postfix_other"},
		{name: "disconnect", line: pfx + "smtpd[1]: disconnect from unknown[192.0.2.1] ehlo=1 auth=0/1 quit=1 commands=2/3", kind: "postfix_other"},
		{name: "smtp said without status", line: pfx + "smtp[4]: ED59C3D: host mail2.example.com[1.74.253.23] said: 450 4.7.1 <user@example.com>: Recipient address rejected: Greylisted for 5 minutes (in reply to RCPT TO command)", kind: "postfix_other"},
		{name: "anvil", line: pfx + "anvil[6]: statistics: max connection rate 1/60s for (smtpd:192.254.112.99) at Nov 26 10:59:09", kind: "postfix_other"},
		{name: "warning", line: pfx + "smtpd[1]: warning: hostname exemple.com does not resolve to address 185.14.29.32", kind: "postfix_other"},
		// Errors.
		{name: "other program", line: "Nov 26 17:30:58 mx dovecot: imap-login: Login: user=<a@b>, method=PLAIN", errKind: KindUnknownProgram, kind: "other_program"},
		{name: "garbage", line: "******** SERVER ********", errKind: KindUnparseable, kind: "unframed"},
		{name: "empty", line: "", errKind: KindUnparseable, kind: "unframed"},
		{name: "no tag", line: "Nov 26 17:30:58 mx", errKind: KindUnparseable, kind: "unframed"},
		{name: "bad date", line: "Nov 36 17:30:58 mx postfix/smtpd[1]: connect from x[1.2.3.4]", errKind: KindBadTimestamp, kind: "unframed"},
		{name: "bad time", line: "Nov 26 25:30:58 mx postfix/smtpd[1]: connect from x[1.2.3.4]", errKind: KindBadTimestamp, kind: "unframed"},
		{name: "rfc5424 nil time", line: "<22>1 - mx postfix/smtpd 1 - - connect from x[1.2.3.4]", errKind: KindBadTimestamp, kind: "unframed"},
		{name: "qmgr without sender", line: pfx + "qmgr[3]: 3F1A2B4C5D: from=<unterminated, size=1", errKind: KindUnparseable, kind: "postfix_unknown"},
		{name: "delivery without status", line: pfx + "smtp[4]: 3F1A2B4C5D: to=<bob@example.net>, relay=none, delay=1", errKind: KindUnparseable, kind: "postfix_unknown"},
		{name: "delivery odd status", line: pfx + "smtp[4]: 3F1A2B4C5D: to=<bob@example.net>, relay=none, delay=1, dsn=5.0.0, status=weird (x)", errKind: KindUnparseable, kind: "postfix_unknown"},

		// Exim.
		{name: "exim arrival", line: ex + "1abcDE-00012A-Bc <= Sender@Example.org H=mail.example.org (helo.example.org) [192.0.2.10]:41234 P=esmtpa A=dovecot_plain:alice S=1234 id=abc@example.org T=\"Quarterly \\\"numbers\\\"\" for bob@example.net",
			kind: "exim_arrival"},
		{name: "exim delivery joined", setup: []string{ex + "1abcDE-00012A-Bc <= Sender@Example.org H=mail.example.org (helo) [192.0.2.10]:41234 P=esmtpa A=dovecot_plain:alice S=1234 id=abc@example.org T=\"Quarterly \\\"numbers\\\"\""},
			line:   ex + "1abcDE-00012A-Bc => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.2]:25 X=TLS1.3:TLS_AES_256_GCM_SHA384:256 CV=yes C=\"250 2.0.0 Ok: queued as 99AA\"",
			events: []want{{status: "sent", rcpt: "bob@example.net", sender: "sender@example.org", qid: "1abcDE-00012A-Bc", dsn: "2.0.0", client: "192.0.2.10", sasl: "alice", msgid: "abc@example.org", subject: `Quarterly "numbers"`, code: 250, size: 1234, relay: "mx.example.net[198.51.100.2]", text: "Ok: queued as 99AA"}},
			kind:   "exim_delivery"},
		{name: "exim new id local delivery", line: "1999-03-02 09:44:33 10HmaX-000000005vi-0000 => CALLER <CALLER@the.local.host.name> R=localuser T=local_delivery",
			events: []want{{status: "sent", rcpt: "caller@the.local.host.name", qid: "10HmaX-000000005vi-0000", relay: "local_delivery"}}, kind: "exim_delivery"},
		{name: "exim pipe uses parent", line: "1999-03-02 09:44:33 10HmaX-000000005vi-0000 => |/usr/bin/procmail <p@example.net> R=aliases T=address_pipe",
			events: []want{{status: "sent", rcpt: "p@example.net", qid: "10HmaX-000000005vi-0000"}}, kind: "exim_delivery"},
		{name: "exim cutthrough", line: "1999-03-02 09:44:33 10HmaX-000000005vi-0000 >> userx@test.ex R=cutthrough T=smtp H=127.0.0.1 [127.0.0.1] C=\"250 OK\"",
			events: []want{{status: "sent", rcpt: "userx@test.ex", qid: "10HmaX-000000005vi-0000", code: 250}}, kind: "exim_delivery"},
		{name: "exim fail smtp error", line: ex + "1abcDE-00012A-Bc ** n13@test.ex R=client T=send_to_server H=127.0.0.1 [127.0.0.1] : SMTP error from remote mail server after RCPT TO:<n13@test.ex>: 550 5.1.1 <n13@test.ex>: Recipient address rejected: User unknown",
			events: []want{{status: "bounced", rcpt: "n13@test.ex", qid: "1abcDE-00012A-Bc", dsn: "5.1.1", reason: "user_unknown", code: 550}}, kind: "exim_fail"},
		{name: "exim fail cv colon", line: ex + "1abcDE-00012A-Bc ** x@outlook.com R=dnslookup T=remote_smtp H=mx.outlook.com [52.101.68.7]:25 X=TLS1.2:ECDHE-RSA-AES256-GCM-SHA384:256 CV=yes: SMTP error from remote mail server after MAIL FROM:<s@example.org> SIZE=1234: 550 5.7.606 Access denied, banned sending IP [203.0.113.25].",
			events: []want{{status: "bounced", rcpt: "x@outlook.com", qid: "1abcDE-00012A-Bc", dsn: "5.7.606", reason: "blocklisted", code: 550}}, kind: "exim_fail"},
		{name: "exim fail unrouteable", line: "1999-03-02 09:44:33 10HmaY-000000005vi-0000 ** unknown@test.ex : Unrouteable address",
			events: []want{{status: "bounced", rcpt: "unknown@test.ex", qid: "10HmaY-000000005vi-0000", reason: "host_not_found", text: "Unrouteable address"}}, kind: "exim_fail"},
		{name: "exim retry timeout", line: "1999-03-02 09:44:33 10HmaX-000000005vi-0000 ** userx@myhost.test.ex: retry timeout exceeded",
			events: []want{{status: "expired", rcpt: "userx@myhost.test.ex", qid: "10HmaX-000000005vi-0000", reason: "network"}}, kind: "exim_fail"},
		{name: "exim defer", line: "1999-03-02 09:44:33 10HmaX-000000005vi-0000 == userx@domain.com R=all T=smtp defer (-44) H=127.0.0.1 [127.0.0.1]: SMTP error from remote mail server after RCPT TO:<userx@domain.com>: 452 4.2.2 Mailbox full",
			events: []want{{status: "deferred", rcpt: "userx@domain.com", qid: "10HmaX-000000005vi-0000", dsn: "4.2.2", reason: "mailbox_full", code: 452, relay: "127.0.0.1[127.0.0.1]"}}, kind: "exim_defer"},
		{name: "exim defer old format", line: "1999-03-02 09:44:33 10HmaX-0005vi-00 == userx@test.ex R=r1 T=smtp defer (-44): SMTP error from remote mail server after RCPT TO:<userx@test.ex>: host 127.0.0.1 [127.0.0.1]: 451 Recipient not OK",
			events: []want{{status: "deferred", rcpt: "userx@test.ex", qid: "10HmaX-0005vi-00", reason: "other", code: 451}}, kind: "exim_defer"},
		{name: "exim routing defer", line: "1999-03-02 09:44:33 10HmbG-000000005vi-0000 == xxx@local.test.ex routing defer (-56): domain is in queue_domains",
			events: []want{{status: "deferred", rcpt: "xxx@local.test.ex", qid: "10HmbG-000000005vi-0000", reason: "other"}}, kind: "exim_defer"},
		{name: "exim completed", line: ex + "1abcDE-00012A-Bc Completed", kind: "exim_completed"},
		{name: "exim rejected rcpt", line: "2013-06-10 18:33:32 [10099] H=(yakult.com.tw) [202.132.70.178]:3755 I=[1.2.3.4]:25 F=menacedsj04@listserv.eurasia.org rejected RCPT dir@ml3.ru: relay not permitted",
			events: []want{{status: "rejected", rcpt: "dir@ml3.ru", sender: "menacedsj04@listserv.eurasia.org", reason: "relay_denied", client: "202.132.70.178", code: 550}}, kind: "exim_reject"},
		{name: "exim temporarily rejected", line: "1999-03-02 09:44:33 H=(test) [56.56.57.57] U=CALLER F=<userx@test.ex> temporarily rejected RCPT <cond-rhubarb@test.ex>: invalid \"condition\" value \"rhubarb\"",
			events: []want{{status: "rejected", rcpt: "cond-rhubarb@test.ex", sender: "userx@test.ex", reason: "other", client: "56.56.57.57", code: 450}}, kind: "exim_reject"},
		{name: "exim rejected after data", line: "2013-06-09 10:21:28 1UlasQ-0003fr-45 H=(x) [46.254.240.82]:1234 F=<m@aol.com> rejected after DATA: This message contains a virus (Eicar).",
			events: []want{{status: "rejected", sender: "m@aol.com", qid: "1UlasQ-0003fr-45", reason: "spam_content", client: "46.254.240.82", code: 550}}, kind: "exim_reject"},
		{name: "exim rejected helo no event", line: "1999-03-02 09:44:33 rejected HELO from CALLER: syntactically invalid argument(s): !@#$%^&*(", kind: "exim_reject_session"},
		{name: "exim syslog framing", line: "Nov 26 17:30:58 mx exim[123]: 1abcDE-00012A-Bc => bob@example.net R=dnslookup T=remote_smtp H=mx.example.net [198.51.100.2] C=\"250 OK\"",
			events: []want{{status: "sent", rcpt: "bob@example.net", qid: "1abcDE-00012A-Bc", code: 250}}, kind: "exim_delivery"},
		{name: "exim noise", line: "1999-03-02 09:44:33 Start queue run: pid=p1234", kind: "exim_other"},
		{name: "exim authenticator", line: "2014-12-02 03:00:23 auth_plain authenticator failed for (rom182) [193.254.202.35]:41556 I=[10.0.0.1]:25: 535 Incorrect authentication data (set_id=webmaster)",
			events: []want{{status: "auth_failed", client: "193.254.202.35", sasl: "webmaster", reason: "auth_failure", code: 535, text: "Incorrect authentication data"}}, kind: "exim_auth_failed"},
		{name: "exim authenticator temporary", line: "1999-03-02 09:44:33 defer authenticator failed for H=(test.host) [10.0.0.1] U=CALLER: 435 Unable to authenticate at present (set_id=userx): account suspended", kind: "exim_other"},
		{name: "exim client-side authenticator", line: "1999-03-02 09:44:33 10HmaY-000000005vi-0000 spa authenticator failed H=127.0.0.1 [127.0.0.1] 535 Incorrect authentication data", kind: "exim_other"},
		{name: "exim unrecognised", line: "1999-03-02 09:44:33 10HmaY-000000005vi-0000 delivered in a brand new way", errKind: KindUnrecognised, kind: "exim_unrecognised"},
		{name: "postfix sasl failed", line: pfx + "submission/smtpd[11538]: warning: unknown[82.221.106.233]: SASL LOGIN authentication failed: UGFzc3dvcmQ6",
			events: []want{{status: "auth_failed", client: "82.221.106.233", reason: "auth_failure", code: 535, dsn: "5.7.8", text: "SASL LOGIN authentication failed: UGFzc3dvcmQ6"}}, kind: "postfix_auth_failed"},
		{name: "postfix sasl failed with login and port", line: pfx + "smtpd[1234]: warning: unknown[192.0.2.152]:55729: SASL LOGIN authentication failed: (reason unavailable), sasl_username=admin",
			events: []want{{status: "auth_failed", client: "192.0.2.152", sasl: "admin", reason: "auth_failure", code: 535, dsn: "5.7.8"}}, kind: "postfix_auth_failed"},
		{name: "postfix sasl server trouble", line: pfx + "smtpd[21022]: warning: unknown[1.1.1.1]: SASL LOGIN authentication failed: Connection lost to authentication server", kind: "postfix_other"},
		{name: "postfix unrecognised", line: pfx + "local[13410]: C589E3780: delivered somewhere new", errKind: KindUnrecognised, kind: "postfix_unrecognised"},
		{name: "postfix unrecognised without qid", line: pfx + "smtpd[1]: some brand new message", errKind: KindUnrecognised, kind: "postfix_unrecognised"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, Options{Host: "mx"})
			if _, err := feedAll(t, p, c.setup...); err != nil {
				t.Fatalf("setup: %v", err)
			}
			before := p.Stats()
			evs, err := feedAll(t, p, c.line)
			switch {
			case c.errKind == "" && err != nil:
				t.Fatalf("Feed: %v", err)
			case c.errKind != "":
				var le *LineError
				if !errors.As(err, &le) || le.Kind != c.errKind {
					t.Fatalf("Feed error %v, want kind %s", err, c.errKind)
				}
			}
			if len(evs) != len(c.events) {
				t.Fatalf("%d events, want %d: %+v", len(evs), len(c.events), evs)
			}
			for i := range evs {
				c.events[i].check(t, evs[i])
				if evs[i].ID != "l1" && i == 0 {
					t.Errorf("event id %q, want l1", evs[i].ID)
				}
			}
			after := p.Stats()
			wantDiff := map[string]int64{c.kind: 1}
			if c.errKind != "" {
				wantDiff["rejected_"+c.errKind] = 1
			}
			d := diffStats(before, after)
			delete(d, "messages_expired")
			delete(d, "messages_evicted")
			if fmt.Sprint(d) != fmt.Sprint(wantDiff) {
				t.Errorf("stats changed by %v, want %v", d, wantDiff)
			}
		})
	}
}

func diffStats(a, b map[string]uint64) map[string]int64 {
	d := map[string]int64{}
	for k := range b {
		if b[k] != a[k] {
			d[k] = int64(b[k]) - int64(a[k])
		}
	}
	return d
}

func TestFraming(t *testing.T) {
	cases := []struct {
		name string
		line string
		ts   time.Time
		host string
	}{
		{"classic", "Nov 26 17:30:58 mx1 postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "mx1"},
		{"classic one-digit day", "Nov  6 17:30:58 mx1 postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 6, 17, 30, 58, 0, time.UTC), "mx1"},
		{"classic unpadded day", "Nov 6 17:30:58 mx1 postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 6, 17, 30, 58, 0, time.UTC), "mx1"},
		{"maillog_file", "Nov 06 17:30:58 mx1 postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 6, 17, 30, 58, 0, time.UTC), "mx1"},
		{"no host", "Nov 26 17:30:58 postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "default"},
		{"rfc3164 pri", "<22>Nov 26 17:30:58 mx1 postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "mx1"},
		{"rfc5424", "<22>1 2026-11-26T17:30:58.123456+01:00 mx1 postfix/smtp 123 - - 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 26, 16, 30, 58, 123456000, time.UTC), "mx1"},
		{"rfc5424 sd and bom", "<22>1 2026-11-26T17:30:58Z mx1 postfix/smtp 123 ID47 [exampleSDID@32473 iut=\"3\" eventID=\"1011\\]\"] \xef\xbb\xbf0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "mx1"},
		{"rfc5424 nil host", "<22>1 2026-11-26T17:30:58Z - postfix/smtp 123 - - 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "default"},
		{"iso rsyslog", "2026-11-26T17:30:58.123456+00:00 mx1 postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 26, 17, 30, 58, 123456000, time.UTC), "mx1"},
		{"iso short-iso no colon", "2026-11-26T17:30:58+0100 mx1 postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
			time.Date(2026, 11, 26, 16, 30, 58, 0, time.UTC), "mx1"},
		{"exim", "2026-11-26 17:30:58 1abcDE-00012A-Bc ** a@b.example: retry timeout exceeded",
			time.Date(2026, 11, 26, 17, 30, 58, 0, time.UTC), "default"},
		{"exim millisec pid", "2017-07-30 18:51:05.712 [4242] 1abcDE-00012A-Bc ** a@b.example: retry timeout exceeded",
			time.Date(2017, 7, 30, 18, 51, 5, 712000000, time.UTC), "default"},
		{"exim zone", "2026-11-26 17:30:58 -0500 1abcDE-00012A-Bc ** a@b.example: retry timeout exceeded",
			time.Date(2026, 11, 26, 22, 30, 58, 0, time.UTC), "default"},
		{"exim host tag", "2019-10-22 03:39:17 mx1.fqdn.local exim[29786]: 1abcDE-00012A-Bc ** a@b.example: retry timeout exceeded",
			time.Date(2019, 10, 22, 3, 39, 17, 0, time.UTC), "mx1.fqdn.local"},
		{"journal short exim", "mail.example.com exim[3751842]: 2021-07-17 23:20:49 1abcDE-00012A-Bc ** a@b.example: retry timeout exceeded",
			time.Date(2021, 7, 17, 23, 20, 49, 0, time.UTC), "mail.example.com"},
		{"exim via syslog with own time", "Jul 18 01:20:49 mx9 exim[1]: 2021-07-17 23:20:49 1abcDE-00012A-Bc ** a@b.example: retry timeout exceeded",
			time.Date(2021, 7, 17, 23, 20, 49, 0, time.UTC), "mx9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, Options{Host: "default"})
			evs, err := feedAll(t, p, c.line)
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d events, err %v", len(evs), err)
			}
			if !evs[0].TS.Equal(c.ts) || evs[0].Host != c.host {
				t.Errorf("ts %v host %q, want %v %q", evs[0].TS, evs[0].Host, c.ts, c.host)
			}
		})
	}
}

func TestLocation(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Skip("no tzdata:", err)
	}
	p := newTestParser(t, Options{Location: paris})
	evs, _ := feedAll(t, p, "Nov 26 17:30:58 mx1 postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)",
		"2026-07-01 12:00:00 1abcDE-00012A-Bc ** a@b.example: retry timeout exceeded")
	if len(evs) != 2 {
		t.Fatalf("%d events", len(evs))
	}
	if want := time.Date(2026, 11, 26, 16, 30, 58, 0, time.UTC); !evs[0].TS.Equal(want) {
		t.Errorf("syslog in Paris: %v, want %v", evs[0].TS, want)
	}
	if want := time.Date(2026, 7, 1, 10, 0, 0, 0, time.UTC); !evs[1].TS.Equal(want) {
		t.Errorf("exim in Paris (summer): %v, want %v", evs[1].TS, want)
	}
}

func TestYearInference(t *testing.T) {
	cases := []struct {
		name  string
		now   time.Time
		stamp string
		year  int
	}{
		{"same year", time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC), "Nov 26 17:30:58", 2026},
		{"december read in january", time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC), "Dec 31 23:59:58", 2026},
		{"january read on new year", time.Date(2027, 1, 1, 0, 5, 0, 0, time.UTC), "Jan  1 00:04:00", 2027},
		{"january line from a fast clock on dec 31", time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC), "Jan  1 00:00:30", 2027},
		{"july read in january", time.Date(2027, 1, 15, 0, 0, 0, 0, time.UTC), "Jul 10 10:00:00", 2026},
		{"old replay", time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC), "Jun 12 08:58:35", 2025},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			now := c.now
			p := newTestParser(t, Options{Now: func() time.Time { return now }})
			evs, err := feedAll(t, p, c.stamp+" mx postfix/smtp[1]: 0D9633D: to=<a@b.example>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)")
			if err != nil || len(evs) != 1 {
				t.Fatalf("%d events, %v", len(evs), err)
			}
			if y := evs[0].TS.Year(); y != c.year {
				t.Errorf("year %d, want %d (ts %v)", y, c.year, evs[0].TS)
			}
		})
	}
}

func TestQueueIDs(t *testing.T) {
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"3F1A2B4C5D: x", true}, {"0F5383D: x", true}, {"4Z1abcDEFgh: x", true}, {"48rT2v1hQrz1J0N: x", true},
		{"ED06590130AA1C9D6D862: x", false}, // too long
		{"warning: x", false}, {"statistics: x", false}, {"NOQUEUE: x", false}, {"ABCD: x", false},
		{"abcdefghijk: x", false}, {"3F1A2B4C5D:x", false}, {"3F1A-2B4C5D: x", false},
	} {
		if _, _, ok := splitQueueID(c.in); ok != c.ok {
			t.Errorf("splitQueueID(%q) = %v, want %v", c.in, ok, c.ok)
		}
	}
	for _, c := range []struct {
		in string
		ok bool
	}{
		{"1abcDE-00012A-Bc", true}, {"10HmaX-000000005vi-0000", true}, {"10HmaX-0005vi-00", true},
		{"10HmaX-000000005vi-000", false}, {"1abcDE_00012A-Bc", false}, {"Completed", false},
	} {
		if got := isEximID(c.in); got != c.ok {
			t.Errorf("isEximID(%q) = %v", c.in, got)
		}
	}
}

func TestOptions(t *testing.T) {
	if _, err := New(Options{Format: "sendmail"}); err == nil {
		t.Error("unknown format accepted")
	}
	if _, err := New(Options{MaxPending: -1}); err == nil {
		t.Error("negative MaxPending accepted")
	}
	p := newTestParser(t, Options{Format: FormatPostfix})
	if _, err := feedAll(t, p, ex+"1abcDE-00012A-Bc Completed"); !errors.Is(err, ErrUnknownProgram) {
		t.Errorf("exim line with Format=postfix: %v", err)
	}
	p = newTestParser(t, Options{Format: FormatExim})
	if _, err := feedAll(t, p, pfx+"smtpd[1]: connect from x[1.2.3.4]"); !errors.Is(err, ErrUnknownProgram) {
		t.Errorf("postfix line with Format=exim: %v", err)
	}
	p = newTestParser(t, Options{IgnoreOtherPrograms: true})
	if _, err := feedAll(t, p, "Nov 26 17:30:58 mx amavis[1]: (1-09) Passed CLEAN"); err != nil {
		t.Errorf("IgnoreOtherPrograms: %v", err)
	}
	if p.Stats()["other_program"] != 1 {
		t.Error("ignored program not counted")
	}
}

func TestStatsKeysFixed(t *testing.T) {
	p := newTestParser(t, Options{})
	names := StatNames()
	if len(p.Stats()) != len(names) || len(names) != int(numKinds) {
		t.Fatalf("stats keys %d, names %d", len(p.Stats()), len(names))
	}
	for _, n := range names {
		if n == "" {
			t.Fatal("unnamed stat")
		}
		if _, ok := p.Stats()[n]; !ok {
			t.Errorf("missing stat %q", n)
		}
	}
}

func TestHostile(t *testing.T) {
	long := strings.Repeat("a", event.MaxAddressLen) + "@example.com"
	cases := []struct {
		name  string
		setup []string
		line  string
	}{
		{"space in to", nil, pfx + "smtp[4]: 0D9633D: to=<a b@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)"},
		{"nul in to", nil, pfx + "smtp[4]: 0D9633D: to=<a\x00b@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)"},
		{"control in to", nil, pfx + "smtp[4]: 0D9633D: to=<a\x1bb@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)"},
		{"invalid utf8 in to", nil, pfx + "smtp[4]: 0D9633D: to=<a\xffb@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)"},
		{"overlong to", nil, pfx + "smtp[4]: 0D9633D: to=<" + long + ">, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)"},
		{"line separator in to", nil, pfx + "smtp[4]: 0D9633D: to=<a\u2028b@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)"},
		{"reject sender", nil, pfx + "smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 550 5.1.1 <r@example.com>: User unknown; from=<evil\tsender@example.com> to=<r@example.com> proto=ESMTP helo=<x>"},
		{"reject rcpt", nil, pfx + "smtpd[1]: NOQUEUE: reject: RCPT from x[192.0.2.1]: 550 5.1.1 <r@example.com>: User unknown; from=<s@example.com> to=<r r@example.com> proto=ESMTP helo=<x>"},
		{"sasl user", nil, pfx + "smtpd[1]: 3F1A2B4C5D: client=x[192.0.2.1], sasl_method=PLAIN, sasl_username=a\x07b"},
		{"qmgr sender", nil, pfx + "qmgr[3]: 3F1A2B4C5D: from=<a\x0bb@example.com>, size=1, nrcpt=1 (queue active)"},
		{"later delivery of hostile message", []string{pfx + "qmgr[3]: 3F1A2B4C5D: from=<a b@example.com>, size=1, nrcpt=1 (queue active)"},
			pfx + "smtp[4]: 3F1A2B4C5D: to=<ok@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)"},
		{"hostile host", nil, "Nov 26 17:30:58 m\x01x postfix/smtp[4]: 0D9633D: to=<ok@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)"},
		{"exim quoted sender", nil, ex + "1abcDE-00012A-Bc <= \"name with spaces\"@test.ex H=(test) [127.0.0.1] P=smtps S=1"},
		{"exim quoted rcpt", nil, ex + "U=CALLER F=<> rejected RCPT <\"deny verify = junk\"@test.ex>: unknown"},
		{"exim auth id", nil, ex + "1abcDE-00012A-Bc <= a@test.ex H=(test) [127.0.0.1] P=esmtpa A=plain:bad\x7fuser S=1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newTestParser(t, Options{Host: "mx"})
			feedAll(t, p, c.setup...)
			evs, err := feedAll(t, p, c.line)
			if !errors.Is(err, ErrHostileField) {
				t.Errorf("err %v, want hostile_field", err)
			}
			if len(evs) != 0 {
				t.Errorf("hostile line emitted %+v", evs[0])
			}
		})
	}
}

func TestTruncated(t *testing.T) {
	p := newTestParser(t, Options{MaxLineLen: 200})
	line := pfx + "smtp[4]: 0D9633D: to=<bob@example.net>, relay=mx.example.net[198.51.100.2]:25, delay=1, delays=1/0/0/0, dsn=5.7.1, status=bounced (host mx said: 550 5.7.1 " + strings.Repeat("blah ", 2000) + ")"
	evs, err := feedAll(t, p, line)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("err %v, want truncated", err)
	}
	if len(evs) != 1 || evs[0].Recipient != "bob@example.net" || evs[0].Status != event.StatusBounced {
		t.Fatalf("truncated line events %+v", evs)
	}
	if p.Stats()["rejected_"+KindTruncated] != 1 {
		t.Error("truncation not counted")
	}
	// Truncation in the middle of the address must not yield an event.
	p = newTestParser(t, Options{MaxLineLen: len(pfx) + 30})
	evs, err = feedAll(t, p, pfx+"smtp[4]: 0D9633D: to=<bob@example.net>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (x)")
	if err == nil || len(evs) != 0 {
		t.Errorf("cut address: %v %+v", err, evs)
	}
}

func TestLongReplyBounded(t *testing.T) {
	p := newTestParser(t, Options{})
	evs, _ := feedAll(t, p, pfx+"smtp[4]: 0D9633D: to=<bob@example.net>, relay=none, delay=1, delays=1/0/0/0, dsn=5.0.0, status=bounced (host x said: 550 "+strings.Repeat("é", 3000)+")")
	if len(evs) != 1 || len(evs[0].ReplyText) > maxText {
		t.Fatalf("reply text %d bytes", len(evs[0].ReplyText))
	}
	if !strings.HasSuffix(evs[0].ReplyText, "é") {
		t.Error("reply text cut inside a rune")
	}
}

func TestSubjectSanitised(t *testing.T) {
	p := newTestParser(t, Options{})
	evs, err := feedAll(t, p,
		pfx+"cleanup[2]: 3F1A2B4C5D: warning: header Subject: =?UTF-8?B?SGVsbG8NCkJjYzogZXZpbEBleGFtcGxlLmNvbQ==?= from local; from=<a@example.com> to=<b@example.com>",
		pfx+"qmgr[3]: 3F1A2B4C5D: from=<a@example.com>, size=1, nrcpt=1 (queue active)",
		pfx+"smtp[4]: 3F1A2B4C5D: to=<b@example.com>, relay=none, delay=1, delays=1/0/0/0, dsn=2.0.0, status=sent (250 ok)")
	if err != nil || len(evs) != 1 {
		t.Fatalf("%v %d", err, len(evs))
	}
	if s := evs[0].Subject; strings.ContainsAny(s, "\r\n") || s != "Hello  Bcc: evil@example.com" {
		t.Errorf("subject %q", s)
	}
}

func TestNoAllocsForNoise(t *testing.T) {
	p := newTestParser(t, Options{})
	lines := [][]byte{
		[]byte(pfx + "smtpd[1]: connect from mail.example.org[192.0.2.10]"),
		[]byte(pfx + "smtpd[1]: disconnect from mail.example.org[192.0.2.10] ehlo=1 mail=1 rcpt=1 data=1 quit=1 commands=5"),
		[]byte("Nov 26 17:30:58 mx dovecot: imap-login: Login: user=<a@b>"),
		[]byte(pfx + "qmgr[3]: 3F1A2B4C5D: removed"),
	}
	emit := func(*event.DeliveryEvent) {}
	for _, l := range lines {
		_ = p.Feed(l, "x", emit)
	}
	n := testing.AllocsPerRun(200, func() {
		for _, l := range lines {
			_ = p.Feed(l, "x", emit)
		}
	})
	if n != 0 {
		t.Errorf("%.1f allocations per run of noise lines", n)
	}
}

// TestInferYearCache checks that the per-day fast path of inferYear agrees
// with a fresh computation, across a New Year and with a moving clock.
func TestInferYearCache(t *testing.T) {
	now := time.Date(2026, 12, 30, 20, 0, 0, 0, time.UTC)
	p := newTestParser(t, Options{Now: func() time.Time { return now }})
	for step := 0; step < 2000; step++ {
		now = now.Add(97 * time.Second)
		for _, d := range []struct {
			mon time.Month
			day int
		}{{12, 30}, {12, 31}, {1, 1}, {1, 2}, {2, 29}, {6, 15}} {
			hh, mm, ss := step%24, step*7%60, step*13%61
			got := p.inferYear(d.mon, d.day, hh, mm, ss)
			fresh := newTestParser(t, Options{Now: func() time.Time { return now }})
			if want := fresh.inferYear(d.mon, d.day, hh, mm, ss); !got.Equal(want) {
				t.Fatalf("now %v, %v %d %02d:%02d:%02d: cached %v, fresh %v", now, d.mon, d.day, hh, mm, ss, got, want)
			}
		}
	}
}

// TestCheckTokenEquivalent checks the ASCII fast path against
// event.CheckToken.
func TestCheckTokenEquivalent(t *testing.T) {
	for c := 0; c < 256; c++ {
		for _, s := range []string{string(rune(c)), "a" + string([]byte{byte(c)}) + "@b.example", string([]byte{byte(c)})} {
			if (checkToken(s) == nil) != (event.CheckToken(s) == nil) {
				t.Errorf("%q: fast path %v, CheckToken %v", s, checkToken(s), event.CheckToken(s))
			}
		}
	}
	for _, n := range []int{event.MaxAddressLen - 1, event.MaxAddressLen, event.MaxAddressLen + 1} {
		s := strings.Repeat("a", n)
		if (checkToken(s) == nil) != (event.CheckToken(s) == nil) {
			t.Errorf("length %d disagrees", n)
		}
	}
}

func TestEximMultilineReply(t *testing.T) {
	for in, want := range map[string]string{
		`The email account that you tried to reach is over quota. Please direct\n552-5.2.2 the recipient to\n552 5.2.2  https://support.google.com/mail/?p=OverQuotaTemp`: "The email account that you tried to reach is over quota. Please direct the recipient to https://support.google.com/mail/?p=OverQuotaTemp",
		"single line": "single line",
		`a\n\nb`:      "a b",
	} {
		if got := joinContinuations(in); got != want {
			t.Errorf("joinContinuations(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestReuseEvents: with Options.ReuseEvents the events encode to the same
// bytes as without, over every corpus line.
func TestReuseEvents(t *testing.T) {
	var lines []string
	for _, group := range []map[string][]string{postfixCorpus(t), eximCorpus(t)} {
		for _, ls := range group {
			lines = append(lines, ls...)
		}
	}
	dayLog(5000, func(l string) { lines = append(lines, l) })
	encode := func(reuse bool) []string {
		p := newTestParser(t, Options{Host: "h", ReuseEvents: reuse})
		var out []string
		emit := func(e *event.DeliveryEvent) { out = append(out, string(event.AppendEvent(nil, e))) }
		for i, l := range lines {
			buf := []byte(l)
			_ = p.Feed(buf, "r:"+itoa(i), emit)
			for k := range buf {
				buf[k] = 'Z'
			}
		}
		p.Expire(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), emit)
		return out
	}
	a, b := encode(false), encode(true)
	if len(a) != len(b) || len(a) < 1000 {
		t.Fatalf("%d events without reuse, %d with", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("event %d differs:\n%s\n%s", i, a[i], b[i])
		}
	}
}
