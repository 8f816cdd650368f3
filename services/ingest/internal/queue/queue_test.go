package queue

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// Output in the shape Postfix 3.7's `postqueue -j` prints (one object per line).
const postqueueOut = `{"queue_name": "deferred", "queue_id": "4ZAB1", "arrival_time": 1764177000, "message_size": 1234, "forced_expire": false, "sender": "root@localhost", "recipients": [{"address": "a@gmail.com", "delay_reason": "host gmail-smtp-in.l.google.com[142.250.1.26] said: 421-4.7.28 Gmail has detected an unusual rate of mail"}]}
{"queue_name": "deferred", "queue_id": "4ZAB2", "arrival_time": 1764177001, "message_size": 1234, "forced_expire": false, "sender": "root@localhost", "recipients": [{"address": "b@gmail.com", "delay_reason": "host gmail-smtp-in.l.google.com[142.250.1.27] said: 421-4.7.28 Gmail has detected an unusual rate of mail"}]}
{"queue_name": "active", "queue_id": "4ZAB3", "arrival_time": 1764177002, "message_size": 99, "forced_expire": false, "sender": "alice@example.com", "recipients": [{"address": "c@example.org"}]}
{"queue_name": "active", "queue_id": "4ZAB4", "arrival_time": 1764177002, "message_size": 99, "forced_expire": false, "sender": "evil\nuser@x", "recipients": []}
`

func TestReadPostqueueJSON(t *testing.T) {
	q := &event.QueueSample{}
	if err := ReadPostqueueJSON(strings.NewReader(postqueueOut), q); err != nil {
		t.Fatal(err)
	}
	if q.Total != 4 || q.Queues["deferred"] != 2 || q.Queues["active"] != 2 {
		t.Errorf("counts: %+v", q.Queues)
	}
	if len(q.TopSenders) != 2 || q.TopSenders[0] != (event.Count{Name: "root@localhost", Count: 2}) {
		t.Errorf("top senders (hostile one dropped): %+v", q.TopSenders)
	}
	if len(q.TopReasons) != 1 || q.TopReasons[0].Count != 2 || !strings.HasPrefix(q.TopReasons[0].Name, "421-4.7.28") {
		t.Errorf("top reasons: %+v", q.TopReasons)
	}
	if err := ReadPostqueueJSON(strings.NewReader("not json\n"), &event.QueueSample{}); !errors.Is(err, ErrFormat) {
		t.Errorf("bad output: %v", err)
	}
}

func TestSamplerCommand(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "fakeq")
	// A stand-in for exim -bpc: the command's output is what is under test.
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho 42\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	s := &Sampler{Command: script, Format: FormatCount, MTA: "exim", Host: "mx1", Now: func() time.Time { return at }}
	q, err := s.Sample(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if q.Total != 42 || q.Queues["all"] != 42 || !q.TS.Equal(at) || q.Host != "mx1" {
		t.Errorf("sample: %+v", q)
	}
	s.Command = filepath.Join(dir, "missing")
	if _, err := s.Sample(context.Background()); err == nil {
		t.Error("missing command: no error")
	}
}

func FuzzReadPostqueueJSON(f *testing.F) {
	f.Add([]byte(postqueueOut))
	f.Fuzz(func(t *testing.T, in []byte) {
		q := &event.QueueSample{}
		if err := ReadPostqueueJSON(strings.NewReader(string(in)), q); err != nil {
			return
		}
		if len(q.TopSenders) > 10 || len(q.TopReasons) > 10 {
			t.Fatal("top lists unbounded")
		}
		for _, s := range q.TopSenders {
			if event.CheckToken(s.Name) != nil {
				t.Fatalf("hostile sender %q kept", s.Name)
			}
		}
	})
}
