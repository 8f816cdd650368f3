// Package state is the detector's per-key state: one Table per key kind
// (sender, account, ...) and partition, holding for each key the slots
// every rule on that kind declared on the kind's Layout: windowed
// counters, distinct counts, content fingerprints, inter-arrival
// statistics and event-id marks (see package rules, Slots).
//
// Time is event time: Touch and Advance take the event's timestamp, the
// table's watermark is the newest one seen, and a key's windows are
// evaluated at the key's own newest event. Buckets are multiples of one
// base width (state.bucket_width) so every window rotates on the same
// clock; a window is kept in at most MaxRing buckets.
//
// Memory. A key costs one 8-byte entry in an open-addressing index (load
// 3/8 to 3/4), its string, a 40-byte slot and its counters (4 bytes each,
// plus 8 per block for its head bucket); the other slots are allocated on
// first use. Slots and counters live in pages of 1024 keys, so a million
// keys are a few thousand objects for the collector and growing never
// copies. A key untouched for the layout's longest window is evicted when
// the watermark enters a new bucket (one pass over the slots per bucket
// of event time).
//
// A Table is not safe for concurrent use: the detector keeps one per key
// kind and partition, driven by that partition's consumer goroutine.
package state
