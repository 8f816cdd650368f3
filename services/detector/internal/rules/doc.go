// Package rules holds the detections. A rule declares what it needs and
// decides when a key crosses its threshold; the processor
// (internal/detector) owns everything rules share: the event-time clock,
// the state tables, deduplication, the allowlist, the ban ledger (silence
// while banned, TTL, escalation), shadow mode and building the verdict.
//
// # How to add a rule
//
//  1. One file, internal/rules/<code>.go, holding:
//
//     - the config section, a struct with koanf tags whose first two fields
//     are `On bool koanf:"enabled"` and `Shadow bool koanf:"shadow"`, every
//     threshold documented with its default and its source in
//     research/thresholds.md;
//     - its Section methods: Default() (the defaults), Enabled(), and
//     Build(env) which validates, declares the slots it needs on
//     env.Layout(kind) and returns the Rule;
//     - the Rule: Info (code, stage, key kind, window, action ban or defer,
//     shadow), Filter (cheap, no state: which inputs it looks at),
//     Update (fold the input into its slots) and Threshold (return a
//     Crossing: evidence, message, first event id; optionally another
//     subject or kind, e.g. the account, or a sender_recipient pair).
//
//  2. One registry line: a field in Config (registry.go), in the order the
//     rule should run. Its koanf tag is the rule's code.
//
//  3. Scenario data: testdata/<code>/<case>/ with events.jsonl (events as
//     `ingest parse` writes them), an optional config.yaml (over the
//     defaults, any detector key), expect.txt (one line per verdict,
//     "rule kind:subject action [shadow] [level=N]"; comments with #; empty
//     means nothing fires) and the goldens, written by
//     `go test ./internal/detector -run TestScenarios -update` (review the
//     diff). At least one case that fires and one look-alike that must not.
//     A case may keep the log lines its events came from (maillog, Postfix or
//     Exim): events.jsonl is then `ingest parse --host mx1 maillog`, and
//     tools/e2e TestScenarioLogs checks that it stays so. Adding a case
//     needs no Go.
//
//  4. The rule's rows in README.md (what it catches, lets through, and why
//     its defaults are what they are) and in services/detector/README.md.
//
// # Stages and key kinds
//
// StageSender reads mail.events (keyed by account): sender, account,
// sender_domain and client_ip state are co-located there. StageRecipient
// reads mail.outcomes (keyed by recipient domain) and mail.queue:
// recipient, recipient_domain and sender_recipient state. Stage.KindAllowed
// enforces this at build time. The processor keys state with KeyOf(kind);
// a rule with another key (a queue sample's host, a derived value)
// implements Keyer.
//
// # Slots (package state)
//
// One table per key kind holds the slots of every rule on that kind, so a
// key costs its string and index entry once. Declare on the layout:
//
//   - Counters(window, n): n windowed counters; the window is cut into at
//     most 12 buckets, each a multiple of state.bucket_width (5m): 1h gives
//     12 x 5m, 24h gives 12 x 2h. Add(h, i, n) counts in the event's
//     bucket; Sums(h, dst) sums the window.
//   - Distinct(window): distinct values (AddDistinct(h, state.Hash(s))),
//     exact up to 64 then HyperLogLog (axiomhq/hyperloglog, p=12, sparse).
//   - Fingerprints(window, n): the n commonest recent content fingerprints
//     (state.Fingerprint(subject) folds digits, dates, hex ids, host names
//     and addresses), with counts.
//   - Regularity(window): count, mean and coefficient of variation of the
//     gaps between a key's events (cron: CV near 0).
//   - Mark(window): the first event id of the current evidence.
//
// Counters live in the key's fixed-size record; the others are allocated
// on first use, so keys that never need them pay 8 bytes. A rule that
// declares nothing is a stateless matcher (a list, a syntax check): its
// Record only carries the key. Lists and sets of domains belong in the
// rule's file or in data files it loads at Build.
//
// # Time
//
// Rules never read the wall clock. A key's windows run on the key's own
// newest event, so a key's verdicts depend only on its own events and
// their order, never on the other keys of the partition: the same input
// gives the same verdicts through 1 or 6 partitions, and on every replay
// (VerdictID is derived from the content).
//
// # Outside answers
//
// A rule that needs DNS (no_mx) or a DNSBL answer (false_blocklist_claim)
// before deciding returns a Crossing with Await set and implements
// Awaiter. The processor starts the lookup through its Resolver (which
// must not block: answers are cached and resolved on other goroutines)
// and keeps processing the partition; when the answer comes back, the
// owner of the partition's goroutine calls Processor.Resolve, which calls
// the rule's Resolved with the key's record. The answer's facts go into
// the evidence.
//
// # Queue samples
//
// mail.queue samples reach the recipient stage as Input.Queue (Processor.ProcessQueue);
// a rule fed by them filters on in.Queue != nil and is a Keyer.
package rules
