package api

import "errors"

var (
	// ErrNotFound: no ban or allowlist entry under the key.
	ErrNotFound = errors.New("not found")
	// ErrInvalid wraps every refusal of a request's content (HTTP 400).
	ErrInvalid = errors.New("invalid request")
	// ErrUnavailable: the change could not be produced to Kafka (HTTP 503);
	// nothing was applied.
	ErrUnavailable = errors.New("kafka unavailable")
	// ErrUnauthorized: no token or an unknown one (HTTP 401).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrForbidden: a read-only token asked for a change (HTTP 403).
	ErrForbidden = errors.New("forbidden")
)
