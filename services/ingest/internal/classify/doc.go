// Package classify maps an SMTP reply (or a local delivery agent's
// message) onto mxwarden's reply taxonomy: one small, fixed set of
// reasons that every DeliveryEvent carries in its "reason" field and that
// the detector's rules key on.
//
// # Taxonomy
//
// Every failed or deferred reply gets exactly one Reason; a successful
// delivery gets None (""). Example replies are real provider wordings.
//
//	user_unknown     the mailbox does not exist, is disabled, suspended or moved
//	                 550-5.1.1 The email account that you tried to reach does not exist. (Gmail)
//	                 550 5.5.0 Requested action not taken: mailbox unavailable (Outlook.com, GMX, web.de)
//	                 554 delivery error: dd This user doesn't have a yahoo.com account (Yahoo)
//	                 550 5.1.1 Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 (Orange)
//	mailbox_full     the mailbox is over quota or out of storage
//	                 452-4.2.2 The recipient's inbox is out of storage space. (Gmail)
//	                 552 Requested mail action aborted: exceeded storage allocation (GMX, web.de)
//	host_not_found   the domain or host does not exist, has no MX or a null MX, cannot be routed
//	                 Host or domain name not found. Name service error for name=example.invalid type=MX: Host not found (Postfix)
//	                 556 5.1.10 Recipient address has null MX
//	blocklisted      the sending IP or domain is on a DNSBL or on the receiver's own block
//	                 list, or is refused for its reputation
//	                 554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org
//	                 550 5.7.1 ... part of their network is on our block list (S3150). (Outlook.com)
//	                 553 5.7.1 [BL21] Connections will not be accepted from 192.0.2.1, because the ip is in Spamhaus's list (Yahoo)
//	                 554-IP address is black listed. (GMX)
//	                 421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints (Yahoo)
//	recipient_block  the recipient itself refuses this sender: its own block list, a
//	                 per-recipient or per-mailbox delivery restriction (not the platform's IP)
//	                 554 5.7.1 <user@example.com>: Recipient address rejected: blocked by user (Postfix access map)
//	                 550 5.7.129 RESOLVER.RST.RestrictedToRecipientsPermission; not authorized to send to this recipient (Microsoft 365)
//	                 550 5.7.1 The user or domain that you are sending to (or from) has a policy that prohibited the mail (Google Workspace)
//	auth_failure     SPF, DKIM or DMARC failed, the sender is unauthenticated, SMTP AUTH is required
//	                 550-5.7.26 This mail has been blocked because the sender is unauthenticated. (Gmail)
//	                 550 5.7.509 Access denied, sending domain [example.com] does not pass DMARC verification (Outlook.com)
//	                 501 5.0.2 Mail rejected. DMARC check failed. (Orange)
//	rate_limited     too many connections, messages or recipients; throttling; volume deferrals
//	                 421-4.7.28 Our system has detected an unusual rate of unsolicited mail originating from your IP address. (Gmail)
//	                 451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation. (Outlook.com)
//	spam_content     the message itself was judged spam, virus or phishing
//	                 550-5.7.1 Our system has detected that this message is likely unsolicited mail. (Gmail)
//	                 550 spam message rejected. (Mail.ru)
//	policy           any other receiver policy: missing PTR / bad HELO, greylisting, TLS
//	                 required, RFC 5322 compliance, sender address rejected, "not accepted
//	                 for policy reasons"
//	                 554 5.7.9 Message not accepted for policy reasons. (Yahoo)
//	                 550 5.7.0 Reject due to policy restrictions. (GMX, web.de)
//	                 550-5.7.25 The IP address sending this message does not have a PTR record setup (Gmail)
//	relay_denied     the server refuses to relay for this sender
//	                 554 5.7.1 <user@example.org>: Relay access denied
//	message_too_big  the message exceeds a size limit
//	                 552-5.3.4 Your message exceeded Google's message size limits. (Gmail)
//	network          no usable answer: timeouts, refused or lost connections, TLS failures,
//	                 mail loops, queue lifetime expired
//	                 connect to mx.example.com[192.0.2.1]:25: Connection timed out (Postfix)
//	other            a failure none of the above describes (server errors, protocol errors)
//	                 451 4.3.0 Mail server temporarily rejected message.
//
// Greylisting is "policy", not "rate_limited": it is a deliberate
// first-contact deferral, not a volume limit. A refusal for poor IP or
// domain reputation is "blocklisted" unless the receiver says it is
// throttling ("rate limited due to IP reputation" is "rate_limited");
// Yahoo's TSS04, although worded as a volume deferral, is Yahoo's
// reputation block of the sending IP and counts as "blocklisted". A
// block the recipient chose ("blocked by user", a mailbox's allowed
// senders) is "recipient_block", never "blocklisted": the detector's
// recipient rules (unwanted, false_blocklist_claim) tell the two apart.
// A "user unknown" for the envelope sender is still "user_unknown"; the
// event's status and fields say which side it concerned.
//
// # Method
//
// The reply text is lower-cased once (ASCII), its white space collapsed,
// and the continuation prefixes of multi-line replies ("550-5.1.1 ")
// dropped. One pass of an Aho-Corasick automaton over that text finds
// every phrase of the tables in rules.go; the phrase group listed first
// wins, so the tables go from the most specific wording to the most
// generic. When no distinctive phrase matches, the enhanced status code
// (RFC 3463 and the IANA registry, e.g. x.1.1, x.2.2, x.7.26) decides,
// then generic refusal words, then the basic reply code.
//
// The phrase tables were written from the public wording of Gmail,
// Outlook.com/Microsoft 365, Yahoo, GMX/web.de, T-Online, Orange, Free,
// iCloud, Mail.ru, Comcast and AT&T, and checked against sisimai's
// labelled bounce diagnostics, KumoMTA's and ZoneMTA's bounce rules (see
// the corpus tests, which report the agreement per reason).
package classify
