package parse

import "strings"

// The known non-delivery lines: what Postfix and Exim log besides the
// lines that carry a message's life (which the parsers read) and that
// the parser therefore counts as understood noise (postfix_other,
// exim_other). A line of neither kind is refused as unrecognised: it may
// be a delivery in a shape this version does not read, and must not
// disappear uncounted.
//
// The lists are prefixes of the message text, taken from the Postfix
// and Exim sources' log calls and the shared corpus; the most frequent
// come first (connect/disconnect/TLS are a third of a busy smtpd log).

// postfixNoise lists the known Postfix lines without a queue id
// (smtpd, postscreen, smtp, anvil, master, tlsmgr, scache, dnsblog,
// verify, postfix-script, postlogd...).
var postfixNoise = [...]string{
	"connect from ", "disconnect from ", "lost connection after ", "timeout after ",
	"Anonymous TLS connection established", "Trusted TLS connection established",
	"Untrusted TLS connection established", "Verified TLS connection established",
	"warning: ", "error: ", "fatal: ", "panic: ", "statistics: ",
	"CONNECT from ", "PASS NEW ", "PASS OLD ", "DISCONNECT ", "HANGUP ", "PREGREET ", "DNSBL rank ",
	"WHITELISTED ", "BLACKLISTED ", "ALLOWLISTED ", "DENYLISTED ", "WHITELIST VETO ", "ALLOWLIST VETO ",
	"COMMAND PIPELINING ", "COMMAND COUNT LIMIT ", "COMMAND TIME LIMIT ", "COMMAND LENGTH LIMIT ",
	"NON-SMTP COMMAND ", "BARE NEWLINE ", "BDAT ", "cache ",
	"improper command pipelining ", "too many errors after ", "SSL_accept error ", "SSL_connect error ",
	"TLS library problem", "setting up TLS connection ", "SSL_accept:", "SSL_connect:", "TLS SNI ",
	"NOQUEUE: filter: ", "NOQUEUE: warn: ", "NOQUEUE: reject_warning: ", "NOQUEUE: discard: ",
	"NOQUEUE: hold: ", "NOQUEUE: redirect: ", "NOQUEUE: permit: ", "NOQUEUE: info: ", "NOQUEUE: milter-",
	"NOQUEUE: client=", "NOQUEUE: prepend: ", "NOQUEUE: bcc: ", "NOQUEUE: dunno: ", "NOQUEUE: lost connection",
	"reject_warning: ", "proxy-accept: ", "addr ", "connect to ", "Host offered STARTTLS",
	"server certificate verification ", "certificate verification ", "host ", "enabling PIX workarounds",
	"mapping DSN status", "max connection rate ", "max connection count ", "max message rate ",
	"max recipient rate ", "max newtls rate ", "max cache size ", "max auth rate ",
	"daemon started", "reload ", "terminating on signal", "starting the Postfix mail system",
	"stopping the Postfix mail system", "refreshing the Postfix mail system", "waiting for the Postfix",
	"the Postfix mail system is", "Postfix is ", "Postfix is using", "See http", "To disable backwards compatibility",
	"using backwards-compatible default", "Compiled against ", "run-time library ", "initializing the ",
	"table ", "dict_", "close database", "start interval ", "verify_cache", "postfix-script",
	"SASL authentication failure", "sql_", "mysql", "pgsql", "ldap", "lookup ", "refusing ", "Cannot start TLS",
	"TLS is required", "Server certificate ", "client certificate ", "Peer certificate ", "certificate ",
	"status=", "sender=", "dnsblog_", "shutdown", "exiting", "unable to ", "cannot ", "daemon ", "configuration ",
	"overriding ", "premature end-of-input", "message file too big", "queue file size ", "skipped, ",
	"postsuper: ", "Deleted: ", "Requeued: ", "Placed on hold: ", "Released from hold: ", "input attribute",
	"name_mask", "getpwnam", "fatal ", "bad command startup", "process ", "service ", "master ",
	"send attr ", "private/", "public/", "deleting ", "requeued ", "mail_queue_", "postlog",
	"bare <LF> received", "discarding EHLO keywords", "skipped, still being delivered",
}

// postfixQueueNoise lists the known Postfix lines after "QID: " that are
// no line of the message's join state: the detail lines of a delivery
// attempt (its status= line follows), content-check actions that do not
// refuse the message, and postsuper's.
var postfixQueueNoise = [...]string{
	"host ", "lost connection with ", "conversation with ", "enabling PIX workarounds", "Cannot start TLS",
	"TLS is required", "Server certificate ", "SASL authentication failed", "skipped, still being delivered",
	"resent-message-id=", "orig_client=", "sender=", "warning: ", "info: ", "hold: ", "discard: ",
	"redirect: ", "filter: ", "prepend: ", "replace: ", "reject_warning: ", "bcc: ", "permit: ", "dunno: ",
	"strip: ", "milter-", "passing ", "breaking line", "canceled", "cancelled", "delivery temporarily suspended",
	"status=", "requeued", "deleted", "placed on hold", "released from hold", "triggered",
	"address resolver ", "trace ", "defer ", "bounce or trace service failure", "Temporary lookup failure",
}

