// Package banset holds the enforcer's materialised ban set: the current
// value of every key of the compacted mail.bans topic.
//
// A record with a value puts a ban under its key; a record with a nil value
// (a tombstone) lifts it. Keys are event.BanKey(kind, subject), so a lookup
// by kind and subject is one map access. A stored ban is enforced while
// Enforced reports true: it is not in shadow mode, its action is "ban", and
// it has not expired at the set's clock. Expired bans stay stored (and
// unenforced) until Expire sweeps them.
//
// Readers (the policy server) take a read lock per lookup; writers (the
// Kafka consumer) a write lock per record. Map writers do not poll: they
// Subscribe and rebuild from a Snapshot when notified.
package banset
