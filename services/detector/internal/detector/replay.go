package detector

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// MaxLineLen bounds one JSON line of replay input; longer lines are
// reported as invalid and skipped.
const MaxLineLen = 1 << 20

// maxReported is how many invalid lines Replay describes on stderr before
// it only counts them.
const maxReported = 100

// ReplayOptions configure Replay.
type ReplayOptions struct {
	// Inputs are the files to read in order, as one stream; "-" (or no
	// input at all) reads Stdin.
	Inputs []string
	Stdin  io.Reader
	// Stdout receives the output as JSON lines.
	Stdout io.Writer
	// Stderr receives the invalid lines ("FILE:LINE: reason") and a summary.
	Stderr io.Writer
	// Bans writes the ban records (as the bans topic would receive them,
	// oldest first; the last one per subject wins) instead of the verdicts.
	Bans bool
	// Now is the wall clock for the future-event check; nil means time.Now.
	Now func() time.Time
}

// ReplayStats count what a replay read and wrote.
type ReplayStats struct {
	Lines      int // non-blank input lines
	Events     int // lines that were valid events, repeats included
	Duplicates int // of Events, repeats of an event id already processed, ignored
	Invalid    int // lines that failed to decode or validate, or came from the future
	Verdicts   int
	Bans       int
}

// Replay runs the rules over event JSON lines in event time, without Kafka,
// and writes verdicts (or bans) as JSON lines. The output order is the
// input order of the events that caused them, so the same input always
// gives the same bytes. Repeats of an event id already processed are
// ignored (and counted), as in `detector run`, within the same bounds.
// Invalid lines are reported and counted, never fatal; only I/O errors are.
func Replay(ctx context.Context, cfg Config, opts ReplayOptions) (ReplayStats, error) {
	var st ReplayStats
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	proc, err := NewPipeline(cfg, Options{Now: now})
	if err != nil {
		return st, err
	}
	w := bufio.NewWriterSize(opts.Stdout, 64<<10)
	inputs := opts.Inputs
	if len(inputs) == 0 {
		inputs = []string{"-"}
	}
	rep := &reporter{w: opts.Stderr}
	var out Output
	for _, name := range inputs {
		if err := replayOne(ctx, name, opts, proc, &out, w, rep, &st); err != nil {
			return st, err
		}
	}
	if err := w.Flush(); err != nil {
		return st, fmt.Errorf("write output: %w", err)
	}
	if rep.n > maxReported {
		rep.printf("%d more invalid lines not shown\n", rep.n-maxReported)
	}
	rep.printf("replay: %d lines, %d events (%d duplicates ignored), %d invalid, %d verdicts, %d bans\n", st.Lines, st.Events, st.Duplicates, st.Invalid, st.Verdicts, st.Bans)
	return st, nil
}

func replayOne(ctx context.Context, name string, opts ReplayOptions, proc *Pipeline, out *Output, w *bufio.Writer, rep *reporter, st *ReplayStats) error {
	var r io.Reader
	label := name
	if name == "-" {
		if opts.Stdin == nil {
			return errors.New("read stdin: no standard input")
		}
		r, label = opts.Stdin, "<stdin>"
	} else {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("open input: %w", err)
		}
		defer f.Close()
		r = f
	}
	lr := NewLineReader(r, MaxLineLen)
	for {
		line, n, err := lr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, ErrLineTooLong) {
			return fmt.Errorf("read %s: %w", label, err)
		}
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err == nil && len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		st.Lines++
		processed := false
		if err == nil {
			var ev *event.DeliveryEvent
			ev, err = event.UnmarshalEvent(line)
			if err == nil {
				out.Reset()
				processed, err = proc.Process(ev, out)
			}
		}
		if err != nil {
			st.Invalid++
			rep.invalid(label, n, err)
			continue
		}
		st.Events++
		if !processed {
			st.Duplicates++
			continue
		}
		if err := writeOutput(w, out, opts.Bans, st); err != nil {
			return err
		}
	}
}

