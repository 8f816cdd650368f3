package source

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
)

// Open opens a log file for a one-shot read (backfill, `ingest parse`),
// decompressing it when it starts with the gzip magic (rotated .gz files).
func Open(path string) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	br := bufio.NewReaderSize(f, 256<<10)
	magic, err := br.Peek(2)
	if err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("open gzip %s: %w", path, err)
		}
		return readCloser{Reader: zr, close: func() error { zr.Close(); return f.Close() }}, nil
	}
	return readCloser{Reader: br, close: f.Close}, nil
}

type readCloser struct {
	io.Reader
	close func() error
}

func (r readCloser) Close() error { return r.close() }

// Lines calls fn for every line of r (without its newline). Lines longer
// than maxLine are cut to maxLine and flagged; they never fail the read.
// offset is the line's byte offset in the (decompressed) stream.
func Lines(r io.Reader, maxLine int, fn func(data []byte, offset int64, truncated bool) error) error {
	br := bufio.NewReaderSize(r, 256<<10)
	var (
		buf []byte
		off int64
		n   int64
	)
	for {
		chunk, err := br.ReadSlice('\n')
		n += int64(len(chunk))
		if len(buf) == 0 && err == nil && len(chunk) <= maxLine+1 {
			// The common case: the whole line in the reader's buffer, fed
			// without a copy.
			data := chunk
			for len(data) > 0 && (data[len(data)-1] == '\n' || data[len(data)-1] == '\r') {
				data = data[:len(data)-1]
			}
			if ferr := fn(data, off, false); ferr != nil {
				return ferr
			}
			off += n
			n = 0
			continue
		}
		if room := maxLine + 2 - len(buf); room > 0 {
			buf = append(buf, chunk[:min(room, len(chunk))]...)
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if len(buf) > 0 {
			data := bytes.TrimRight(buf, "\r\n")
			trunc := len(data) > maxLine
			if trunc {
				data = data[:maxLine]
			}
			if ferr := fn(data, off, trunc); ferr != nil {
				return ferr
			}
		}
		off += n
		n = 0
		buf = buf[:0]
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
