// Package mta runs real MTAs (Debian's Postfix 3.7 and Exim 4.96) on
// 127.0.0.1, drives them with swaks, and lets them deliver to a scripted
// SMTP sink (this file) that answers like real receivers do: Gmail's
// multi-line rejections, a Spamhaus block, greylisting. The tests then run
// `ingest parse` on the MTA's own log and check that every recipient
// attempt appears as exactly one event with the right status and reason.
//
// scripts/mta/setup.sh installs what the tests need.
package mta

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// Phase is the SMTP command a scripted reply answers.
type Phase int

// The phases a rule can refuse at.
const (
	AtRCPT Phase = iota // the reply to RCPT TO
	AtDATA              // the reply to the end of DATA (the message is refused for every recipient)
)

func (p Phase) String() string {
	if p == AtDATA {
		return "end of DATA"
	}
	return "RCPT TO"
}

// Rule is one scripted answer, chosen by the prefix of the recipient's
// local part.
type Rule struct {
	Prefix string
	Phase  Phase
	Lines  []string // reply lines without the code and separator, e.g. "5.1.1 The email account ..."
	Code   int
}

// Reply renders the rule's reply as it goes on the wire: every line but
// the last with "code-", the last with "code ".
func (r Rule) Reply() string {
	var b strings.Builder
	for i, l := range r.Lines {
		sep := "-"
		if i == len(r.Lines)-1 {
			sep = " "
		}
		fmt.Fprintf(&b, "%d%s%s\r\n", r.Code, sep, l)
	}
	return b.String()
}

// Rules are the sink's scripted answers, from real receivers' wording.
// A recipient whose local part matches none is accepted.
var Rules = []Rule{
	// Gmail, nonexistent mailbox (at RCPT).
	{Prefix: "unknown", Phase: AtRCPT, Code: 550, Lines: []string{
		"5.1.1 The email account that you tried to reach does not exist. Please try",
		"5.1.1 double-checking the recipient's email address for typos or",
		"5.1.1 unnecessary spaces. For more information, go to",
		"5.1.1  https://support.google.com/mail/?p=NoSuchUser d2e1a72fcca58-7a1b2c3d4e5f6.12 - gsmtp",
	}},
	// Gmail, mailbox over quota (at RCPT).
	{Prefix: "full", Phase: AtRCPT, Code: 552, Lines: []string{
		"5.2.2 The email account that you tried to reach is over quota. Please direct",
		"5.2.2 the recipient to",
		"5.2.2  https://support.google.com/mail/?p=OverQuotaPerm d2e1a72fcca58-7a1b2c3d4e5f6.13 - gsmtp",
	}},
	// Greylisting (the wording of many greylisting milters).
	{Prefix: "greylist", Phase: AtRCPT, Code: 451, Lines: []string{
		"4.7.1 Greylisting in action, please come back later",
	}},
	// Gmail, per-recipient rate limit (at RCPT).
	{Prefix: "ratelimit", Phase: AtRCPT, Code: 450, Lines: []string{
		"4.2.1 The user you are trying to contact is receiving mail at a rate that",
		"4.2.1 prevents additional messages from being delivered. Please resend your",
		"4.2.1 message at a later time. If the user is able to receive mail at that",
		"4.2.1 time, your message will be delivered. For more information, go to",
		"4.2.1  https://support.google.com/mail/?p=ReceivingRate d2e1a72fcca58-7a1b2c3d4e5f6.14 - gsmtp",
	}},
	// A receiver running Postfix with reject_rbl_client zen.spamhaus.org.
	{Prefix: "blocked", Phase: AtRCPT, Code: 554, Lines: []string{
		"5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/127.0.0.1",
	}},
	// Gmail, content judged spam (after DATA).
	{Prefix: "spam", Phase: AtDATA, Code: 550, Lines: []string{
		"5.7.1 [127.0.0.1      12] Our system has detected that this message is",
		"5.7.1 likely unsolicited mail. To reduce the amount of spam sent to Gmail,",
		"5.7.1 this message has been blocked. For more information, go to",
		"5.7.1  https://support.google.com/mail/?p=UnsolicitedMessageError d2e1a72fcca58-7a1b2c3d4e5f6.15 - gsmtp",
	}},
	// Gmail, neither SPF nor DKIM pass (after DATA).
	{Prefix: "spf", Phase: AtDATA, Code: 550, Lines: []string{
		"5.7.26 This mail is unauthenticated, which poses a security risk to the",
		"5.7.26 sender and Gmail users, and has been blocked. The sender must",
		"5.7.26 authenticate with at least one of SPF or DKIM. For this message,",
		"5.7.26 DKIM checks did not pass and SPF check for [sender.test] did not",
		"5.7.26 pass with ip: [127.0.0.1]. The sender should visit",
		"5.7.26  https://support.google.com/mail/answer/81126#authentication for",
		"5.7.26 instructions on setting up authentication. d2e1a72fcca58-7a1b2c3d4e5f6.16 - gsmtp",
	}},
}

