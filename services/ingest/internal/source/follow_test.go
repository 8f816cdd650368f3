package source

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

// drain returns every complete line available now.
func drain(t *testing.T, fl *Follower) []string {
	t.Helper()
	var out []string
	for {
		l, err := fl.TryNext()
		if errors.Is(err, ErrNoData) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, string(l.Data))
	}
}

func TestFollowerPartialAndRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "maillog")
	fl := NewFollower(path, FollowerOptions{})
	defer fl.Close()
	if got := drain(t, fl); len(got) != 0 {
		t.Fatalf("missing file yielded %q", got)
	}
	appendFile(t, path, "one\ntw")
	if got := drain(t, fl); strings.Join(got, ",") != "one" {
		t.Fatalf("got %q, want [one] (partial line held back)", got)
	}
	appendFile(t, path, "o\nthree\n")
	if got := drain(t, fl); strings.Join(got, ",") != "two,three" {
		t.Fatalf("got %q", got)
	}
	// rename rotation: the old file gets one last line before the new one appears.
	appendFile(t, path, "four\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path+".1", "five\n")
	appendFile(t, path, "six\n")
	if got := drain(t, fl); strings.Join(got, ",") != "four,five,six" {
		t.Fatalf("after rename rotation got %q", got)
	}
	// copytruncate
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "7\n")
	if got := drain(t, fl); strings.Join(got, ",") != "7" {
		t.Fatalf("after copytruncate got %q", got)
	}
	// disappears and returns
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, fl); len(got) != 0 {
		t.Fatalf("removed file yielded %q", got)
	}
	appendFile(t, path, "eight\n")
	if got := drain(t, fl); strings.Join(got, ",") != "eight" {
		t.Fatalf("after re-creation got %q", got)
	}
}

func TestFollowerLongLineAndResume(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "maillog")
	long := strings.Repeat("x", 1<<20)
	appendFile(t, path, "a\n"+long+"\nb\n")
	fl := NewFollower(path, FollowerOptions{MaxLine: 1000})
	var lines []Line
	for {
		l, err := fl.TryNext()
		if errors.Is(err, ErrNoData) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		l.Data = append([]byte(nil), l.Data...)
		lines = append(lines, l)
	}
	if len(lines) != 3 {
		t.Fatalf("got %d lines, want 3", len(lines))
	}
	if !lines[1].Truncated || len(lines[1].Data) != 1000 || lines[0].Truncated {
		t.Errorf("long line: truncated=%v len=%d", lines[1].Truncated, len(lines[1].Data))
	}
	if lines[2].Offset != int64(2+len(long)+1) || string(lines[2].Data) != "b" {
		t.Errorf("offset after long line = %d, want %d", lines[2].Offset, 2+len(long)+1)
	}
	// Save the position after the second line, resume, and get only "b" and what follows.
	cp := NewCheckpoint(filepath.Join(dir, "state", "cp"))
	var none Position
	if ok, err := cp.Load(&none); err != nil || ok {
		t.Fatalf("empty checkpoint: %v %v", ok, err)
	}
	pos := Position{Path: path, File: lines[1].File, Offset: lines[1].End}
	if err := cp.Save(pos); err != nil {
		t.Fatal(err)
	}
	fl.Close()
	got := &Position{}
	if ok, err := cp.Load(got); err != nil || !ok || *got != pos {
		t.Fatalf("checkpoint round trip: %v %v %v", got, ok, err)
	}
	appendFile(t, path, "c\n")
	fl2 := NewFollower(path, FollowerOptions{Resume: got})
	defer fl2.Close()
	if l := drain(t, fl2); strings.Join(l, ",") != "b,c" {
		t.Fatalf("resumed follower got %q", l)
	}
	// A checkpoint of another file (rotated while away) starts the new file at 0.
	fl3 := NewFollower(path, FollowerOptions{Resume: &Position{Path: path, File: "0-0", Offset: 5}})
	defer fl3.Close()
	if l := drain(t, fl3); len(l) != 4 {
		t.Fatalf("foreign checkpoint: got %d lines, want all 4", len(l))
	}
}

func TestFollowerTruncationGeneration(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "maillog")
	appendFile(t, path, "one\ntwo\n")
	fl := NewFollower(path, FollowerOptions{})
	l1, err := fl.TryNext()
	if err != nil {
		t.Fatal(err)
	}
	first := l1.File
	drain(t, fl)
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "three\n")
	l3, err := fl.TryNext()
	if err != nil {
		t.Fatal(err)
	}
	if string(l3.Data) != "three" || l3.Offset != 0 || l3.File == first || l3.File != first+".1" {
		t.Fatalf("after truncation: %q at %s:%d (before: %s)", l3.Data, l3.File, l3.Offset, first)
	}
	pos := fl.Position()
	fl.Close()
	// Resume keeps the generation; a truncation while away starts the next one.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "4\n")
	fl2 := NewFollower(path, FollowerOptions{Resume: &pos})
	defer fl2.Close()
	l4, err := fl2.TryNext()
	if err != nil {
		t.Fatal(err)
	}
	if string(l4.Data) != "4" || l4.File != first+".2" {
		t.Fatalf("truncated while away: %q at %s", l4.Data, l4.File)
	}
}

// Rotations that happen while ingest is down: the rest of a renamed file
// is read before the new one, and a file truncated and written past the
// saved offset is recognised by its head and read from its start.
func TestFollowerRotatedWhileAway(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "maillog")
	appendFile(t, path, "a1\na2\n")
	fl := NewFollower(path, FollowerOptions{})
	if got := drain(t, fl); strings.Join(got, ",") != "a1,a2" {
		t.Fatalf("got %q", got)
	}
	pos := fl.Position()
	fl.Close()
	if pos.HeadLen != 6 || pos.Head == "" {
		t.Fatalf("position without head: %+v", pos)
	}
	// Away: two more lines, then rename rotation and a new file.
	appendFile(t, path, "a3\na4\n")
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "b1\n")
	fl2 := NewFollower(path, FollowerOptions{Resume: &pos})
	if got := drain(t, fl2); strings.Join(got, ",") != "a3,a4,b1" {
		t.Fatalf("after rotation while away got %q, want a3,a4,b1", got)
	}
	pos = fl2.Position()
	fl2.Close()

	// Away: copytruncate, then the file grows past the saved offset.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendFile(t, path, "c1-long-enough\nc2\n")
	fl3 := NewFollower(path, FollowerOptions{Resume: &pos})
	defer fl3.Close()
	var lines []Line
	for {
		l, err := fl3.TryNext()
		if err != nil {
			break
		}
		l.Data = append([]byte(nil), l.Data...)
		lines = append(lines, l)
	}
	if len(lines) != 2 || string(lines[0].Data) != "c1-long-enough" || lines[0].Offset != 0 || lines[0].File == pos.File {
		t.Fatalf("after copytruncate while away: %+v (saved %+v)", lines, pos)
	}
}
