package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/mxwarden/mxwarden/pkg/config"
	"github.com/mxwarden/mxwarden/pkg/event"
	"github.com/mxwarden/mxwarden/services/detector/internal/detector"
)

const events = "internal/rules/testdata/invalid_recipients/hammer_invalid_recipients/events.jsonl"

func noEnv() []string { return nil }

func TestReplayCommand(t *testing.T) {
	in, err := os.ReadFile(events)
	if err != nil {
		t.Fatal(err)
	}
	var fromFile, fromStdin, stderr bytes.Buffer
	if err := run(context.Background(), []string{"replay", events}, noEnv, nil, &fromFile, &stderr); err != nil {
		t.Fatalf("replay FILE: %v\n%s", err, stderr.String())
	}
	if err := run(context.Background(), []string{"replay", "-"}, noEnv, bytes.NewReader(in), &fromStdin, &stderr); err != nil {
		t.Fatalf("replay -: %v", err)
	}
	if fromFile.Len() == 0 || fromFile.String() != fromStdin.String() {
		t.Fatalf("file and stdin replays differ:\n%s\n%s", fromFile.String(), fromStdin.String())
	}
	v, err := event.UnmarshalVerdict(bytes.TrimSpace(fromFile.Bytes()))
	if err != nil || v.Subject != "list@bulk-sender.example" {
		t.Fatalf("verdict %+v, %v", v, err)
	}

	// --bans, --set and the environment reach the replay.
	var bans bytes.Buffer
	env := func() []string { return []string{"MXWARDEN_DETECTOR_BAN_TTL=2h"} }
	args := []string{"replay", "--bans", "--set", "ticket_url=https://help.example.org/x", events}
	if err := run(context.Background(), args, env, nil, &bans, &stderr); err != nil {
		t.Fatalf("replay --bans: %v", err)
	}
	b, err := event.UnmarshalBan(bytes.TrimSpace(bans.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if b.Expires.Sub(b.TS).Hours() != 2 || !strings.HasSuffix(b.Message, "https://help.example.org/x") {
		t.Fatalf("ban %+v", b)
	}
}

func TestCommandErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		is   error
		want string
	}{
		{"unknown command", []string{"frobnicate"}, detector.ErrUnknownCommand, "frobnicate"},
		{"unknown key", []string{"replay", "--set", "nope=1"}, config.ErrUnknownKey, ""},
		{"invalid value", []string{"--set", "rules.invalid_recipients.ratio=3"}, nil, "ratio 3"},
		{"run takes no files", []string{"run", "extra"}, nil, "unexpected arguments"},
		{"missing file", []string{"replay", "no-such-file.jsonl"}, os.ErrNotExist, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, stderr bytes.Buffer
			err := run(context.Background(), tt.args, noEnv, strings.NewReader(""), &out, &stderr)
			if err == nil || (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestRunCommandStartsAndStops(t *testing.T) {
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer cluster.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	stderr := &lockedBuffer{}
	go func() {
		errc <- run(ctx, []string{"--set", "kafka.brokers=" + strings.Join(cluster.ListenAddrs(), ","), "--set", "http.addr=127.0.0.1:0"},
			noEnv, nil, io.Discard, stderr)
	}()
	for deadline := time.Now().Add(20 * time.Second); !strings.Contains(stderr.String(), `"msg":"consuming"`); {
		if time.Now().After(deadline) {
			t.Fatalf("no start log:\n%s", stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop")
	}
}

// lockedBuffer is a bytes.Buffer safe to write from the service while the
// test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
