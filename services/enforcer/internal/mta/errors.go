package mta

import "errors"

var (
	// ErrNotConnected is returned by Write on a writer that was not
	// connected, or was closed. Call Connect first.
	ErrNotConnected = errors.New("mta writer not connected")
	// ErrUnknownFormat is returned by FormatByName for a name that is not
	// one of FormatNames.
	ErrUnknownFormat = errors.New("unknown map format")
	// ErrBadCommand is returned by ParseCommand for a template that is not
	// a command line naming {path}.
	ErrBadCommand = errors.New("bad command template")
)
