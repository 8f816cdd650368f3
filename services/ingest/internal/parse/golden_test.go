package parse

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

var update = flag.Bool("update", false, "rewrite the testdata .golden files")

// goldenNow is the reference clock of the golden tests: syslog lines of
// Feb..Dec belong to 2026, January lines to 2027.
var goldenNow = time.Date(2027, 1, 10, 0, 0, 0, 0, time.UTC)

func goldenOptions() Options {
	return Options{Host: "mx1", Now: func() time.Time { return goldenNow }}
}

// runLog feeds every line of a log file through a fresh parser, then gives
// up on what is still pending, and returns one JSON line per event or
// rejected line, in order, plus a final line with the non-zero stats.
//
// The line buffer is reused and scribbled over after each Feed, as a file
// follower would, so any string the parser kept as a view of it would
// show up as garbage in the golden output.
func runLog(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := New(goldenOptions())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	emit := func(e *event.DeliveryEvent) {
		if err := e.Validate(); err != nil {
			t.Errorf("event %s fails Validate: %v", e.ID, err)
		}
		b, err := event.MarshalEvent(e)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
	}
	base := filepath.Base(path)
	buf := make([]byte, 0, 64<<10)
	for i, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		buf = append(buf[:0], l...)
		err := p.Feed(buf, base+":"+strconv.Itoa(i+1), emit)
		for k := range buf {
			buf[k] = '#'
		}
		if err != nil {
			b, _ := json.Marshal(map[string]any{"line": i + 1, "error": err.Error()})
			out.Write(b)
			out.WriteByte('\n')
		}
	}
	p.Expire(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), emit)
	if p.Pending() != 0 {
		t.Errorf("%d messages pending after a final Expire", p.Pending())
	}
	stats := map[string]uint64{}
	for k, v := range p.Stats() {
		if v != 0 {
			stats[k] = v
		}
	}
	b, _ := json.Marshal(map[string]any{"stats": stats})
	out.Write(b)
	out.WriteByte('\n')
	return out.Bytes()
}

// TestGolden compares the events of every testdata/*/*.log with its
// .golden file (regenerate with go test -update and review the diff).
func TestGolden(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.log"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no testdata logs")
	}
	sort.Strings(files)
	for _, f := range files {
		t.Run(strings.TrimSuffix(strings.TrimPrefix(f, "testdata"+string(filepath.Separator)), ".log"), func(t *testing.T) {
			got := runLog(t, f)
			golden := strings.TrimSuffix(f, ".log") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
				for i := 0; i < len(gl) || i < len(wl); i++ {
					var g, w string
					if i < len(gl) {
						g = gl[i]
					}
					if i < len(wl) {
						w = wl[i]
					}
					if g != w {
						t.Fatalf("%s differs at output line %d:\n got: %s\nwant: %s\n(go test -update rewrites it; review the diff)", golden, i+1, g, w)
					}
				}
			}
		})
	}
}
