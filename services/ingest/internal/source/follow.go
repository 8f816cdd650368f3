// Package source reads log lines from the outside world: a followed file
// (tail -F semantics) for now, with a checkpoint of the read position.
package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Line is one log line and where it came from.
type Line struct {
	// Data is the line without its newline. It is only valid until the
	// next call to Next.
	Data []byte
	// File identifies the file the line was read from: "<dev>-<inode>",
	// with ".<n>" appended after the n-th truncation (copytruncate), since
	// offsets then start again at 0 in the same inode.
	File string
	// Offset is the byte offset of the line's first byte in that file.
	Offset int64
	// End is the offset just after the line's newline: where to resume.
	End int64
	// Truncated is set when the line was longer than the maximum and cut.
	Truncated bool
}

// Position is a resumable read position.
type Position struct {
	Path   string `json:"path"`
	File   string `json:"file"` // "<dev>-<inode>[.<gen>]" of the file the offset belongs to
	Offset int64  `json:"offset"`
	// Head fingerprints the file's first HeadLen bytes (FNV-1a 64, hex),
	// so a file truncated and written past the offset while we were away
	// (copytruncate during a restart) is recognised as new content.
	Head    string `json:"head,omitempty"`
	HeadLen int64  `json:"head_len,omitempty"`
}

// headMax is how many leading bytes the head fingerprint covers.
const headMax = 1024

// Follower follows one file like `tail -F`: it reads what is there, waits
// for more, and notices rename rotation (a new file at the path: the old
// one is drained first), copytruncate (the file shrinks: read from 0) and
// a file that disappears and comes back.
//
// Follower is not safe for concurrent use.
type Follower struct {
	path    string
	maxLine int
	poll    time.Duration

	f      *os.File
	id     string // "<dev>-<inode>", plus ".<gen>" after a truncation
	base   string // "<dev>-<inode>"
	gen    int    // how often this file was truncated (copytruncate) while followed
	r      *bufio.Reader
	offset int64 // offset in f of the first byte of the line being read
	buf    []byte
	// partial counts the bytes of the line being read consumed so far,
	// including those dropped from an overlong line.
	partial int64
	// head and headLen fingerprint the current file's first bytes (see
	// Position.Head); headLen grows up to headMax as the file does.
	head    string
	headLen int64
	// resume is the checkpointed position to seek to on first open.
	resume *Position
}

// FollowerOptions configure a Follower.
type FollowerOptions struct {
	// MaxLine is the longest line kept; longer lines are cut and flagged.
	// Default 16 KiB.
	MaxLine int
	// Poll is how often the file is checked for new data and rotation.
	// Default 100ms.
	Poll time.Duration
	// Resume, when set and still naming the file at path, is where reading
	// starts. A different file at the path means it rotated while we were
	// away: the new file is read from its start.
	Resume *Position
}

// NewFollower follows path.
func NewFollower(path string, opts FollowerOptions) *Follower {
	if opts.MaxLine <= 0 {
		opts.MaxLine = 16 << 10
	}
	if opts.Poll <= 0 {
		opts.Poll = 100 * time.Millisecond
	}
	return &Follower{path: path, maxLine: opts.MaxLine, poll: opts.Poll, resume: opts.Resume}
}

// ErrNoData is returned by TryNext when no complete line is available now.
var ErrNoData = errors.New("no complete line available")

// Next blocks until a line is available or ctx ends.
func (fl *Follower) Next(ctx context.Context) (Line, error) {
	for {
		l, err := fl.TryNext()
		if !errors.Is(err, ErrNoData) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return Line{}, ctx.Err()
		case <-time.After(fl.poll):
		}
	}
}

// TryNext returns the next complete line, or ErrNoData when there is none
// yet. A partial last line (no newline yet) is held back until completed.
func (fl *Follower) TryNext() (Line, error) {
	if fl.f == nil {
		if err := fl.open(); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return Line{}, ErrNoData
			}
			return Line{}, err
		}
	}
	l, err := fl.readLine()
	if err == nil {
		return l, nil
	}
	if !errors.Is(err, ErrNoData) {
		return Line{}, err
	}
	// At the end of what f holds: check for rotation or truncation.
	switched, err := fl.checkRotation()
	if err != nil {
		return Line{}, err
	}
	if switched {
		return fl.readLine()
	}
	return Line{}, ErrNoData
}

// Position returns where reading would resume after the last line returned.
func (fl *Follower) Position() Position {
	if fl.f != nil && fl.headLen < headMax && fl.offset > fl.headLen {
		if h, n, err := fingerprint(fl.f, min(fl.offset, headMax)); err == nil {
			fl.head, fl.headLen = h, n
		}
	}
	return Position{Path: fl.path, File: fl.id, Offset: fl.offset, Head: fl.head, HeadLen: fl.headLen}
}

// fingerprint hashes the first n bytes of f (read with ReadAt, so the
// read position is untouched).
func fingerprint(f *os.File, n int64) (string, int64, error) {
	buf := make([]byte, n)
	got, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", 0, err
	}
	h := fnv.New64a()
	h.Write(buf[:got])
	return fmt.Sprintf("%016x", h.Sum64()), int64(got), nil
}

// findByID looks in dir for the file whose identity is id: where a
// rotated file went (mail.log.1, mail.log-20261126...) while we were away.
func findByID(dir, id string) (string, bool) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", false
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		st, err := e.Info()
		if err == nil && FileID(st) == id {
			return filepath.Join(dir, e.Name()), true
		}
	}
	return "", false
}

// Close releases the file.
func (fl *Follower) Close() error {
	if fl.f == nil {
		return nil
	}
	err := fl.f.Close()
	fl.f = nil
	return err
}