func writeOutput(w *bufio.Writer, out *Output, bans bool, st *ReplayStats) error {
	st.Verdicts += len(out.Verdicts)
	st.Bans += len(out.Bans)
	if bans {
		for i := range out.Bans {
			b, err := event.MarshalBan(&out.Bans[i])
			if err != nil {
				return fmt.Errorf("encode ban: %w", err)
			}
			if err := writeLine(w, b); err != nil {
				return err
			}
		}
		return nil
	}
	for i := range out.Verdicts {
		b, err := event.MarshalVerdict(&out.Verdicts[i])
		if err != nil {
			return fmt.Errorf("encode verdict: %w", err)
		}
		if err := writeLine(w, b); err != nil {
			return err
		}
	}
	return nil
}

func writeLine(w *bufio.Writer, b []byte) error {
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	if err := w.WriteByte('\n'); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// reporter writes invalid-line reports, the first maxReported of them.
type reporter struct {
	w   io.Writer
	n   int
	err error // first write error; reports are best effort
}

func (r *reporter) invalid(file string, line int, err error) {
	r.n++
	if r.n <= maxReported {
		r.printf("%s:%d: %v\n", file, line, err)
	}
}

func (r *reporter) printf(format string, args ...any) {
	if r.w == nil || r.err != nil {
		return
	}
	_, r.err = fmt.Fprintf(r.w, format, args...)
}

// LineReader splits input into lines of at most a given length, without
// the "\n" or "\r\n" ending; the last line may lack an ending.
type LineReader struct {
	r    *bufio.Reader
	buf  []byte
	max  int
	line int
}

// NewLineReader reads lines of at most max bytes from r.
func NewLineReader(r io.Reader, max int) *LineReader {
	return &LineReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

// Next returns the next line and its 1-based number. The line is valid
// until the next call. At the end it returns io.EOF; for a line longer than
// the limit it returns ErrLineTooLong with the line's number, and the next
// call goes on after it.
func (l *LineReader) Next() ([]byte, int, error) {
	l.buf = l.buf[:0]
	tooLong := false
	for {
		frag, err := l.r.ReadSlice('\n')
		if !tooLong {
			if len(l.buf)+len(frag) > l.max+2 { // +2: room for "\r\n"
				tooLong = true
				l.buf = l.buf[:0]
			} else {
				l.buf = append(l.buf, frag...)
			}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			if len(l.buf) == 0 && !tooLong {
				return nil, l.line, io.EOF
			}
		case err != nil:
			return nil, l.line, err
		}
		l.line++
		line := bytes.TrimSuffix(bytes.TrimSuffix(l.buf, []byte("\n")), []byte("\r"))
		if tooLong || len(line) > l.max {
			return nil, l.line, fmt.Errorf("%w: more than %d bytes", ErrLineTooLong, l.max)
		}
		return line, l.line, nil
	}
}

// ReplayFlags prepares replay's arguments for config.Load: it takes out
// replay's own flag (--bans, also -bans, --bans=true or false) and moves
// --config and --set (with their values) ahead of the file names, so flags
// may follow files as in "detector replay events.jsonl --bans --set k=v".
// Everything after a "--" terminator is left alone, as file names.
func ReplayFlags(args []string) (rest []string, bans bool) {
	var flags, files []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			files = append(files, args[i:]...)
			break
		}
		name, _, hasValue := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-"), "=")
		switch {
		case !strings.HasPrefix(a, "-") || a == "-":
			files = append(files, a)
		case name == "bans":
			bans = a != "--bans=false" && a != "-bans=false"
		case (name == "config" || name == "set") && !hasValue && i+1 < len(args):
			flags = append(flags, a, args[i+1])
			i++
		default:
			flags = append(flags, a)
		}
	}
	return append(flags, files...), bans
}
