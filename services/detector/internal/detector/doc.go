// Package detector wires the detector service: configuration, the
// per-partition Processor (one stage's rules over the state tables, with
// the clock, deduplication, allowlist, ban ledger, shadow mode and verdict
// building), `detector run` (Service: a consumer group on mail.events,
// one Kafka transaction per poll holding the verdicts, bans, dead letters,
// state changelog and offsets) and `detector replay` (Pipeline: every
// stage over JSON lines, no Kafka).
//
// Data flow, for one event record:
//
//	record ──UnmarshalEvent──► Processor.Process ──► rules (Filter, Update, Threshold on state.Table records)
//	   │ (refused: dead letter)      │                         │ crossing
//	   ▼                             │      allowlist ─► ban.Ledger (silence, TTL, escalation) ─► verdict
//	mail.deadletter                  ▼                                                          │
//	                    Processor.Flush ─► <group>.state (changelog)      mail.verdicts, mail.bans ◄┘
//
// Everything of one poll is produced in one transaction with the poll's
// offsets; a partition's state is restored from its changelog partition
// when its records first reach a member (see Service).
//
// Determinism: a Processor's output depends only on the order of its input
// (event time, never the wall clock, except to refuse events from the
// future), and each key's windows run on the key's own newest event, so a
// replay, a restore, or another partitioning reproduces its verdicts and
// their ids.
package detector
