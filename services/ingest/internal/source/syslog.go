package source

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"
)

// Syslog receives syslog messages over UDP (one message per datagram) and
// TCP (RFC 6587: octet-counted "LEN SP MSG" frames, or newline-terminated
// messages; the first byte of each frame tells which). Each message is
// handed to the callback with its <PRI> prefix removed, so what remains is
// what a log file would hold (RFC 3164 "Nov 26 17:30:58 host prog[pid]: ..."
// or RFC 5424 "1 2026-11-26T17:30:58Z host prog pid - - ..."), and the
// parsers read both forms.
//
// Framing is done here rather than with a syslog library because the
// parsers need the raw line, not a decoded message: decoding each message
// into fields and printing it again would cost more than the parse itself.
type Syslog struct {
	// UDP and TCP are listen addresses; "" disables that transport.
	UDP, TCP string
	// MaxMessage bounds one message in bytes; longer ones are cut and
	// flagged Truncated. Default 16 KiB.
	MaxMessage int
	// MaxConns bounds concurrent TCP connections. Default 256.
	MaxConns int
	// IdleTimeout closes TCP connections silent for this long. Default 5m.
	IdleTimeout time.Duration
	Logger      *slog.Logger

	mu      sync.Mutex
	udpConn net.PacketConn
	tcpLn   net.Listener
}

// Message is one received syslog message.
type Message struct {
	Data      []byte // the message without <PRI>; valid only during the callback
	Transport string // "udp" or "tcp"
	Truncated bool
	// Framing is set on a TCP frame the receiver could not read (bad
	// octet count); Data then holds the bytes in question.
	Framing bool
}

// Addrs returns the bound addresses (after Run started listening).
func (s *Syslog) Addrs() (udp, tcp string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udpConn != nil {
		udp = s.udpConn.LocalAddr().String()
	}
	if s.tcpLn != nil {
		tcp = s.tcpLn.Addr().String()
	}
	return udp, tcp
}

// Listen binds the configured addresses.
func (s *Syslog) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.MaxMessage <= 0 {
		s.MaxMessage = 16 << 10
	}
	if s.MaxConns <= 0 {
		s.MaxConns = 256
	}
	if s.IdleTimeout <= 0 {
		s.IdleTimeout = 5 * time.Minute
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.UDP != "" && s.udpConn == nil {
		c, err := new(net.ListenConfig).ListenPacket(context.Background(), "udp", s.UDP)
		if err != nil {
			return fmt.Errorf("listen syslog udp %s: %w", s.UDP, err)
		}
		s.udpConn = c
	}
	if s.TCP != "" && s.tcpLn == nil {
		ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp", s.TCP)
		if err != nil {
			return fmt.Errorf("listen syslog tcp %s: %w", s.TCP, err)
		}
		s.tcpLn = ln
	}
	return nil
}

// Run receives until ctx ends, calling fn for every message. fn is called
// from one goroutine per transport and TCP connection, so it must be safe
// for concurrent use.
func (s *Syslog) Run(ctx context.Context, fn func(Message)) error {
	if err := s.Listen(); err != nil {
		return err
	}
	var wg sync.WaitGroup
	if s.udpConn != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.serveUDP(fn) }()
	}
	if s.tcpLn != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.serveTCP(ctx, fn) }()
	}
	<-ctx.Done()
	s.mu.Lock()
	if s.udpConn != nil {
		s.udpConn.Close()
	}
	if s.tcpLn != nil {
		s.tcpLn.Close()
	}
	s.mu.Unlock()
	wg.Wait()
	return nil
}

func (s *Syslog) serveUDP(fn func(Message)) {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := s.udpConn.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.Logger.Warn("syslog udp read", "err", err)
			}
			return
		}
		msg := bytes.TrimRight(buf[:n], "\r\n\x00")
		s.deliver(msg, "udp", fn)
	}
}

func (s *Syslog) serveTCP(ctx context.Context, fn func(Message)) {
	sem := make(chan struct{}, s.MaxConns)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := s.tcpLn.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.Logger.Warn("syslog tcp accept", "err", err)
			}
			return
		}
		select {
		case sem <- struct{}{}:
		default:
			s.Logger.Warn("syslog tcp connection refused: too many connections", "max_conns", s.MaxConns)
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			stop := context.AfterFunc(ctx, func() { c.Close() })
			defer stop()
			s.serveConn(c, fn)
		}()
	}
}

// serveConn reads frames until EOF or error. A frame starting with a digit
// is octet-counted; anything else runs to the next newline.
func (s *Syslog) serveConn(c net.Conn, fn func(Message)) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 64<<10)
	var line []byte
	for {
		_ = c.SetReadDeadline(time.Now().Add(s.IdleTimeout))
		b, err := r.Peek(1)
		if err != nil {
			return
		}
		if b[0] >= '1' && b[0] <= '9' {
			lenStr, err := r.ReadSlice(' ')
			if err != nil || len(lenStr) > 10 {
				fn(Message{Data: lenStr, Transport: "tcp", Framing: true})
				return // the stream cannot be resynchronised
			}
			n, err := strconv.Atoi(string(lenStr[:len(lenStr)-1]))
			if err != nil || n <= 0 || n > 16<<20 {
				fn(Message{Data: lenStr, Transport: "tcp", Framing: true})
				return
			}
			keep := min(n, s.MaxMessage+1)
			if cap(line) < keep {
				line = make([]byte, keep)
			}
			line = line[:keep]
			if _, err := io.ReadFull(r, line); err != nil {
				return
			}
			if _, err := r.Discard(n - keep); err != nil {
				return
			}
			s.deliver(bytes.TrimRight(line, "\r\n"), "tcp", fn)
			continue
		}
		line = line[:0]
		for {
			chunk, err := r.ReadSlice('\n')
			if len(line) <= s.MaxMessage {
				line = append(line, chunk[:min(len(chunk), s.MaxMessage+1-len(line))]...)
			}
			if err == nil {
				break
			}
			if !errors.Is(err, bufio.ErrBufferFull) {
				if len(line) > 0 {
					s.deliver(bytes.TrimRight(line, "\r\n"), "tcp", fn)
				}
				return
			}
		}
		s.deliver(bytes.TrimRight(line, "\r\n"), "tcp", fn)
	}
}

func (s *Syslog) deliver(msg []byte, transport string, fn func(Message)) {
	if len(msg) == 0 {
		return
	}
	msg = StripPRI(msg)
	m := Message{Data: msg, Transport: transport}
	if len(msg) > s.MaxMessage {
		m.Data, m.Truncated = msg[:s.MaxMessage], true
	}
	fn(m)
}

// StripPRI removes a leading "<N>" priority (N of 1 to 3 digits).
func StripPRI(b []byte) []byte {
	if len(b) < 3 || b[0] != '<' {
		return b
	}
	for i := 1; i < len(b) && i <= 4; i++ {
		if b[i] == '>' {
			if i == 1 {
				return b
			}
			return b[i+1:]
		}
		if b[i] < '0' || b[i] > '9' {
			return b
		}
	}
	return b
}