// Text is the reply's text as one line: each line without its enhanced
// status code and the spaces around it, joined by single spaces.
func (r Rule) Text() string {
	parts := make([]string, 0, len(r.Lines))
	for _, l := range r.Lines {
		if dsn, rest, ok := strings.Cut(l, " "); ok && strings.Count(dsn, ".") == 2 {
			l = rest
		}
		parts = append(parts, strings.TrimSpace(l))
	}
	return strings.Join(parts, " ")
}

// RuleFor returns the rule for a recipient address, and false when the
// sink accepts it.
func RuleFor(addr string) (Rule, bool) {
	local := strings.ToLower(addr)
	if i := strings.LastIndexByte(local, '@'); i >= 0 {
		local = local[:i]
	}
	for _, r := range Rules {
		if strings.HasPrefix(local, r.Prefix) {
			return r, true
		}
	}
	return Rule{}, false
}

// Delivery is one message the sink accepted.
type Delivery struct {
	From       string
	Recipients []string
	Data       string
}

// Sink is the scripted SMTP server. It speaks ESMTP with PIPELINING (the
// replies go out in order), ENHANCEDSTATUSCODES and 8BITMIME, and never
// TLS.
type Sink struct {
	Addr string // 127.0.0.1:port
	Port int
	ln   net.Listener
	wg   sync.WaitGroup

	mu       sync.Mutex
	accepted []Delivery
	conns    map[net.Conn]struct{}
	closed   bool
	msgs     int
}

// StartSink listens on a free 127.0.0.1 port and serves until Close.
func StartSink() (*Sink, error) {
	ln, err := new(net.ListenConfig).Listen(context.Background(), "tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	s := &Sink{Addr: ln.Addr().String(), Port: ln.Addr().(*net.TCPAddr).Port, ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

// Accepted returns a copy of the messages the sink accepted so far.
func (s *Sink) Accepted() []Delivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Delivery(nil), s.accepted...)
}

// Close stops listening, closes open sessions and waits for them.
func (s *Sink) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Sink) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
				c.Close()
			}()
			s.serve(c)
		}()
	}
}

const maxLine = 4096

