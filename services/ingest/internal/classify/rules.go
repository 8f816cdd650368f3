package classify

// The phrase tables. Phrases are lower case and matched as substrings of
// the normalised reply (see normalize). Groups are in priority order: when
// phrases of several groups occur in one reply, the earliest group wins,
// so every group must only hold phrases that are specific enough to beat
// every later group. Comments name the provider whose wording a phrase
// comes from when it is not generic.

var strongPhrases = newMatcher([]group{
	// Checks on the client's identity rather than on the recipient: they
	// often say "host not found" or "address rejected", which later groups
	// would misread.
	{reason: Policy, phrases: []string{
		"helo command rejected",
		// Postfix reject_unknown_client_hostname:
		"cannot find your hostname", "cannot find your reverse hostname",
		"reverse dns", "reverse hostname", "reverse lookup", "ptr record", "dns ptr", "no ptr",
		// GMX/web.de: "Bad DNS PTR resource record":
		"ptr resource record",
		"ip name lookup failed", "mismatches client ip", "does not have a ptr",
		"not have a ptr", "rdns", "fcrdns",
		"greylist", "graylist", "grey-list", "gray-list", "grey list", "gray list",
		"tls required", "requires tls", "tls is required", "must use tls", "starttls is required",
		"must issue a starttls", "encryption required", "must encrypt", "require encryption",
		"need fully-qualified", "need fully qualified", "fully-qualified hostname", "fully qualified hostname",
		"improper use of smtp command pipelining", "improper command pipelining",
		"multi-recipient bounce",
		// Message format checks (Gmail says "to reduce the amount of spam ...
		// this message has been blocked" in the same reply).
		"not rfc 5322 compliant", "rfc 5322 compliant", "multiple subject", "multiple addresses in from",
		"messageid header", "message-id header", "missing a valid messageid", "duplicate header",
		"improperly-formatted", "improperly formatted", "protocol violation",
	}},
	// Unambiguous "no such recipient" wordings that also contain words of
	// earlier groups (Domino's "not listed in", Postfix's "... table").
	{reason: UserUnknown, phrases: []string{
		"user unknown in", "not listed in domino", "not listed in public name", "not listed in the directory",
		"email account that you tried to reach does not exist", "recipnotfound", "recipientnotfound",
	}},
	// Provider codes that mean the platform's IP is on the provider's own
	// block list or reputation list, although their texts read like a
	// volume deferral (Yahoo TSS04 "temporarily deferred due to unexpected
	// volume or user complaints"): before RateLimited.
	{reason: Blocklisted, phrases: []string{"[tss04]"}},
	// Throttling and volume-based deferrals. Before the block lists,
	// because Microsoft says "rate limited due to IP reputation" and
	// Gmail "unusual rate of unsolicited mail".
	{reason: RateLimited, phrases: []string{
		"rate limit", "ratelimit", "rate-limit", "rate limited", "unusual rate", "rate of unsolicited",
		// Gmail 4.2.1:
		"receiving mail at a rate", "rate that prevents",
		"sending rate", "message rate", "exceeded the rate", "connection rate", "rate exceeded",
		"too many connections", "too many concurrent", "too many simultaneous", "too many sessions",
		"too many smtp sessions", "maximum number of concurrent", "connection limit", "connections limit",
		"max connections", "maximum connections", "concurrent connections", "concurrent server connections",
		"too many messages", "too many mails", "too many emails", "too many e-mails", "too much mail",
		"too many recipients", "too many rcpt", "sent to too many recipients",
		"throttl", "slow down", "try again slower", "sending too fast", "too fast",
		// QQ:
		"frequency limited", "frequency limit",
		// Yahoo TSS04, GMX:
		"unexpected volume", "excessive volume", "volume of mail", "high volume", "user complaints",
		// Yahoo:
		"temporarily deferred due to", "[gl01]", "[ts01]", "[ts02]", "[ts03]", "[tss03]",
		// Outlook.com:
		"rp-001", "rp-002", "rp-003",
		// T-Online:
		"dyn:t1", "dyn:t2", "rly:b1",
		// Microsoft:
		"receivingrateperm", "receivingrate", "ratelimited",
		"sending quota", "daily sending", "hourly", "per hour", "per day", "daily limit", "daily quota",
		// Orange, Free:
		"trop de connexions", "trop de messages",
		// German providers:
		"zu viele verbindungen",
		"too many errors", "too many invalid recipients",
	}},
	// The recipient itself refuses this sender (its own block list, a
	// per-recipient policy): before Blocklisted, whose generic "block list"
	// would otherwise take these.
	{reason: RecipientBlock, phrases: []string{
		"blocked by user", "blocked by the user", "blocked by recipient", "blocked by the recipient",
		"rejected by recipient", "rejected by the recipient", "refused by recipient", "refused by the recipient",
		"recipient's policy", "recipient's block list", "recipient's blocklist", "recipient's blacklist",
		"recipients block list", "on the recipient's", "sender is blocked by",
		"rejected by this user", "recipient preferences",
		// Microsoft delivery restrictions of a mailbox or group: 5.7.124
		// (allowed senders), 5.7.133 and 5.7.134 (internal senders only):
		"allowed-senders list", "notauthorizedtosend", "sendernotauthenticatedfor", "delivery restriction check failed",
		// Microsoft 5.7.129 (restricted recipient, delivery restrictions):
		"restrictedtorecipientspermission", "not authorized to send to this recipient",
		// Google Workspace recipient-domain policy:
		"has a policy that prohibited the mail",
	}},
	// The sending IP or domain is listed: DNSBLs, provider block lists,
	// reputation blocks.
	{reason: Blocklisted, phrases: []string{
		"blocked using", "blacklist", "black list", "black-list", "blocklist", "block list", "block-list",
		"denylist", "deny list", "dnsbl", "dnsrbl", "dns-bl", "uribl", "surbl", "spamhaus", "spamcop", "sorbs",
		"barracuda", "abuseat", "uceprotect", "spamrats", "mailspike", "invaluement", "ivmsip", "ivmuri",
		"psbl.", "cloudmark", "senderscore", "trend micro rbl", "spfbl",
		"listed at", "listed in", "listed on", "listed by", "is listed", "are listed", "been listed",
		// Gmail, Microsoft, Orange, Cox:
		"reputation", "poor reputation",
		"banned sending ip", "banned ip", "ip banned", "ip blocked", "ip is blocked", "ip address blocked",
		"ip address is blocked", "ip has been blocked", "ip address has been blocked", "blocked ip", "ip address bloc",
		"your ip address has been", "client host blocked", "host blocked",
		// Microsoft 5.7.708:
		"traffic not accepted from this ip",
		// Outlook.com:
		"on our block list", "(s3150)", "(s3140)", "(s3114)",
		// Outlook.com (Hotmail):
		"sc-001", "sc-002", "sc-003", "sc-004", "dy-001", "ou-001",
		// Yahoo:
		"[bl21]", "[bl22]", "[bl23]", "[tss09]", "permanently deferred",
		// T-Online:
		"(bl)", "rtr:bl", "rtr:sc", "rly:bl", "con:b1", "rtr:bb", "rtr:du", "rly:ir",
		// AT&T:
		"_is_blocked", "dnsbl:", "abuse_rbl",
		// Comcast:
		"comcast block", "block for spam",
		// Orange, La Poste:
		"adresse ip source bloquee", "ip source bloquee", "service refused, please try later", "service refuse.",
		// Free:
		"too many spams",
		"dynamic ip", "dynamically-assigned", "dynamically assigned", "dynamic address", "residential ip",
		// policy block lists (PBL):
		"dial-up", "dialup", "end-user ip",
		"not accepting connections", "geoip", "geographical location", "geo-ip",
		"junkmail rejected", "spam source", "known spammer", "spammer list", "identified as spammer", "listed as spammer",
		// Cox, AOL:
		"aup#", "fakemail",
		// Microsoft, Proofpoint:
		"banned sender", "bad ip", "invalid ip for sending", "not allowed to connect", "your access to",
	}},
	{reason: Blocklisted, word: true, phrases: []string{"rbl", "cbl", "bl000000"}},
	{reason: RelayDenied, phrases: []string{
		"relay access denied", "relaying denied", "relay denied", "relay not permitted", "relaying not permitted",
		"relay not allowed", "relaying not allowed", "relaying is not allowed", "unable to relay", "not permitted to relay",
		"not allowed to relay", "isn't allowed to relay", "we do not relay", "does not relay", "not configured to relay",
		"no relaying", "relaying prohibited", "relay prohibited", "cannot relay", "can't relay", "relaying disallowed",
		"relay access", "open relay", "list of allowed rcpthosts", "not in my list of allowed", "relaying to",
		"relaying mail to", "relay is not allowed", "relaying is prohibited",
	}},
	{reason: AuthFailure, word: true, phrases: []string{"spf", "dkim", "dmarc", "arc"}},
	{reason: AuthFailure, phrases: []string{
		"unauthenticated", "not authenticated", "authentication", "authenticate", "auth required",
		"sender policy framework", "openspf", "domainkeys", "sender id", "senderid",
		// Mimecast "Anti-Spoofing", Microsoft spoof detection:
		"spoof",
		"smtp auth", "sasl", "not signed", "signature verification", "signature failed",
		// Microsoft, Gmail:
		"does not pass", "fails to pass",
		"dmarc policy", "domain's dmarc", "per dmarc", "dmarc check", "dmarc verification",
		"is not allowed to send from", "not designated", "not permitted sender",
	}},
	{reason: MailboxFull, phrases: []string{
		"mailbox full", "mailbox is full", "mailbox was full", "mailbox has exceeded", "mailbox size limit",
		"mailbox quota", "mailbox limit", "mailbox exceeds", "mailbox would exceed", "mailbox too large",
		"full mailbox", "mailbox storage", "mail box full", "inbox is full", "inbox full",
		"over quota", "overquota", "over the quota", "quota exceeded", "quotaexceeded", "quota exceed",
		"exceeded quota", "exceeds quota", "quota violation", "quota limit", "exceeded its quota", "quota",
		"exceeded storage", "exceeds storage", "out of storage", "storage space", "storage allocation",
		"insufficient disk space", "not enough space", "not enough storage", "disk full", "disk quota",
		"user is over", "account is full", "account is over", "space has been exceeded",
		// Postfix local with mailbox_size_limit:
		"file too large",
		// Orange, Free:
		"boite pleine", "boite du destinataire pleine", "boîte", "mailbox pleine", "boite aux lettres pleine",
		"postfach voll", "postfach ist voll", "speicherplatz", "casella piena", "casella di posta piena", "buzón lleno",
		"overquotatemp", "overquotaperm",
	}},
	{reason: MessageTooBig, phrases: []string{
		"message too large", "message too big", "message is too large", "message is too big", "message size exceeds",
		"size exceeds", "exceeds the maximum", "exceeds maximum", "exceeded maximum", "exceeded the maximum",
		"message length exceeds", "too large for", "recipsizelimit", "maximum message size", "message size limit",
		"mail size limit", "message exceeded", "message exceeds", "exceeds size limit", "exceeds the size limit",
		"size limit exceeded", "size limit", "message size", "mail too large", "mail is too large", "email is too large",
		"data too large", "too much data", "message too long", "mesg too big", "nachricht zu gross", "message trop",
		"taille du message",
	}},
	{reason: HostNotFound, phrases: []string{
		"host not found", "domain not found", "host or domain name not found", "name service error",
		"no mx", "null mx", "nullmx", "does not accept mail", "doesn't accept mail", "does not receive mail",
		"doesn't receive email", "does not receive email", "not accept any mail", "domain does not exist",
		"domain doesn't exist", "domain name not found", "domain not exist", "no such domain", "unknown domain",
		"invalid domain", "domain is invalid", "domain is not reachable", "domain not reachable", "unrouteable",
		"unroutable", "can't route", "cannot route", "unable to route", "not route", "nxdomain", "host unknown",
		"unknown host", "domain unknown", "domain of sender address", "sender domain must exist", "sender domain does not exist",
		"envelope sender domain must exist", "no a, aaaa, or mx", "has no a, aaaa", "malformed or unexpected name server reply",
		"malformed dns", "dns error", "dns failure", "dns lookup", "unresolvable", "could not be resolved", "cannot resolve",
		"unable to resolve", "not resolve", "find the recipient domain", "recipient domain", "sender domain resolve",
		"domain is not configured", "domaine inexistant", "domain does not have", "no valid mx", "mx record",
		"is not local, and can't route", "domain not found in dns", "unknown mail domain", "no such host",
	}},
	{reason: UserUnknown, phrases: []string{
		"user unknown", "unknown user", "no such user", "no such recipient", "no such mailbox", "no such account",
		"no such person", "no such address", "no such local user", "unknown recipient", "recipient unknown",
		"recipient not found", "recipnotfound", "recipientnotfound", "user not found", "user does not exist",
		"user doesn't exist", "user not exist", "invalid recipient", "invalid mailbox", "mailbox not found",
		"mailbox unavailable", "mailbox does not exist", "mailbox doesn't exist", "mailbox not exist",
		"account does not exist", "account doesn't exist", "address does not exist", "address doesn't exist",
		"recipient does not exist", "recipient address does not exist", "email account that you tried to reach",
		"does not exist", "doesn't exist", "no mailbox", "no mail-box", "no mail box",
		"not our customer", "not our user", "user not local", "not a local user", "doesn't have a", "does not have a",
		"undeliverable address", "not a valid user", "not a valid recipient", "not a valid mailbox", "invalid user",
		"user invalid", "invalid address", "unknown address", "address unknown", "unknown local part",
		"unknown or illegal alias", "bad recipient", "recipient rejected", "unknown email address",
		"mailbox is disabled", "mailbox disabled", "account is disabled", "account disabled", "account has been disabled",
		"disabled recipient", "disabled user", "disableduser", "is disabled", "account is inactive", "inactive",
		"deactivated", "account suspended", "account has been suspended", "is suspended", "currently suspended",
		"mailbox is frozen", "no longer", "has been replaced", "moved", "expired account", "closed account",
		"account closed", "account blocked", "account is blocked", "temporary locked", "temporarily locked",
		"destinataire invalide", "destinataire inconnu", "utilisateur inconnu", "adresse invalide", "compte du destinataire",
		"unbekannt", "existiert nicht", "gibt es nicht", "ungültige", "no existe", "inesistente", "sconosciuto",
		"user reject", "not listed in", "unknown in", "mailbox name not allowed",
	}},
	{reason: SpamContent, phrases: []string{
		"spam", "unsolicited", "junk", "virus", "malware", "malicious", "phishing", "infected", "trojan",
		"suspicious", "content rejected", "content denied", "message content", "content filter", "content policy",
		"contains prohibited", "prohibited attachment", "banned attachment", "attachment", "bulk mail", "bulk email",
		"scored as", "spam score", "high probability", "looks like", "security issue", "security threat",
		// T-Online, Outlook.com:
		"hvu:", "rly:ch", "rtr:ch", "ou-002", "dy-002",
		"content presents", "mail score", "scoring", "message filtered", "filtered", "rejected by filter", "mail content", "blocked content", "contenu",
	}},
	{reason: SpamContent, word: true, phrases: []string{"ube", "uce"}},
	{reason: Network, phrases: []string{
		"timed out", "timeout", "time out", "connection refused", "refused to talk", "network is unreachable",
		"no route to host", "host unreachable", "host is unreachable", "unreachable", "lost connection", "connection reset",
		"connection closed", "connection dropped", "connection lost", "broken pipe", "network error", "network failure",
		"could not connect", "unable to connect", "cannot connect", "can't connect", "failed to connect", "connect to",
		"requests to connect", "too many hops", "hop count", "hops", "mail loop", "forwarding loop", "routing loop",
		"loops back to myself", "loop detected", "loop", "tls", "ssl", "certificate", "handshake", "cipher",
		"message expired", "expired", "retry timeout exceeded", "retry time not reached", "delivery time",
		"delivery temporarily suspended", "transient", "communication failure", "conversation with", "protocol error",
		"server refused", "not responding", "no response", "did not respond", "closing transmission channel",
	}},
	{reason: Policy, phrases: []string{
		"policy", "policies", "administrative prohibition", "not authorized", "unauthorized", "not authorised",
		"rfc 5322", "rfc5322", "rfc 2822", "rfc2822", "rfc 822", "rfc822", "rfc 5321", "not compliant",
		"non-compliant", "noncompliant", "not rfc", "multiple addresses in from", "multiple subject", "duplicate header",
		"header error", "headers too", "messageid", "message-id header", "missing a valid", "8-bit data", "8bit",
		"malformed", "syntax", "sender address rejected", "sender rejected", "client host rejected",
		"data command rejected", "command rejected", "access denied", "recipient preferences", "refused due to",
		"host network not allowed", "not accepted here", "not welcome", "forbidden", "prohibited", "not permitted",
		"not allowed", "banned", "sender verify failed", "verification failed", "verify failed", "callout",
		"sender is not", "sender address is not", "invalid sender", "bad sender", "emetteur invalide", "from address",
		"forwarding", "barred", "restricted",
	}},
})

// weakPhrases are generic refusal words, consulted only when neither the
// strong phrases nor a specific enhanced status code decided.
var weakPhrases = newMatcher([]group{
	{reason: Blocklisted, phrases: []string{"blocked", "bloque", "gesperrt"}},
	{reason: Policy, phrases: []string{"reject", "denied", "refused", "refuse", "not accepted", "declined", "deny"}},
})
