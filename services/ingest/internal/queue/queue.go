// Package queue samples an MTA's mail queue: Postfix through `postqueue -j`
// (one JSON object per queued message), Exim through `exim -bpc` (a count).
package queue

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Formats of the sampling command's output.
const (
	FormatPostfixJSON = "postfix-json" // postqueue -j
	FormatCount       = "count"        // exim -bpc: one integer
)

// ErrFormat is wrapped when the command's output cannot be read.
var ErrFormat = errors.New("unexpected queue command output")

// Sampler runs the command and reads its output.
type Sampler struct {
	// Command and Args, e.g. "postqueue", ["-j"].
	Command string
	Args    []string
	Format  string
	MTA     string
	Host    string
	// Timeout bounds one run. Default 20s.
	Timeout time.Duration
	// Now stamps the sample; default time.Now.
	Now func() time.Time
}

// Sample runs the command once.
func (s *Sampler) Sample(ctx context.Context) (*event.QueueSample, error) {
	to := s.Timeout
	if to <= 0 {
		to = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, to)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.Command, s.Args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("run %s: %w: %s", s.Command, err, strings.TrimSpace(stderr.String()))
	}
	now := time.Now
	if s.Now != nil {
		now = s.Now
	}
	q := &event.QueueSample{TS: now(), MTA: s.MTA, Host: s.Host}
	switch s.Format {
	case FormatCount:
		n, err := strconv.Atoi(strings.TrimSpace(string(out)))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%w: %q is not a count", ErrFormat, truncate(out))
		}
		q.Queues, q.Total = map[string]int{"all": n}, n
	case FormatPostfixJSON:
		if err := ReadPostqueueJSON(bytes.NewReader(out), q); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("queue format %q: want %s or %s", s.Format, FormatPostfixJSON, FormatCount)
	}
	return q, nil
}

// ReadPostqueueJSON fills q from `postqueue -j` output: counts by queue
// name, the top senders, and the top delay reasons of deferred mail.
func ReadPostqueueJSON(r io.Reader, q *event.QueueSample) error {
	type rcpt struct {
		Address     string `json:"address"`
		DelayReason string `json:"delay_reason"`
	}
	type msg struct {
		QueueName  string `json:"queue_name"`
		Sender     string `json:"sender"`
		Recipients []rcpt `json:"recipients"`
	}
	q.Queues = map[string]int{}
	senders := map[string]int{}
	reasons := map[string]int{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var m msg
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("%w: line %d: %w", ErrFormat, line, err)
		}
		if m.QueueName == "" {
			m.QueueName = "unknown"
		}
		q.Queues[m.QueueName]++
		q.Total++
		if event.CheckToken(m.Sender) == nil {
			senders[strings.ToLower(m.Sender)]++
		}
		for _, rc := range m.Recipients {
			if rc.DelayReason != "" {
				reasons[reasonKey(rc.DelayReason)]++
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: %w", ErrFormat, err)
	}
	q.TopSenders = top(senders, 10)
	q.TopReasons = top(reasons, 10)
	return nil
}

// reasonKey shortens a delay reason to something that groups: the remote
// reply without the host part, at most 120 bytes.
func reasonKey(s string) string {
	if i := strings.Index(s, " said: "); i >= 0 {
		s = s[i+len(" said: "):]
	}
	if len(s) > 120 {
		s = s[:120]
	}
	return s
}

func top(m map[string]int, n int) []event.Count {
	out := make([]event.Count, 0, len(m))
	for k, v := range m {
		out = append(out, event.Count{Name: k, Count: v})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return out[i].Name < out[j].Name
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

func truncate(b []byte) string {
	if len(b) > 80 {
		b = b[:80]
	}
	return string(b)
}

// Command implements `ingest queue`: one sample, printed as a JSON line
// (the record ingest publishes to the queue topic).
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("queue", flag.ContinueOnError)
	fs.SetOutput(stderr)
	command := fs.String("command", "postqueue -j", "queue command, split on spaces")
	format := fs.String("format", FormatPostfixJSON, "its output: postfix-json or count")
	host := fs.String("host", "", "host name in the sample (default: this machine's)")
	mta := fs.String("mta", "postfix", "MTA name in the sample")
	if err := fs.Parse(args); err != nil {
		return err
	}
	fields := strings.Fields(*command)
	if len(fields) == 0 {
		return errors.New("--command is empty")
	}
	if *host == "" {
		*host, _ = os.Hostname()
	}
	s := &Sampler{Command: fields[0], Args: fields[1:], Format: *format, MTA: *mta, Host: *host}
	q, err := s.Sample(ctx)
	if err != nil {
		return err
	}
	b, err := event.MarshalQueueSample(q)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s\n", b)
	return err
}
