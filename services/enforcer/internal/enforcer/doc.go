// Package enforcer wires the enforcer service: it materialises the ban set
// from the compacted bans topic and serves it to MTAs through the policy
// server and the map files.
//
// Lifecycle:
//
//	Run ─► http listening (/readyz 503)
//	    ─► consumer: wait for Kafka, create topics, list the bans topic's
//	       end offsets (read_committed), read from the start
//	    ─► caught up with those offsets ─► maps written ─► policy server
//	       listening ─► /readyz 200 ─► Ready() closed
//	    ─► every record applied; maps rewritten on change (debounced) and
//	       at each expiry; bans printed on stdout
//	    ─► ctx cancelled: everything stops, Run returns nil
//
// A restarted enforcer therefore never answers DUNNO, nor writes a map,
// for a ban that was on the topic when it started.
package enforcer
