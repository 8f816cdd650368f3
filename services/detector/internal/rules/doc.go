// Package rules holds the detections: each Rule reads DeliveryEvents in
// event time, keeps its per-subject counters in a window.Engine, and emits
// a Verdict when a subject crosses the rule's thresholds.
//
// A rule is deterministic: the same events in the same order give the same
// verdicts, ids included (see VerdictID), so a replay reproduces a live
// run. Rules never read the wall clock; their time is the watermark of the
// events they see.
//
// Firing once. While a subject's previous verdict from the same rule is in
// force (its ban, or for a shadow rule the ban it would have made, has not
// expired in event time), the rule asks its Gate and stays silent; the gate
// (the detector's ban ledger) counts these repeats. Escalation of repeat
// offenders is the ledger's job, not the rule's.
//
// Adding a rule: implement Rule, give it a config section with Enabled and
// Shadow (see InvalidRecipientsConfig), add the section to Config and build
// it in New, in a fixed position so verdict order stays deterministic.
package rules
