package banset

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/enforcer/internal/atomicfile"
)

// Snapshot file format: one JSON header line, the bans (event.MarshalBan's
// form) one per line, the allowlist entries (event.MarshalAllowEntry's
// form) one per line, and one JSON trailer line with the CRC-32C of every
// line between header and trailer. The header's format and version
// identify the file; a newer version is refused (ErrSnapshotVersion), a
// file that does not match its header or trailer is refused whole
// (ErrSnapshotCorrupt): the enforcer then waits for Kafka, as without a
// snapshot.
const (
	SnapshotFormat  = "mxwarden-enforcer-banset"
	SnapshotVersion = 1
	// maxSnapshotLine bounds one line of a snapshot file.
	maxSnapshotLine = 1 << 20
)

var (
	// ErrSnapshotVersion: the file was written by a newer enforcer.
	ErrSnapshotVersion = errors.New("ban set snapshot version not supported")
	// ErrSnapshotCorrupt: the file is not a complete snapshot.
	ErrSnapshotCorrupt = errors.New("ban set snapshot corrupt")
)

// SnapshotHeader is the first line of a snapshot file.
type SnapshotHeader struct {
	Format  string    `json:"format"`
	Version int       `json:"version"`
	Written time.Time `json:"written"`
	// Synced is when the set was last known to hold everything Kafka had
	// (the catch-up finished and records were being applied live).
	Synced    time.Time `json:"synced"`
	Bans      int       `json:"bans"`
	Allowlist int       `json:"allowlist"`
	// Source names where the set came from (the enforcer writes its bans
	// and allowlist topics), so a snapshot of other topics is not loaded.
	Source string `json:"source,omitempty"`
}

type snapshotTrailer struct {
	End    bool   `json:"end"`
	Lines  int    `json:"lines"`
	CRC32C uint32 `json:"crc32c"`
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// SaveSnapshot writes st to path atomically (temporary file in the same
// directory, fsync, rename, fsync of the directory): a crash leaves the
// previous snapshot or the new one, never a mix.
func SaveSnapshot(path string, st State, synced, now time.Time) error {
	return SaveSnapshotSource(path, st, synced, now, "")
}

// SaveSnapshotSource is SaveSnapshot with the header's Source.
func SaveSnapshotSource(path string, st State, synced, now time.Time, source string) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return atomicfile.Write(path, 0o640, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		h := SnapshotHeader{Format: SnapshotFormat, Version: SnapshotVersion, Written: now.UTC(), Synced: synced.UTC(),
			Bans: len(st.Bans), Allowlist: len(st.Allow), Source: source}
		hb, _ := json.Marshal(h)
		w.Write(hb)
		w.WriteByte('\n')
		crc := uint32(0)
		line := func(b []byte) {
			b = append(b, '\n')
			crc = crc32.Update(crc, castagnoli, b)
			w.Write(b)
		}
		for _, b := range st.Bans {
			v, err := event.MarshalBan(b)
			if err != nil {
				return fmt.Errorf("encode ban %s: %w", b.Key(), err)
			}
			line(v)
		}
		for _, a := range st.Allow {
			v, err := event.MarshalAllowEntry(a)
			if err != nil {
				return fmt.Errorf("encode allowlist entry %s: %w", a.Key(), err)
			}
			line(v)
		}
		tb, _ := json.Marshal(snapshotTrailer{End: true, Lines: len(st.Bans) + len(st.Allow), CRC32C: crc})
		w.Write(tb)
		if err := w.WriteByte('\n'); err != nil {
			return err
		}
		return w.Flush()
	})
}

// LoadSnapshot reads a snapshot file written by SaveSnapshot. A missing
// file is an error wrapping fs.ErrNotExist.
func LoadSnapshot(path string) (State, SnapshotHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return State{}, SnapshotHeader{}, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	readLine := func() ([]byte, error) {
		var line []byte
		for {
			chunk, err := r.ReadSlice('\n')
			line = append(line, chunk...)
			if len(line) > maxSnapshotLine {
				return nil, fmt.Errorf("%w: line longer than %d bytes", ErrSnapshotCorrupt, maxSnapshotLine)
			}
			if errors.Is(err, bufio.ErrBufferFull) {
				continue
			}
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("%w: truncated", ErrSnapshotCorrupt)
			}
			return line, err
		}
	}
	hl, err := readLine()
	if err != nil {
		return State{}, SnapshotHeader{}, err
	}
	var h SnapshotHeader
	if err := json.Unmarshal(hl, &h); err != nil || h.Format != SnapshotFormat {
		return State{}, h, fmt.Errorf("%w: not a %s file", ErrSnapshotCorrupt, SnapshotFormat)
	}
	if h.Version > SnapshotVersion || h.Version < 1 {
		return State{}, h, fmt.Errorf("%w: version %d (this enforcer reads %d)", ErrSnapshotVersion, h.Version, SnapshotVersion)
	}
	if h.Bans < 0 || h.Allowlist < 0 {
		return State{}, h, fmt.Errorf("%w: negative counts", ErrSnapshotCorrupt)
	}
	st := State{Bans: make([]*event.Ban, h.Bans), Allow: make([]*event.AllowEntry, h.Allowlist)}
	// Lines are read (and checksummed) here and decoded by one worker per
	// CPU, in chunks; each result goes to its own slot, so order is kept.
	type chunk struct {
		first int
		lines [][]byte
	}
	work := make(chan chunk, 4)
	errs := make(chan error, 1)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range work {
				for j, l := range c.lines {
					i := c.first + j
					var err error
					if i < h.Bans {
						st.Bans[i], err = event.UnmarshalBan(l)
					} else {
						st.Allow[i-h.Bans], err = event.UnmarshalAllowEntry(l)
					}
					if err != nil {
						select {
						case errs <- fmt.Errorf("%w: line %d: %w", ErrSnapshotCorrupt, i+2, err):
						default:
						}
					}
				}
			}
		}()
	}
	crc := uint32(0)
	var readErr error
	const chunkLines = 2048
	c := chunk{lines: make([][]byte, 0, chunkLines)}
	for i := 0; i < h.Bans+h.Allowlist; i++ {
		l, err := readLine()
		if err != nil {
			readErr = err
			break
		}
		crc = crc32.Update(crc, castagnoli, l)
		c.lines = append(c.lines, l)
		if len(c.lines) == chunkLines {
			work <- c
			c = chunk{first: i + 1, lines: make([][]byte, 0, chunkLines)}
		}
	}
	if len(c.lines) > 0 {
		work <- c
	}
	close(work)
	wg.Wait()
	if readErr != nil {
		return State{}, h, readErr
	}
	select {
	case err := <-errs:
		return State{}, h, err
	default:
	}
	tl, err := readLine()
	if err != nil {
		return State{}, h, err
	}
	var t snapshotTrailer
	if err := json.Unmarshal(tl, &t); err != nil || !t.End || t.Lines != h.Bans+h.Allowlist || t.CRC32C != crc {
		return State{}, h, fmt.Errorf("%w: trailer does not match the content", ErrSnapshotCorrupt)
	}
	if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
		return State{}, h, fmt.Errorf("%w: data after the trailer", ErrSnapshotCorrupt)
	}
	return st, h, nil
}

// Load replaces the set's content with st (see Replace).
func (s *Set) Load(st State) {
	n := New(s.now)
	for _, b := range st.Bans {
		n.bans[b.Key()] = b
		n.count(b, +1)
	}
	for _, a := range st.Allow {
		n.allow[a.Key()] = a
	}
	s.Replace(n)
}