func (s *Sink) serve(c net.Conn) {
	r := bufio.NewReaderSize(c, maxLine)
	w := bufio.NewWriter(c)
	reply := func(text string) bool {
		if _, err := w.WriteString(text); err != nil {
			return false
		}
		// With PIPELINING the client may have sent more commands: answer
		// them all before flushing, as real servers do, but never hold a
		// reply back when no command is waiting.
		if r.Buffered() > 0 {
			return true
		}
		return w.Flush() == nil
	}
	deadline := func() { c.SetDeadline(time.Now().Add(2 * time.Minute)) }
	deadline()
	if !reply("220 mx.sink.test ESMTP sink ready\r\n") {
		return
	}
	var (
		from     string
		inTx     bool
		rcpts    []string
		dataRule *Rule
	)
	reset := func() { from, inTx, rcpts, dataRule = "", false, nil, nil }
	for {
		deadline()
		line, err := readLine(r)
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			reset()
			if !reply("250-mx.sink.test at your service\r\n250-SIZE 157286400\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250 SMTPUTF8\r\n") {
				return
			}
		case "HELO":
			reset()
			if !reply("250 mx.sink.test at your service\r\n") {
				return
			}
		case "MAIL":
			addr, ok := pathArg(arg, "FROM:")
			if !ok {
				reply("501 5.5.4 Syntax: MAIL FROM:<address>\r\n")
				continue
			}
			reset()
			from, inTx = addr, true
			if !reply("250 2.1.0 OK - gsmtp\r\n") {
				return
			}
		case "RCPT":
			addr, ok := pathArg(arg, "TO:")
			switch {
			case !inTx:
				ok = reply("503 5.5.1 MAIL first.\r\n")
			case !ok:
				ok = reply("501 5.5.4 Syntax: RCPT TO:<address>\r\n")
			default:
				rule, matched := RuleFor(addr)
				if matched && rule.Phase == AtRCPT {
					ok = reply(rule.Reply())
					break
				}
				if matched && rule.Phase == AtDATA && dataRule == nil {
					dataRule = &rule
				}
				rcpts = append(rcpts, addr)
				ok = reply("250 2.1.5 OK - gsmtp\r\n")
			}
			if !ok {
				return
			}
		case "DATA":
			if !inTx || len(rcpts) == 0 {
				if !reply("554 5.5.1 Error: no valid recipients\r\n") {
					return
				}
				continue
			}
			if !reply("354 Go ahead - gsmtp\r\n") || w.Flush() != nil {
				return
			}
			data, err := readData(r)
			if err != nil {
				return
			}
			if dataRule != nil {
				if !reply(dataRule.Reply()) {
					return
				}
			} else {
				s.mu.Lock()
				s.msgs++
				id := s.msgs
				s.accepted = append(s.accepted, Delivery{From: from, Recipients: rcpts, Data: data})
				s.mu.Unlock()
				if !reply(fmt.Sprintf("250 2.0.0 OK  1732640000 d2e1a72fcca58-sink%d.17 - gsmtp\r\n", id)) {
					return
				}
			}
			reset()
		case "RSET":
			reset()
			if !reply("250 2.1.5 Flushed - gsmtp\r\n") {
				return
			}
		case "NOOP":
			if !reply("250 2.0.0 OK - gsmtp\r\n") {
				return
			}
		case "QUIT":
			reply("221 2.0.0 closing connection - gsmtp\r\n")
			w.Flush()
			return
		default:
			if !reply("502 5.5.1 Unrecognized command. - gsmtp\r\n") {
				return
			}
		}
	}
}

// readLine reads one CRLF (or LF) terminated command line.
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", fmt.Errorf("line longer than %d bytes", maxLine)
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// readData reads a DATA body up to the "." line, undoing dot-stuffing.
func readData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return "", err
		}
		t := strings.TrimRight(line, "\r\n")
		if t == "." {
			return b.String(), nil
		}
		t = strings.TrimPrefix(t, ".")
		b.WriteString(t)
		b.WriteString("\n")
		if b.Len() > 16<<20 {
			return "", fmt.Errorf("message too large")
		}
	}
}

// pathArg extracts the address from "FROM:<a@b> SIZE=1" (keyword
// case-insensitive, spaces after the colon tolerated).
func pathArg(arg, keyword string) (string, bool) {
	if len(arg) < len(keyword) || !strings.EqualFold(arg[:len(keyword)], keyword) {
		return "", false
	}
	rest := strings.TrimLeft(arg[len(keyword):], " ")
	if !strings.HasPrefix(rest, "<") {
		return "", false
	}
	end := strings.IndexByte(rest, '>')
	if end < 0 {
		return "", false
	}
	return rest[1:end], true
}
