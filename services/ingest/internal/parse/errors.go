package parse

// The kinds of LineError: a small fixed set, safe as a metric label.
const (
	KindUnparseable    = "unparseable"     // no recognisable framing, or an MTA line too damaged to use
	KindUnknownProgram = "unknown_program" // framing fine, but the program is neither Postfix nor Exim (or not the configured Format)
	KindTruncated      = "truncated"       // the line was longer than MaxLineLen; its head was parsed
	KindBadTimestamp   = "bad_timestamp"   // the timestamp is missing or impossible
	KindHostileField   = "hostile_field"   // an address or token holds white space, control characters, invalid UTF-8 or is overlong
	// KindUnrecognised: a well-framed line of a Postfix or Exim program
	// whose text is of no shape the parser knows: neither a line it reads
	// (delivery, rejection, a line of a message's join state) nor a known
	// non-delivery line (connect, disconnect, TLS, statistics...). Such a
	// line may be a delivery in a format this version does not read, so it
	// is never dropped in silence.
	KindUnrecognised = "unrecognised"
)

// LineError is returned by Feed for a line it rejects. Kind is one of the
// Kind constants. The values Feed returns are shared: do not modify them.
// errors.Is matches two LineErrors of the same Kind, so
// errors.Is(err, ErrHostileField) works.
type LineError struct {
	Kind   string
	Detail string // what was wrong, a static text (never a copy of the line)
}

func (e *LineError) Error() string {
	if e.Detail == "" {
		return "parse line: " + e.Kind
	}
	return "parse line: " + e.Kind + ": " + e.Detail
}

// Is reports whether target is a *LineError of the same Kind.
func (e *LineError) Is(target error) bool {
	t, ok := target.(*LineError)
	return ok && t.Kind == e.Kind
}

// Sentinels to test with errors.Is.
var (
	ErrUnparseable    = &LineError{Kind: KindUnparseable}
	ErrUnknownProgram = &LineError{Kind: KindUnknownProgram}
	ErrTruncated      = &LineError{Kind: KindTruncated}
	ErrBadTimestamp   = &LineError{Kind: KindBadTimestamp}
	ErrHostileField   = &LineError{Kind: KindHostileField}
	ErrUnrecognised   = &LineError{Kind: KindUnrecognised}
)

// The errors Feed returns, allocated once.
var (
	errNoFraming     = &LineError{KindUnparseable, "no syslog, RFC 5424 or Exim framing"}
	errNoTag         = &LineError{KindUnparseable, "no program tag"}
	errBadRFC5424    = &LineError{KindUnparseable, "malformed RFC 5424 header"}
	errEmpty         = &LineError{KindUnparseable, "empty line"}
	errTimestamp     = &LineError{KindBadTimestamp, "unparseable timestamp"}
	errNilTimestamp  = &LineError{KindBadTimestamp, "no timestamp"}
	errProgram       = &LineError{KindUnknownProgram, "not a Postfix or Exim program"}
	errWrongMTA      = &LineError{KindUnknownProgram, "program of another MTA than Options.Format"}
	errTruncated     = &LineError{KindTruncated, "line longer than MaxLineLen"}
	errHostileAddr   = &LineError{KindHostileField, "address fails event.CheckToken"}
	errHostileToken  = &LineError{KindHostileField, "host, queue id, client or login fails event.CheckToken"}
	errHostileMsg    = &LineError{KindHostileField, "message carries a hostile sender or login"}
	errPostfixFields = &LineError{KindUnparseable, "postfix line without its mandatory fields"}
	errEximFields    = &LineError{KindUnparseable, "exim line without its mandatory fields"}
	errEximPart      = &LineError{KindUnparseable, "exim syslog part out of sequence: an earlier part of its line is missing"}
	errPostfixShape  = &LineError{KindUnrecognised, "postfix line of no known shape"}
	errEximShape     = &LineError{KindUnrecognised, "exim line of no known shape"}
	errJSON          = &LineError{KindUnparseable, "malformed journald or container JSON line"}
)