func (fl *Follower) open() error {
	path := fl.path
	if r := fl.resume; r != nil {
		// Rotated while we were away: finish the rotated file first, from
		// the saved offset; at its end checkRotation moves on to the file
		// now at the path.
		if base, _ := splitID(r.File); !fl.pathHasID(base) {
			if p, ok := findByID(filepath.Dir(fl.path), base); ok {
				path = p
			}
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	id, err := fileID(f)
	if err != nil {
		f.Close()
		return err
	}
	fl.f, fl.base, fl.gen, fl.offset, fl.partial = f, id, 0, 0, 0
	fl.head, fl.headLen = "", 0
	fl.buf = fl.buf[:0]
	if r := fl.resume; r != nil {
		if base, gen := splitID(r.File); base == id {
			fl.gen = gen
			st, err := f.Stat()
			same := err == nil && st.Size() >= r.Offset
			if same && r.HeadLen > 0 {
				h, n, err := fingerprint(f, r.HeadLen)
				same = err == nil && n == r.HeadLen && h == r.Head
			}
			if same {
				if _, err := f.Seek(r.Offset, io.SeekStart); err != nil {
					f.Close()
					fl.f = nil
					return fmt.Errorf("seek %s: %w", path, err)
				}
				fl.offset = r.Offset
				fl.head, fl.headLen = r.Head, r.HeadLen
			} else {
				fl.gen++ // truncated while we were away: a new generation from 0
			}
		}
	}
	fl.setID()
	fl.resume = nil
	fl.r = bufio.NewReaderSize(f, 256<<10)
	return nil
}

// readLine reads one complete line from the current file. bufio's pending
// partial line is kept in fl.buf between calls, so a line written in two
// pieces is returned whole once its newline arrives.
func (fl *Follower) readLine() (Line, error) {
	for {
		chunk, err := fl.r.ReadSlice('\n')
		if len(chunk) > 0 {
			fl.partial += int64(len(chunk))
			if room := fl.maxLine + 2 - len(fl.buf); room > 0 {
				fl.buf = append(fl.buf, chunk[:min(room, len(chunk))]...)
			}
		}
		if err == nil {
			start := fl.offset
			fl.offset += fl.partial
			fl.partial = 0
			data := bytes.TrimRight(fl.buf, "\r\n")
			truncated := false
			if len(data) > fl.maxLine {
				data, truncated = data[:fl.maxLine], true
			}
			fl.buf = fl.buf[:0]
			return Line{Data: data, File: fl.id, Offset: start, End: fl.offset, Truncated: truncated}, nil
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue // a line longer than the reader's buffer: read on to its end
		}
		if errors.Is(err, io.EOF) {
			return Line{}, ErrNoData
		}
		return Line{}, fmt.Errorf("read %s: %w", fl.path, err)
	}
}

// checkRotation is called at EOF. It reports whether reading switched to
// another file (or restarted after truncation).
func (fl *Follower) checkRotation() (bool, error) {
	st, err := os.Stat(fl.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // gone for now; keep the old file until a new one appears
		}
		return false, fmt.Errorf("stat %s: %w", fl.path, err)
	}
	cur, err := fl.f.Stat()
	if err != nil {
		return false, fmt.Errorf("stat open file: %w", err)
	}
	if !os.SameFile(st, cur) {
		// Renamed away and replaced: the old file is drained (we are at
		// its EOF), so a partial last line there is complete as it is.
		fl.flushPartial()
		fl.f.Close()
		fl.f = nil
		if err := fl.open(); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return false, nil
			}
			return false, err
		}
		return true, nil
	}
	if cur.Size() < fl.offset+fl.partial {
		// copytruncate: the file was emptied and is being written anew.
		if _, err := fl.f.Seek(0, io.SeekStart); err != nil {
			return false, fmt.Errorf("seek %s: %w", fl.path, err)
		}
		fl.r.Reset(fl.f)
		fl.offset = 0
		fl.partial = 0
		fl.head, fl.headLen = "", 0
		// Offsets restart at 0 in the same inode: a new generation keeps
		// the line ids (file identity + offset) unique.
		fl.gen++
		fl.setID()
		fl.buf = fl.buf[:0]
		return true, nil
	}
	return false, nil
}

// flushPartial drops an unterminated tail of a rotated file. Postfix and
// syslog always terminate lines, so this only happens on a crash mid-write.
func (fl *Follower) flushPartial() {
	fl.buf = fl.buf[:0]
	fl.partial = 0
}

// pathHasID reports whether the file at the path has identity id.
func (fl *Follower) pathHasID(id string) bool {
	st, err := os.Stat(fl.path)
	return err == nil && FileID(st) == id
}

func (fl *Follower) setID() {
	fl.id = fl.base
	if fl.gen > 0 {
		fl.id = fl.base + "." + strconv.Itoa(fl.gen)
	}
}

// splitID splits "<dev>-<inode>[.<gen>]".
func splitID(id string) (string, int) {
	base, g, ok := strings.Cut(id, ".")
	if !ok {
		return id, 0
	}
	gen, err := strconv.Atoi(g)
	if err != nil || gen < 0 {
		return id, 0
	}
	return base, gen
}

func fileID(f *os.File) (string, error) {
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return FileID(st), nil
}

// FileID names a file by device and inode ("<dev>-<inode>"), which stay
// the same across a rename, so a rotated file keeps its identity.
func FileID(st os.FileInfo) string {
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("%d-%d", sys.Dev, sys.Ino)
	}
	return "name-" + st.Name()
}
