package detector

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxwarden/mxwarden/pkg/event"
)

const hammerEvents = "../rules/testdata/invalid_recipients/hammer_invalid_recipients/events.jsonl"

func replayBytes(t *testing.T, cfg Config, opts ReplayOptions) (string, string, ReplayStats) {
	t.Helper()
	var out, stderr bytes.Buffer
	opts.Stdout, opts.Stderr, opts.Now = &out, &stderr, fixedNow
	st, err := Replay(context.Background(), cfg, opts)
	if err != nil {
		t.Fatalf("replay: %v", err)
	}
	return out.String(), stderr.String(), st
}

func TestReplayDeterministic(t *testing.T) {
	in, err := os.ReadFile(hammerEvents)
	if err != nil {
		t.Fatal(err)
	}
	first, _, st := replayBytes(t, Default(), ReplayOptions{Inputs: []string{hammerEvents}})
	if st.Verdicts == 0 {
		t.Fatal("no verdicts: the input should make some")
	}
	second, _, _ := replayBytes(t, Default(), ReplayOptions{Inputs: []string{hammerEvents}})
	if first != second {
		t.Fatalf("two replays of the same file differ:\n%s\n%s", first, second)
	}
	// The same events from stdin, and split over two files, give the same bytes.
	stdin, _, _ := replayBytes(t, Default(), ReplayOptions{Stdin: bytes.NewReader(in)})
	if stdin != first {
		t.Fatalf("stdin replay differs:\n%s\n%s", stdin, first)
	}
	dir := t.TempDir()
	cut := bytes.IndexByte(in[len(in)/2:], '\n') + len(in)/2 + 1
	a, b := filepath.Join(dir, "a.jsonl"), filepath.Join(dir, "b.jsonl")
	if err := os.WriteFile(a, in[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(b, in[cut:], 0o644); err != nil {
		t.Fatal(err)
	}
	split, _, _ := replayBytes(t, Default(), ReplayOptions{Inputs: []string{a, "-", b}, Stdin: strings.NewReader("")})
	if split != first {
		t.Fatalf("split replay differs:\n%s\n%s", split, first)
	}
}

func TestReplayInvalidLines(t *testing.T) {
	in, err := os.ReadFile(hammerEvents)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := replayBytes(t, Default(), ReplayOptions{Inputs: []string{hammerEvents}})
	good := strings.Split(strings.TrimSuffix(string(in), "\n"), "\n")
	bad := []string{
		`not json`,
		`{"v":1,"id":"x","ts":"2025-03-03T09:00:00Z","status":"exploded"}`,
		`{"v":99,"id":"x","ts":"2025-03-03T09:00:00Z","status":"sent"}`,
		`{"v":1,"id":"x","ts":"2099-03-03T09:00:00Z","status":"sent","sender":"a@b.example"}`,
		`{"v":1,"id":"x","ts":"2025-03-03T09:00:00Z","status":"sent","sender":"a b@c.example"}`,
		`{"v":1,"id":"x","ts":5,"status":"sent"}`,
		"\"" + strings.Repeat("x", MaxLineLen+10) + "\"",
	}
	var mixed []string
	for i, l := range good {
		mixed = append(mixed, l)
		if i < len(bad) {
			mixed = append(mixed, bad[i], "", "   ")
		}
	}
	got, stderr, st := replayBytes(t, Default(), ReplayOptions{Stdin: strings.NewReader(strings.Join(mixed, "\r\n"))})
	if got != want {
		t.Fatalf("invalid lines changed the verdicts:\n%s\nwant\n%s", got, want)
	}
	if st.Invalid != len(bad) || st.Events != len(good) || st.Lines != len(good)+len(bad) {
		t.Fatalf("stats %+v, want %d invalid and %d events", st, len(bad), len(good))
	}
	for _, w := range []string{"<stdin>:2: ", "<stdin>:6: ", "unsupported schema version", "ahead of the clock", "line too long", "replay: "} {
		if !strings.Contains(stderr, w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr)
		}
	}
}

func TestReplayBans(t *testing.T) {
	out, _, st := replayBytes(t, Default(), ReplayOptions{Inputs: []string{hammerEvents}, Bans: true})
	if st.Bans != 1 {
		t.Fatalf("bans = %d, want 1", st.Bans)
	}
	b, err := event.UnmarshalBan([]byte(strings.TrimSpace(out)))
	if err != nil {
		t.Fatal(err)
	}
	if b.Key() != "sender:list@bulk-sender.example" || b.Level != 1 || b.Source != "rule" {
		t.Fatalf("ban %+v", b)
	}
	if got := b.Expires.Sub(b.TS); got != Default().Ban.TTL {
		t.Fatalf("ttl %s", got)
	}
}

func TestReplayErrors(t *testing.T) {
	var out bytes.Buffer
	_, err := Replay(context.Background(), Default(), ReplayOptions{Inputs: []string{"testdata/does-not-exist"}, Stdout: &out})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	_, err = Replay(context.Background(), Default(), ReplayOptions{Stdout: &out, Stdin: iotestErrReader{}})
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("read error: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	many := strings.Repeat("{}\n", 10000)
	if _, err := Replay(ctx, Default(), ReplayOptions{Stdout: &out, Stdin: strings.NewReader(many)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

type iotestErrReader struct{}

func (iotestErrReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

func TestLineReader(t *testing.T) {
	tests := []struct {
		name string
		in   string
		max  int
		want []string // "!" marks a too-long line
	}{
		{"empty", "", 10, nil},
		{"one without newline", "abc", 10, []string{"abc"}},
		{"crlf", "a\r\nb\r\n", 10, []string{"a", "b"}},
		{"blank lines kept", "\n\nx\n", 10, []string{"", "", "x"}},
		{"exactly max", "0123456789\n", 10, []string{"0123456789"}},
		{"too long then fine", "0123456789X\nok\n", 10, []string{"!", "ok"}},
		{"too long at the end", "ok\n0123456789XYZ", 10, []string{"ok", "!"}},
		{"long lines across the buffer", strings.Repeat("y", 100_000) + "\nz\n", 200_000, []string{strings.Repeat("y", 100_000), "z"}},
		{"too long across the buffer", strings.Repeat("y", 200_000) + "\nz\n", 100_000, []string{"!", "z"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lr := NewLineReader(strings.NewReader(tt.in), tt.max)
			var got []string
			for n := 1; ; n++ {
				line, num, err := lr.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if num != n {
					t.Fatalf("line number %d, want %d", num, n)
				}
				switch {
				case errors.Is(err, ErrLineTooLong):
					got = append(got, "!")
				case err != nil:
					t.Fatal(err)
				default:
					got = append(got, string(line))
				}
			}
			if strings.Join(got, "|") != strings.Join(tt.want, "|") || len(got) != len(tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestReplayFlags(t *testing.T) {
	tests := []struct {
		in   []string
		rest []string
		bans bool
	}{
		{nil, nil, false},
		{[]string{"--bans", "f"}, []string{"f"}, true},
		{[]string{"--config", "c.yaml", "-bans", "f"}, []string{"--config", "c.yaml", "f"}, true},
		{[]string{"f", "--bans=true"}, []string{"f"}, true},
		{[]string{"--bans", "--bans=false"}, nil, false},
		{[]string{"f", "-", "--config", "c.yaml", "g", "--set", "a=b", "--set=c=d"}, []string{"--config", "c.yaml", "--set", "a=b", "--set=c=d", "f", "-", "g"}, false},
		{[]string{"f", "--", "--bans", "--config"}, []string{"f", "--", "--bans", "--config"}, false},
		{[]string{"--config"}, []string{"--config"}, false}, // config.Load reports the missing value
	}
	for _, tt := range tests {
		rest, bans := ReplayFlags(tt.in)
		if strings.Join(rest, " ") != strings.Join(tt.rest, " ") || bans != tt.bans {
			t.Errorf("ReplayFlags(%q) = %q, %v; want %q, %v", tt.in, rest, bans, tt.rest, tt.bans)
		}
	}
}

// FuzzReplay feeds arbitrary bytes to the JSON-lines replay: it must never
// panic, count every non-blank line as an event or as invalid, and write
// only verdicts that decode and validate.
func FuzzReplay(f *testing.F) {
	files, _ := filepath.Glob("../rules/testdata/*/*/events.jsonl")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		if i := bytes.IndexByte(b, '\n'); i > 0 {
			f.Add(b[:i])
		}
	}
	f.Add([]byte("{}\n\x00\xff\n{\"ts\":\"2025-01-01T00:00:00Z\",\"status\":\"bounced\",\"sender\":\"A@B\",\"reason\":\"user_unknown\"}\r\n"))
	cfg := Default()
	cfg.Rules.InvalidRecipients.MinAttempts = 2 // fire easily, so verdict paths run too
	cfg.Rules.InvalidRecipients.MinUnknown = 2
	f.Fuzz(func(t *testing.T, in []byte) {
		var out, stderr bytes.Buffer
		st, err := Replay(context.Background(), cfg, ReplayOptions{Stdin: bytes.NewReader(in), Stdout: &out, Stderr: &stderr, Now: fixedNow})
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if st.Events+st.Invalid != st.Lines {
			t.Fatalf("stats %+v do not add up", st)
		}
		n := 0
		for _, line := range lines(out.Bytes()) {
			if _, err := event.UnmarshalVerdict(line); err != nil {
				t.Fatalf("output line does not validate: %v\n%s", err, line)
			}
			n++
		}
		if n != st.Verdicts {
			t.Fatalf("%d lines written, %d verdicts counted", n, st.Verdicts)
		}
	})
}
