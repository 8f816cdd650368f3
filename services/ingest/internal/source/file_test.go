package source

import (
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOpenGzipAndLines(t *testing.T) {
	dir := t.TempDir()
	plain := filepath.Join(dir, "mail.log.1")
	gz := filepath.Join(dir, "mail.log.2.gz")
	content := "a\n" + strings.Repeat("z", 50) + "\nlast-without-newline"
	if err := os.WriteFile(plain, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	f, _ := os.Create(gz)
	zw := gzip.NewWriter(f)
	_, _ = zw.Write([]byte(content))
	zw.Close()
	f.Close()
	for _, p := range []string{plain, gz} {
		r, err := Open(p)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		var offs []int64
		var trunc int
		err = Lines(r, 10, func(d []byte, off int64, tr bool) error {
			got = append(got, string(d))
			offs = append(offs, off)
			if tr {
				trunc++
			}
			return nil
		})
		r.Close()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || got[0] != "a" || got[1] != strings.Repeat("z", 10) || got[2] != "last-witho" || trunc != 2 {
			t.Errorf("%s: got %q (truncated %d)", p, got, trunc)
		}
		if offs[1] != 2 || offs[2] != 53 {
			t.Errorf("%s: offsets %v", p, offs)
		}
	}
}
