package detector

import "errors"

var (
	// ErrFutureEvent is returned by Processor.Process for an event whose
	// time is further ahead of the wall clock than max_future_skew.
	ErrFutureEvent = errors.New("event time too far in the future")
	// ErrLateEvent is returned by Processor.Process for an event older
	// than every window by more than DedupSlack (an ancient timestamp).
	ErrLateEvent = errors.New("event time too far in the past")
	// ErrUnknownCommand is returned for a subcommand the detector does not have.
	ErrUnknownCommand = errors.New("unknown command")
	// ErrLineTooLong is returned by LineReader.Next for a line longer than
	// its limit; the line is skipped and reading can go on.
	ErrLineTooLong = errors.New("line too long")
)
