// Package detector wires the detector service: configuration, the
// per-partition Processor (rules plus ban ledger), `detector run` (Service:
// consumer group on mail.events, producing to mail.verdicts and mail.bans)
// and `detector replay` (the same processing over JSON lines, no Kafka).
//
// Data flow, for one event:
//
//	record ──UnmarshalEvent──► Processor.Process ──► rules (window state) ──► verdicts
//	   │ (fails: dead letter)        │                                          │
//	   ▼                             └── ban.Ledger: suppress repeats, escalate ◄┘
//	mail.deadletter                                      │
//	                                   verdict ──► mail.verdicts (key kind:subject)
//	                                   ban     ──► mail.bans     (key kind:subject)
//
// Process first skips an event whose id its partition already processed
// (package dedup): delivery into mail.events is at least once.
//
// Determinism: a Processor's output depends only on the order of its input
// (event time, never the wall clock, except to refuse events from the
// future), so a replay of a partition's events reproduces its verdicts and
// their ids.
//
// Limits of this first version: state is in memory only (a restart or a
// rebalance starts the moved partitions empty, from the committed offsets;
// a changelog or checkpoint is a later issue), and it is per partition of
// mail.events (keyed by account), so a sender address used by several
// accounts is counted separately in each partition that sees it.
package detector
