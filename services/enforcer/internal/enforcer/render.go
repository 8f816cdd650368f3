package enforcer

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/banset"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/mta"
)

// maxRenderLine bounds one input line of `enforcer render`; longer lines
// are reported and skipped.
const maxRenderLine = 1 << 20

// RenderUsage is the synopsis of the render subcommand.
const RenderUsage = "usage: enforcer render --format postfix-access|exim [--side sender|recipient] [FILE|-]..."

// Render is `enforcer render`: it reads ban JSON lines (event.MarshalBan's
// form) from the files named in args, or stdin when there are none or for
// "-", and writes the map of one side in one format to stdout, through the
// same ban set and Format as the map writers (later lines replace earlier
// ones for the same subject; shadow, flag and expired bans are left out).
// Bad lines are reported on stderr as "FILE:LINE: error" and counted,
// never fatal; so are the bans the format leaves out. A summary line ends
// stderr. Only usage and I/O errors are returned.
func Render(args []string, stdin io.Reader, stdout, stderr io.Writer, now func() time.Time) error {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	formatName := fs.String("format", "", "map format: "+strings.Join(mta.FormatNames, " or "))
	sideName := fs.String("side", string(mta.SideSender), "which map: sender or recipient")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, RenderUsage)
	}
	if *formatName == "" {
		return fmt.Errorf("render: --format is required\n%s", RenderUsage)
	}
	format, err := mta.FormatByName(*formatName)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	side, err := mta.ParseSide(*sideName)
	if err != nil {
		return fmt.Errorf("render: %w", err)
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	set := banset.New(now)
	var read, bad int
	for _, name := range files {
		r, closeFn, err := openInput(name, stdin)
		if err != nil {
			return fmt.Errorf("render: %w", err)
		}
		n, b, err := readBans(r, displayName(name), set, stderr)
		closeFn()
		read += n
		bad += b
		if err != nil {
			return fmt.Errorf("render: read %s: %w", displayName(name), err)
		}
	}
	snap := set.Snapshot()
	out := format.Render(snap.Bans, snap.Allow, side)
	if _, err := stdout.Write(out.Body); err != nil {
		return fmt.Errorf("render: write: %w", err)
	}
	for _, s := range out.Skipped {
		fmt.Fprintf(stderr, "render: skipped %s %s: %s\n", s.Kind, mta.QuoteSubject(s.Subject), s.Reason)
	}
	fmt.Fprintf(stderr, "render: %d bans read, %d bad lines, %d entries written, %d skipped\n", read, bad, out.Entries, len(out.Skipped))
	return nil
}

func displayName(name string) string {
	if name == "-" {
		return "<stdin>"
	}
	return name
}

func openInput(name string, stdin io.Reader) (io.Reader, func(), error) {
	if name == "-" {
		return stdin, func() {}, nil
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, nil, err
	}
	return f, func() { _ = f.Close() }, nil
}

// readBans puts every valid ban line of r into set and reports the bad
// ones. It returns the counts of bans read and bad lines.
func readBans(r io.Reader, name string, set *banset.Set, stderr io.Writer) (read, bad int, err error) {
	br := bufio.NewReader(r)
	for n := 1; ; n++ {
		line, tooLong, err := readLine(br)
		if err != nil && !errors.Is(err, io.EOF) {
			return read, bad, err
		}
		if tooLong {
			fmt.Fprintf(stderr, "%s:%d: line longer than %d bytes\n", name, n, maxRenderLine)
			bad++
		} else if len(bytes.TrimSpace(line)) > 0 {
			b, derr := event.UnmarshalBan(line)
			if derr != nil {
				fmt.Fprintf(stderr, "%s:%d: %v\n", name, n, derr)
				bad++
			} else {
				set.Put(b)
				read++
			}
		}
		if errors.Is(err, io.EOF) {
			return read, bad, nil
		}
	}
}

// readLine returns the next line without its newline. A line longer than
// maxRenderLine is consumed and reported as tooLong instead of returned.
func readLine(br *bufio.Reader) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > maxRenderLine+1 {
			tooLong = true
			line = nil
		} else if !tooLong {
			line = append(line, chunk...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return bytes.TrimSuffix(line, []byte{'\n'}), tooLong, err
	}
}
