package ingest

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/ingest/internal/parse"
	"github.com/mxwarden/mxwarden/services/ingest/internal/source"
)

// maxListed is how many line numbers the summary lists per kind.
const maxListed = 5

// ParseCommand implements `ingest parse`: it reads log files, plain or gzip
// (or stdin when none is given or a name is "-"), writes one event JSON line per recipient
// attempt to stdout, and reports each rejected line on stderr with its file
// and line number. Messages still in flight at the end of the input (queued,
// not yet delivered) produce nothing: their outcome is not in the log yet.
// The summary on stderr counts the lines by what became of them, with the
// first line numbers of each kind of rejected line. It fails only on I/O
// errors.
func ParseCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "auto", "log format: auto (Postfix and Exim told apart per line), postfix or exim")
	host := fs.String("host", "", "host name for lines that carry none (default: this machine's)")
	maxLine := fs.Int("max-line", 16<<10, "longest line kept, in bytes")
	quiet := fs.Bool("quiet", false, "do not report each rejected line (the summary still counts them)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pf, err := parseFormat(*format)
	if err != nil {
		return err
	}
	if *host == "" {
		*host, _ = os.Hostname()
	}
	p, err := parse.New(parse.Options{Format: pf, Host: *host, Now: time.Now, MaxLineLen: *maxLine, ReuseEvents: true})
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(stdout, 256<<10)
	var werr error
	emit := func(e *event.DeliveryEvent) {
		// Encoded straight into the writer's free buffer (the parser's
		// timestamps are all within the years the wire form carries).
		b := append(event.AppendEvent(out.AvailableBuffer(), e), '\n')
		if _, err := out.Write(b); err != nil && werr == nil {
			werr = err
		}
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	var lines, other int
	rejected := map[string]*rejectCount{}
	var idBuf []byte
	for _, name := range files {
		var r io.Reader = stdin
		if name != "-" {
			f, err := source.Open(name)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		n := 0
		prefix := *host + ":" + name + ":"
		reject := func(kind string, detail any) {
			rc := rejected[kind]
			if rc == nil {
				rc = &rejectCount{}
				rejected[kind] = rc
			}
			rc.n++
			if len(rc.first) < maxListed {
				rc.first = append(rc.first, name+":"+strconv.Itoa(n))
			}
			if !*quiet {
				fmt.Fprintf(stderr, "%s:%d: %s: %v\n", name, n, kind, detail)
			}
		}
		err := source.Lines(r, *maxLine, func(line []byte, off int64, truncated bool) error {
			n++
			lines++
			if truncated {
				reject(parse.KindTruncated, fmt.Sprintf("line longer than %d bytes", *maxLine))
			}
			// Feed does not retain the id: a view of the reused buffer will do.
			idBuf = strconv.AppendInt(append(idBuf[:0], prefix...), off, 10)
			if err := p.Feed(line, unsafe.String(unsafe.SliceData(idBuf), len(idBuf)), emit); err != nil {
				var le *parse.LineError
				kind := parse.KindUnparseable
				if errors.As(err, &le) {
					kind = le.Kind
				}
				switch kind {
				case parse.KindUnknownProgram:
					other++ // amavis, dovecot... in a shared log: not an error
				case parse.KindTruncated: // reported above
				default:
					reject(kind, err)
				}
			}
			return werr
		})
		if err != nil {
			return fmt.Errorf("read %s line %d: %w", name, n+1, err)
		}
	}
	if err := out.Flush(); err != nil && werr == nil {
		werr = err
	}
	if werr != nil {
		return fmt.Errorf("write events: %w", werr)
	}
	total := 0
	for _, rc := range rejected {
		total += rc.n
	}
	fmt.Fprintf(stderr, "parsed %d lines, %d rejected, %d of other programs, %d messages still in flight\n", lines, total, other, p.Pending())
	for _, kind := range []string{parse.KindUnrecognised, parse.KindUnparseable, parse.KindBadTimestamp, parse.KindHostileField, parse.KindTruncated} {
		if rc := rejected[kind]; rc != nil {
			more := ""
			if rc.n > len(rc.first) {
				more = ", ..."
			}
			fmt.Fprintf(stderr, "  %d %s (%s%s)\n", rc.n, kind, strings.Join(rc.first, ", "), more)
		}
	}
	return nil
}

// rejectCount counts the rejected lines of one kind and keeps the first
// few positions.
type rejectCount struct {
	n     int
	first []string
}

// parseFormat maps the format names of the command line and the
// configuration onto parse.Options.Format.
func parseFormat(f string) (string, error) {
	switch f {
	case "auto", "":
		return parse.FormatAuto, nil
	case parse.FormatPostfix, parse.FormatExim:
		return f, nil
	}
	return "", fmt.Errorf("format %q: want auto, postfix or exim", f)
}
