package event

// Kafka record headers of operator changes. The enforcer's API sets them on
// every record it produces to the bans and allowlist topics (tombstones
// included, which carry no value), so history can tell who made a change
// and why.
const (
	// HeaderActor names who made the change (an API token's name).
	HeaderActor = "mxwarden-actor"
	// HeaderChangeReason is the operator's reason for the change.
	HeaderChangeReason = "mxwarden-change-reason"
	// HeaderChange is what the record does: "ban", "unban", "allow" or "disallow".
	HeaderChange = "mxwarden-change"
)
