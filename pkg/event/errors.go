package event

import "errors"

var (
	// ErrUnsupportedVersion is returned by the decoders for a record whose
	// schema version is newer than this build understands.
	ErrUnsupportedVersion = errors.New("unsupported schema version")
	// ErrInvalid wraps every validation failure, so callers can count
	// rejected records with errors.Is without parsing messages.
	ErrInvalid = errors.New("invalid record")
	// ErrDecode is wrapped (together with ErrInvalid) when a record is not
	// the JSON it should be, as opposed to JSON that fails validation.
	ErrDecode = errors.New("undecodable record")
)
