package event

// Reason is one class of the reply taxonomy: what a remote (or local) MTA's
// answer to one recipient attempt means. ingest assigns it (its classify
// package), the detector's rules count by it, history stores it. The empty
// Reason means a successful delivery. Values are stable: they are written
// into every DeliveryEvent and used as metric label values.
type Reason string

// The taxonomy.
const (
	ReasonNone           Reason = ""                // successful delivery (2xx, or DSN 2.x.x)
	ReasonUserUnknown    Reason = "user_unknown"    // mailbox does not exist, disabled, moved
	ReasonMailboxFull    Reason = "mailbox_full"    // over quota, out of storage
	ReasonHostNotFound   Reason = "host_not_found"  // domain/host does not exist, no MX, null MX, unroutable
	ReasonBlocklisted    Reason = "blocklisted"     // the platform's sending IP or domain on a DNSBL or a provider's reputation list (Spamhaus, S3150, TSS04/BL21)
	ReasonRecipientBlock Reason = "recipient_block" // the recipient itself refuses this sender: "blocked by user", "rejected by recipient's policy", sender on the recipient's block list
	ReasonAuthFailure    Reason = "auth_failure"    // SPF, DKIM, DMARC, unauthenticated sender, SMTP AUTH required
	ReasonRateLimited    Reason = "rate_limited"    // too many connections/messages/recipients, throttling, volume deferrals
	ReasonSpamContent    Reason = "spam_content"    // message content judged spam, virus, phishing
	ReasonPolicy         Reason = "policy"          // other receiver policy: PTR/HELO checks, greylisting, TLS required, RFC compliance
	ReasonRelayDenied    Reason = "relay_denied"    // relaying denied
	ReasonMessageTooBig  Reason = "message_too_big" // message exceeds a size limit
	ReasonNetwork        Reason = "network"         // timeouts, refused/lost connections, TLS failures, loops, expiry
	ReasonOther          Reason = "other"           // a failure that fits none of the above
)

// Reasons lists every non-empty Reason, in documentation order. Useful to
// pre-create metric series.
func Reasons() []Reason {
	return []Reason{
		ReasonUserUnknown, ReasonMailboxFull, ReasonHostNotFound, ReasonBlocklisted, ReasonRecipientBlock,
		ReasonAuthFailure, ReasonRateLimited, ReasonSpamContent, ReasonPolicy, ReasonRelayDenied,
		ReasonMessageTooBig, ReasonNetwork, ReasonOther,
	}
}

// Valid reports whether r is a documented reason (including ReasonNone).
func (r Reason) Valid() bool {
	switch r {
	case ReasonNone, ReasonUserUnknown, ReasonMailboxFull, ReasonHostNotFound, ReasonBlocklisted,
		ReasonRecipientBlock, ReasonAuthFailure, ReasonRateLimited, ReasonSpamContent, ReasonPolicy,
		ReasonRelayDenied, ReasonMessageTooBig, ReasonNetwork, ReasonOther:
		return true
	}
	return false
}
