// Package api is the enforcer's operator API: JSON over HTTP to list,
// search and show bans with their evidence, to ban and unban by hand and
// to add and remove allowlist entries.
//
// Layers. Backend is the API as Go: the abuse desk (a sibling package in
// the enforcer) calls it in-process through Local, or over HTTP through
// Client, which implements the same interface. Handler serves a Backend
// over HTTP with bearer-token authentication. `enforcer ctl` is a Client.
//
// Changes go through Kafka. Local.Ban, Unban, Allow and Disallow produce
// one record to the compacted bans or allowlist topic (a tombstone for
// unban and disallow), keyed "<kind>:<subject>", with the headers
// event.HeaderActor, event.HeaderChangeReason and event.HeaderChange, and
// wait for the broker's acknowledgement; only then do they apply the change
// to the local ban set, so the answer is visible at once here and every
// other enforcer applies the same record. When Kafka does not acknowledge
// in time the change is refused (ErrUnavailable, HTTP 503) and nothing is
// applied.
//
// Authentication. Every request carries "Authorization: Bearer <token>".
// Tokens come from configuration or a file, each with a name (recorded as
// the actor of its changes) and a role: "read" may only read, "admin" may
// change. Tokens are compared in constant time (SHA-256 of both sides,
// every configured token compared). No or an unknown token is 401, a read
// token on a changing route 403, checked before the body is read.
//
// Routes, request and response bodies and status codes are listed in the
// README ("Operator API").
package api
