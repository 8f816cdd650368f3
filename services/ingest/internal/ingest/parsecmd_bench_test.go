package ingest

import (
	"io"
	"os"
	"testing"
)

// BenchmarkParseCommand runs `ingest parse` in process over
// $MXWARDEN_DAYLOG (scripts/bench.sh writes it), output encoded and
// discarded: the profile of the whole-process figure.
func BenchmarkParseCommand(b *testing.B) {
	path := os.Getenv("MXWARDEN_DAYLOG")
	if path == "" {
		b.Skip("MXWARDEN_DAYLOG not set (scripts/bench.sh sets it)")
	}
	st, err := os.Stat(path)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(st.Size())
	for i := 0; i < b.N; i++ {
		if err := ParseCommand([]string{"--quiet", "--host", "bench", path}, nil, io.Discard, io.Discard); err != nil {
			b.Fatal(err)
		}
	}
}
