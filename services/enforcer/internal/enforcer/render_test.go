package enforcer

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs:\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	now := func() time.Time { return t0 }
	in := filepath.Join("testdata", "render", "bans.jsonl")
	for _, format := range []string{"postfix-access", "exim"} {
		for _, side := range []string{"sender", "recipient"} {
			t.Run(format+"/"+side, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if err := Render([]string{"--format", format, "--side", side, in}, nil, &stdout, &stderr, now); err != nil {
					t.Fatal(err)
				}
				base := filepath.Join("testdata", "render", format+"."+side)
				golden(t, base+".golden", stdout.Bytes())
				golden(t, base+".stderr.golden", stderr.Bytes())
			})
		}
	}
}

func TestRenderStdinAndFiles(t *testing.T) {
	now := func() time.Time { return t0 }
	in := filepath.Join("testdata", "render", "bans.jsonl")
	data, err := os.ReadFile(in)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile, fromStdin, fromDash bytes.Buffer
	if err := Render([]string{"--format", "exim", in}, nil, &fromFile, &bytes.Buffer{}, now); err != nil {
		t.Fatal(err)
	}
	if err := Render([]string{"--format", "exim"}, bytes.NewReader(data), &fromStdin, &bytes.Buffer{}, now); err != nil {
		t.Fatal(err)
	}
	if err := Render([]string{"--format", "exim", "-"}, bytes.NewReader(data), &fromDash, &bytes.Buffer{}, now); err != nil {
		t.Fatal(err)
	}
	if fromFile.String() != fromStdin.String() || fromFile.String() != fromDash.String() {
		t.Fatal("stdin and file renderings differ")
	}
	// Several inputs: later lines win, line numbers name their file.
	extra := filepath.Join(t.TempDir(), "more.jsonl")
	if err := os.WriteFile(extra, []byte(`{"rule":"r","subject_kind":"sender","subject":"root@localhost","action":"ban","message":"third","source":"api","level":3}`+"\n\x00garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errs bytes.Buffer
	if err := Render([]string{"--format=postfix-access", in, extra}, nil, &out, &errs, now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "root@localhost REJECT third\n") {
		t.Fatalf("later file did not win:\n%s", out.String())
	}
	if !strings.Contains(errs.String(), extra+":2: ") {
		t.Fatalf("bad line not reported with file and line:\n%s", errs.String())
	}
}

func TestRenderLongLine(t *testing.T) {
	long := `{"rule":"r","subject_kind":"sender","subject":"x@x.example","action":"ban","message":"` + strings.Repeat("m", maxRenderLine) + `"}`
	in := long + "\n" + `{"rule":"r","subject_kind":"sender","subject":"ok@x.example","action":"ban","message":"ok"}` + "\n"
	var out, errs bytes.Buffer
	if err := Render([]string{"--format", "postfix-access"}, strings.NewReader(in), &out, &errs, time.Now); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(errs.String(), "<stdin>:1: line longer than") || !strings.Contains(out.String(), "ok@x.example REJECT ok") {
		t.Fatalf("stdout:\n%s\nstderr:\n%s", out.String(), errs.String())
	}
}

func TestRenderUsageErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"no format":      {},
		"unknown format": {"--format", "sendmail"},
		"bad side":       {"--format", "exim", "--side", "both"},
		"unknown flag":   {"--format", "exim", "--loud"},
		"missing file":   {"--format", "exim", filepath.Join(t.TempDir(), "nope.jsonl")},
	} {
		t.Run(name, func(t *testing.T) {
			if err := Render(args, strings.NewReader(""), &bytes.Buffer{}, &bytes.Buffer{}, time.Now); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
