package mta

import (
	"errors"
	"net/smtp"
	"net/textproto"
	"strings"
	"testing"
)

// TestSink checks the scripted answers with Go's own SMTP client; it
// needs no MTA and always runs.
func TestSink(t *testing.T) {
	t.Parallel()
	s, err := StartSink()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Hello("client.test"); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{"PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME"} {
		if ok, _ := c.Extension(ext); !ok {
			t.Errorf("sink does not advertise %s", ext)
		}
	}

	// RCPT-time answers, multi-line where the real receiver's is.
	if err := c.Mail("s@sender.test"); err != nil {
		t.Fatal(err)
	}
	for _, r := range Rules {
		if r.Phase != AtRCPT {
			continue
		}
		err := c.Rcpt(r.Prefix + "-x@dest.test")
		var te *textproto.Error
		if !errors.As(err, &te) {
			t.Fatalf("RCPT %s: %v, want a %d reply", r.Prefix, err, r.Code)
		}
		if te.Code != r.Code || te.Msg != strings.Join(r.Lines, "\n") {
			t.Errorf("RCPT %s: %d %q, want %d %q", r.Prefix, te.Code, te.Msg, r.Code, strings.Join(r.Lines, "\n"))
		}
	}
	if err := c.Rcpt("ok-1@dest.test"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("OK-2@dest.test"); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: t\r\n\r\n.leading dot\r\n"))
	if err := w.Close(); err != nil {
		t.Fatalf("DATA for ok recipients: %v", err)
	}
	got := s.Accepted()
	if len(got) != 1 || strings.Join(got[0].Recipients, ",") != "ok-1@dest.test,OK-2@dest.test" || got[0].Data != "Subject: t\n\n.leading dot\n" { // dot-stuffing undone
		t.Errorf("accepted %+v", got)
	}

	// DATA-time answers refuse the whole message.
	for _, r := range Rules {
		if r.Phase != AtDATA {
			continue
		}
		if err := c.Mail("s@sender.test"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt("ok-3@dest.test"); err != nil {
			t.Fatal(err)
		}
		if err := c.Rcpt(r.Prefix + "-x@dest.test"); err != nil {
			t.Fatal(err)
		}
		w, err := c.Data()
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("Subject: t\r\n\r\nbody\r\n"))
		err = w.Close()
		var te *textproto.Error
		if !errors.As(err, &te) || te.Code != r.Code || !strings.HasPrefix(te.Msg, r.Lines[0]) {
			t.Errorf("end of DATA with %s: %v, want %d %s", r.Prefix, err, r.Code, r.Lines[0])
		}
	}
	if n := len(s.Accepted()); n != 1 {
		t.Errorf("%d messages accepted, want 1", n)
	}
	if err := c.Quit(); err != nil {
		t.Fatal(err)
	}
}

func TestRuleText(t *testing.T) {
	r, ok := RuleFor("Unknown-9@Dest.Test")
	if !ok || r.Code != 550 {
		t.Fatalf("RuleFor: %+v %v", r, ok)
	}
	want := "The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser d2e1a72fcca58-7a1b2c3d4e5f6.12 - gsmtp"
	if got := r.Text(); got != want {
		t.Errorf("Text:\n got %q\nwant %q", got, want)
	}
	if !strings.HasPrefix(r.Reply(), "550-5.1.1 The email") || !strings.Contains(r.Reply(), "\r\n550 5.1.1  https://") {
		t.Errorf("Reply: %q", r.Reply())
	}
	if _, ok := RuleFor("ok-1@dest.test"); ok {
		t.Error("ok-1 matched a rule")
	}
}
