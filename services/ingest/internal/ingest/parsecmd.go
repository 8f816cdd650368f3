package ingest

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/ingest/internal/parse"
	"github.com/mxwarden/mxwarden/services/ingest/internal/source"
)

// ParseCommand implements `ingest parse`: it reads log files, plain or gzip
// (or stdin when none is given or a name is "-"), writes one event JSON line per recipient
// attempt to stdout, and reports each rejected line on stderr with its file
// and line number. Messages still in flight at the end of the input (queued,
// not yet delivered) produce nothing: their outcome is not in the log yet.
// It fails only on I/O errors.
func ParseCommand(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("parse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "postfix", "log format: postfix or exim")
	host := fs.String("host", "", "host name for lines that carry none (default: this machine's)")
	maxLine := fs.Int("max-line", 16<<10, "longest line kept, in bytes")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *host == "" {
		*host, _ = os.Hostname()
	}
	p, err := parse.New(parse.Options{Format: *format, Host: *host, Now: time.Now, MaxLineLen: *maxLine})
	if err != nil {
		return err
	}
	out := bufio.NewWriterSize(stdout, 256<<10)
	var werr error
	emit := func(e *event.DeliveryEvent) {
		// Encoded into the writer's free buffer: no allocation per event.
		_, err := out.Write(append(event.AppendEvent(out.AvailableBuffer(), e), '\n'))
		if err != nil && werr == nil {
			werr = err
		}
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	var lines, rejected, other int
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
		err := source.Lines(r, *maxLine, func(line []byte, off int64, truncated bool) error {
			n++
			lines++
			if truncated {
				rejected++
				fmt.Fprintf(stderr, "%s:%d: truncated: line longer than %d bytes\n", name, n, *maxLine)
			}
			id := fmt.Sprintf("%s:%s:%d", *host, name, off)
			if err := p.Feed(line, id, emit); err != nil {
				var le *parse.LineError
				kind := "unparseable"
				if errors.As(err, &le) {
					kind = le.Kind
				}
				if kind == parse.KindUnknownProgram {
					other++ // amavis, dovecot... in a shared log: not an error
					return werr
				}
				rejected++
				fmt.Fprintf(stderr, "%s:%d: %s: %v\n", name, n, kind, err)
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
	fmt.Fprintf(stderr, "parsed %d lines, %d rejected, %d of other programs, %d messages still in flight\n", lines, rejected, other, p.Pending())
	return nil
}
