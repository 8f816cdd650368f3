package parse

import (
	"fmt"
	"time"
)

// The Format values.
const (
	FormatAuto    = ""        // detect per line: Exim mainlog framing, or the syslog program name
	FormatPostfix = "postfix" // only Postfix lines are accepted
	FormatExim    = "exim"    // only Exim lines are accepted
)

// Defaults.
const (
	DefaultPendingTTL = 24 * time.Hour
	DefaultMaxPending = 1_000_000
	DefaultMaxLineLen = 16 << 10
)

// Options configure a Parser. The zero value is usable.
type Options struct {
	// Format is "postfix", "exim" or "" (auto-detect per line). With a
	// fixed format, lines of the other MTA are rejected as unknown_program.
	Format string
	// Host is the host name given to lines that carry none (Exim mainlog,
	// RFC 5424 with a nil HOSTNAME). Default "".
	Host string
	// Now is the reference clock for the year of syslog timestamps that
	// have none: a line gets the latest year that does not put it more than
	// 24 h after Now (so a "Dec 31" line read on Jan 1 belongs to last
	// year). Called at most once per distinct timestamp second. Default
	// time.Now.
	Now func() time.Time
	// Location is the zone of timestamps without an offset (classic syslog,
	// Exim mainlog). Default UTC.
	Location *time.Location
	// PendingTTL is how long, in event time, a half-joined message waits
	// for its next line before Expire gives up on it. Default 24 h.
	PendingTTL time.Duration
	// MaxPending bounds the number of in-flight messages; beyond it the
	// least recently seen message is evicted (and emitted as Expire would).
	// Default 1,000,000 (roughly 300 MB).
	MaxPending int
	// MaxLineLen is the longest line parsed, in bytes. Longer lines are cut,
	// parsed, and reported as truncated. Default 16 KiB.
	MaxLineLen int
	// IgnoreOtherPrograms makes Feed return nil (instead of an
	// unknown_program LineError) for well-framed lines of programs other
	// than Postfix and Exim (amavis, dovecot, opendkim...). They are counted
	// in Stats either way.
	IgnoreOtherPrograms bool
	// ReuseEvents makes every event passed to emit valid only until emit
	// returns: the Parser reuses one DeliveryEvent, and its strings may be
	// views of the line being fed. For a caller that encodes each event at
	// once (ingest parse, the Kafka producer) it saves an allocation and a
	// copy per event. Default false: emit may keep the events.
	ReuseEvents bool
}

func (o *Options) setDefaults() error {
	switch o.Format {
	case FormatAuto, FormatPostfix, FormatExim:
	default:
		return fmt.Errorf("parse options: format %q: want %q, %q or empty", o.Format, FormatPostfix, FormatExim)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.PendingTTL < 0 || o.MaxPending < 0 || o.MaxLineLen < 0 {
		return fmt.Errorf("parse options: negative PendingTTL, MaxPending or MaxLineLen")
	}
	if o.PendingTTL == 0 {
		o.PendingTTL = DefaultPendingTTL
	}
	if o.MaxPending == 0 {
		o.MaxPending = DefaultMaxPending
	}
	if o.MaxLineLen == 0 {
		o.MaxLineLen = DefaultMaxLineLen
	}
	return nil
}
