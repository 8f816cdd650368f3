package source

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestSyslogTransports(t *testing.T) {
	s := &Syslog{UDP: "127.0.0.1:0", TCP: "127.0.0.1:0", MaxMessage: 100}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []Message
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.Run(ctx, func(m Message) {
			mu.Lock()
			m.Data = append([]byte(nil), m.Data...)
			got = append(got, m)
			mu.Unlock()
		})
	}()
	udpAddr, tcpAddr := s.Addrs()

	u, err := net.Dial("udp", udpAddr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(u, "<22>Nov 26 17:30:58 mx1 postfix/qmgr[1]: ABC: removed\n")
	u.Close()

	c, err := net.Dial("tcp", tcpAddr)
	if err != nil {
		t.Fatal(err)
	}
	m1 := "<22>1 2026-11-26T17:30:58Z mx1 postfix/smtp 12 - - ABC: to=<a@b>"
	fmt.Fprintf(c, "%d %s", len(m1), m1)               // octet-counted
	fmt.Fprint(c, "<22>Nov 26 17:30:59 mx1 x: line\n") // newline-framed on the same connection
	long := strings.Repeat("y", 300)
	fmt.Fprintf(c, "%d %s", len(long), long) // oversize, octet-counted
	fmt.Fprint(c, long+"\n")                 // oversize, newline
	fmt.Fprint(c, "<13>after\n")
	c.Close()

	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	byData := map[string]Message{}
	for _, m := range got {
		byData[string(m.Data)] = m
	}
	for _, want := range []string{
		"Nov 26 17:30:58 mx1 postfix/qmgr[1]: ABC: removed",
		"1 2026-11-26T17:30:58Z mx1 postfix/smtp 12 - - ABC: to=<a@b>",
		"Nov 26 17:30:59 mx1 x: line",
		"after",
	} {
		if _, ok := byData[want]; !ok {
			t.Errorf("missing message %q; got %d messages", want, len(got))
		}
	}
	truncated := 0
	for _, m := range got {
		if m.Truncated {
			truncated++
			if len(m.Data) != 100 {
				t.Errorf("truncated message has %d bytes, want 100", len(m.Data))
			}
		}
	}
	if truncated != 2 {
		t.Errorf("%d truncated messages, want 2", truncated)
	}
}

func TestStripPRI(t *testing.T) {
	for in, want := range map[string]string{
		"<22>x": "x", "<1>x": "x", "<191>x": "x", "<>x": "<>x", "<a>x": "<a>x", "x": "x", "<2222>x": "<2222>x",
	} {
		if got := string(StripPRI([]byte(in))); got != want {
			t.Errorf("StripPRI(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzSyslogTCP(f *testing.F) {
	f.Add([]byte("5 hello<13>x\n"))
	f.Add([]byte("99999999999 x"))
	f.Fuzz(func(t *testing.T, in []byte) {
		s := &Syslog{MaxMessage: 64}
		if err := s.Listen(); err != nil {
			t.Fatal(err)
		}
		a, b := net.Pipe()
		go func() { _, _ = a.Write(in); a.Close() }()
		s.serveConn(b, func(m Message) {
			if len(m.Data) > 64 && !m.Framing {
				t.Fatalf("message of %d bytes passed the bound", len(m.Data))
			}
		})
	})
}
