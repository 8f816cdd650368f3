// Package event is mxwarden's public record schema: the DeliveryEvent that
// ingest produces to mail.events, and the Verdict and Ban that the detector
// produces to mail.verdicts and mail.bans.
//
// Encoding. Every record travels through Kafka as one JSON object (UTF-8, no
// trailing newline) that carries its schema version in "v". The same JSON form
// is what the offline modes read and write as JSON lines, so a record can be
// piped from `ingest parse` to `detector replay` to `enforcer render`.
// Field names are a public contract: fields may be added, the documented ones
// are never renamed or removed. Decoders accept records without "v" as
// version 1 and refuse versions newer than they know (ErrUnsupportedVersion),
// so an old consumer never misreads a new record.
//
// Times are RFC 3339 in UTC. An empty "expires" means "never".
//
// The DeliveryEvent, one per recipient attempt, has a hand-written codec
// (codec.go): AppendEvent and MarshalEvent write exactly the bytes
// json.Marshal writes for it, DecodeEvent and UnmarshalEvent accept and
// refuse exactly what json.Unmarshal does (anything they do not handle
// themselves goes to encoding/json), several times faster and with no
// allocation beyond the strings kept. The differential tests and fuzz
// targets in codec_test.go and codec_fuzz_test.go hold them to it.
//
// Hostile input. Addresses and subjects come from the outside world (log
// lines written by remote clients). Validate refuses any record whose
// addresses hold control characters, white space or are longer than
// MaxAddressLen, so nothing that passed Validate can inject a line into an
// MTA map file or a policy answer. Format characters (bidi overrides such
// as U+202E) are refused too, so a map never displays other than it reads.
package event
