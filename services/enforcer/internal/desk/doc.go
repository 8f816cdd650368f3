// Package desk is the abuse desk: web pages, served by the enforcer on
// their own listen address (desk.addr), that tell a blocked sender or
// recipient why and what to fix, and let the platform's staff act.
//
// Public: /lookup?a=<address or domain> answers from the live ban set,
// fetching bans by exact key (the subject as sender or recipient, its
// domain, an IP), so nothing about other customers can show and a lookup
// costs the same with any number of bans. Each rule code has a
// plain-words Reason (Reasons; Generic for unknown codes): what we saw,
// why it matters, what to fix, and which evidence numbers are safe to
// show. The dispute form produces an event.Dispute to
// kafka.topics.disputes and waits for the acknowledgement; the desk reads
// the topic back from its start, so every enforcer's staff view lists the
// same disputes. Lookups, sign-ins and disputes are rate-limited per
// client IP (429, counted).
//
// Staff: /staff, signed in with an operator API token (read or admin);
// every change goes through api.Backend with the token's name as the
// actor, so it is produced to Kafka before it applies. History is an
// optional interface (History); without it the ban record, the allowlist
// and the disputes make the timeline.
//
// Pages are html/template with the templates and one stylesheet
// embedded; no JavaScript; every value from traffic is escaped by the
// template engine and shown through Display, which makes invisible
// characters visible.
package desk
