package mta

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestEximAuthFailures brute-forces SMTP AUTH against a real Exim 4.96
// (a plaintext authenticator that only lets good/secret in) and checks
// that `ingest parse` turns each refused attempt into one auth_failed
// event with the client IP and the login tried, and the successful login
// into none.
func TestEximAuthFailures(t *testing.T) {
	t.Parallel()
	bin := requireExim(t, true)
	sink, err := StartSink()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	ex := startExim(t, bin, sink.Port)
	logins := []struct {
		user, pass string
		ok         bool
	}{{"admin", "123456", false}, {"admin", "password", false}, {"info@mta.test.example", "qwerty", false}, {"good", "secret", true}}
	for _, l := range logins {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := exec.CommandContext(ctx, "swaks", "--server", "127.0.0.1", "--port", fmt.Sprint(ex.port),
			"--helo", "client.sender.test", "--from", "a@mta.test.example", "--to", "b@dest.test",
			"--auth", "PLAIN", "--auth-user", l.user, "--auth-password", l.pass, "--quit-after", "AUTH", "--timeout", "30").CombinedOutput()
		cancel()
		if (err == nil) != l.ok {
			t.Fatalf("swaks AUTH %s: err %v, want ok=%v\n%s", l.user, err, l.ok, out)
		}
	}
	waitLog(t, ex.mainlog, 30*time.Second, func(log string) []string {
		var pending []string
		if n := countSubstr(log, "authenticator failed for"); n < 3 {
			pending = append(pending, fmt.Sprintf("%d of 3 authenticator failures logged", n))
		}
		return pending
	})
	ex.stop(t)
	evs := parseLog(t, "exim", ex.mainlog)
	var got []string
	for _, e := range evs {
		if e.Status == "auth_failed" {
			got = append(got, e.ClientIP+" "+e.SASLUser+" "+fmt.Sprint(e.ReplyCode))
		}
	}
	want := []string{"127.0.0.1 admin 535", "127.0.0.1 admin 535", "127.0.0.1 info@mta.test.example 535"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		b, _ := os.ReadFile(ex.mainlog)
		t.Errorf("auth_failed events %q, want %q\n--- mainlog ---\n%s", got, want, b)
	}
}

func countSubstr(s, sub string) int {
	n := 0
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			n++
		}
	}
	return n
}