// isPostfixNoise reports whether a Postfix message text (qid "" for a
// line without queue id) is a known non-delivery line.
func isPostfixNoise(qid, s string) bool {
	list := postfixNoise[:]
	if qid != "" {
		list = postfixQueueNoise[:]
	}
	for _, p := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	// "ID: text" with an id splitQueueID does not take (a queue id of
	// another build): the text decides.
	if i := strings.IndexByte(s, ':'); qid == "" && i > 0 && i+1 < len(s) && s[i+1] == ' ' {
		for k := 0; k < i; k++ {
			if !isAlnum(s[k]) {
				return false
			}
		}
		return isPostfixNoise("-", s[i+2:])
	}
	return false
}

// eximIDNoise lists the known Exim lines after a message id that are no
// delivery and no line of the message's life the parser keeps.
var eximIDNoise = [...]string{
	"H=", "SMTP error from remote mail", "SMTP connection outbound", "Frozen", "frozen ", "Message is frozen",
	"Unfrozen ", "unfrozen ", "no immediate delivery", "Spool file is locked", "Spool file ", "cancelled ",
	"Error while ", "DKIM: ", "DKIM ", "ARC: ", "SPF ", "DMARC ", "Warning: ", "Warning ", "retry ", "moved from ",
	"moved to ", "original recipients ", "[", "Remote host ", "Connection ", "TLS ", "delivery ",
	"Delay ", "routing ", "Sender ", "sender ", "previously delivered", "Message ", "message ", "SMTP ",
	"LMTP ", "host ", "rewritten ", "Received from ", "dropped", "malware ", "spam ", "deferred ", "event ",
	"Unexpected ", "unexpected ", "timeout ", "failed ", "error ", "ACL ", "acl ", "lost ", "added ",
	"tls_", "DANE ", "no host ", "local_scan", "bounce", "Deleted ", "Rewriting ", "U=", "P=", "id=",
	"Expansion ", "expansion ", "PRDR ", "remote ", "Subject ", "frozen", "Frozen", "qualify/rewrite: ",
}

// eximNoise lists the known Exim lines without a message id (those
// starting with connection fields are matched on the text after them).
var eximNoise = [...]string{
	"Start queue run", "End queue run", "SMTP connection from ", "SMTP connection lost",
	"no host name found for ", "TLS error ", "TLS session", "exim ", "daemon ", "SMTP protocol ",
	"SMTP call from ", "SMTP command timeout", "SMTP data timeout", "SMTP syntax error", "SMTP ",
	"unexpected disconnection", "Connection from ", "connection ", "Connection ", "ident ",
	"Warning: ", "warning: ", "DKIM: ", "DKIM ", "ARC: ", "SPF ", "DMARC ", "sender verify ",
	"recipient verify ", "too many ", "incomplete transaction", "dropped", "lost ", "closed ",
	"ignoring AUTH", "refused ", "rejected ", "temporarily rejected ", "Connection refused",
	"Spool file", "malware acl condition", "spam acl condition", "failed to ", "unable to ",
	"Failed to ", "cwd=", "LOG: ", "Received ", "listening ", "pid ", "tls_", "Tainted ",
	"DANE ", "LMTP ", "lowest numbered ", "host ", "delivery ", "queue run", "Delivery ",
	"message ", "Message ", "retry ", "Retry ", "frozen", "Frozen", "Exim ", "Exim version",
	"Unable to ", "Error ", "error ", "Rejected ", "Timeout ", "timeout ", "ACL ", "accept ",
	"H=", "U=", "F=", "I=", "P=", "X=", "[", "(", "authenticator ", "AUTH ", "callout ",
	"ETRN ", "no MAIL in ", "no IP address found", "Unknown ", "unknown ", "invalid ", "Invalid ",
}

// isEximNoise reports whether an Exim message text (after the message
// id, if withID) is a known non-delivery line.
func isEximNoise(withID bool, s string) bool {
	list := eximNoise[:]
	if withID {
		// The outgoing side: "plain authenticator failed H=mx [ip] 535 ...",
		// "x@y: error ignored" (errors_to), cPanel's SpamAssassin ACL.
		if strings.Contains(s, " authenticator ") || strings.HasSuffix(s, ": error ignored") || strings.HasPrefix(s, "SA: ") {
			return true
		}
		list = eximIDNoise[:]
	}
	for _, p := range list {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
