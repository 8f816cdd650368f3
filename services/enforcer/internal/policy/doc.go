// Package policy is a Postfix policy-delegation server
// (https://www.postfix.org/SMTPD_POLICY_README.html) answering from the
// ban set.
//
// Protocol. Postfix connects over TCP and keeps the connection for many
// requests. A request is "name=value" lines ended by an empty line; the
// answer is "action=REJECT <message>" (Postfix replies 554 5.7.1 with the
// message) when the request's sender, sasl_username, sender domain,
// client_address, sender→recipient pair, recipient or recipient domain is
// banned, "action=DEFER_IF_PERMIT <message>" when the ban's action is
// defer (a 450 unless a later restriction rejects), else "action=DUNNO",
// each followed by an empty line. The allowlist wins; a ban beats a defer;
// otherwise the ban checked first wins, in banset.Match's order. A lookup
// that cannot run within Deadline (a writer holds the ban set's lock) is
// answered DefaultAction. The server listens on TCP and, optionally, a
// unix socket.
//
// Limits. A line longer than MaxLineLen, a request with more than
// MaxAttrs attributes or a line without '=' closes the connection without
// an answer (Postfix then applies smtpd_policy_service_default_action).
// Every read must finish within ReadTimeout, which is also how long an
// idle connection is kept. At most MaxConns connections are served; more
// wait in the listen backlog.
//
// Postfix side, for example:
//
//	smtpd_recipient_restrictions = ...,
//	    check_policy_service { inet:127.0.0.1:10031, default_action=DUNNO, timeout=10s }, ...
package policy
