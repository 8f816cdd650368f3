package mta

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestPostfixHeaders runs the README's mxwarden_header_checks (Logging
// headers) in a real Postfix: cleanup logs one "info: header" line per
// matching header, and `ingest parse` must put the headers into the event
// of every recipient of the message.
func TestPostfixHeaders(t *testing.T) {
	t.Parallel()
	var missing []string
	if _, err := os.Stat(postfixCmd); err != nil {
		missing = append(missing, "postfix ("+postfixCmd+")")
	}
	requireTools(t, "Postfix", haveSwaks(missing))
	sink, err := StartSink()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	tables := workDir(t, "mxwarden-postfix-hc-")
	hc := filepath.Join(tables, "mxwarden_header_checks")
	if err := os.WriteFile(hc, []byte(`/^Subject:/                    INFO
/^List-Unsubscribe(-Post)?:/   INFO
/^Precedence:/                 INFO
/^List-Id:/                    INFO
/^X-Mailer:/                   INFO
/^Auto-Submitted:/             INFO
/^X-Cron-Env: <SHELL=/         INFO
`), 0o644); err != nil {
		t.Fatal(err)
	}
	pf := startPostfixOpts(t, sink.Port, policyServer(t), postfixOpts{main: "header_checks = regexp:" + hc + "\n"})

	// swaks writes its own X-Mailer among its default headers (replaced
	// in place by --header), before the ones --add-header appends.
	cases := []struct {
		name, mailer string
		headers      []string
		rcpts        []string
		want         []string
	}{
		{"bulk", "PHPlist v3.6 (sent from web7)", []string{"List-Unsubscribe: <https://shoes.example/u/1>, <mailto:unsub@shoes.example>",
			"List-Unsubscribe-Post: List-Unsubscribe=One-Click", "Precedence: bulk", "List-Id: Shoes news <news.shoes.example>", "X-Spam-Flag: NO"},
			[]string{"hdrbulk1@example.net", "hdrbulk2@example.net", "hdrbulk3@example.org"},
			[]string{"X-Mailer: PHPlist v3.6 (sent from web7)", "List-Unsubscribe: <https://shoes.example/u/1>, <mailto:unsub@shoes.example>",
				"List-Unsubscribe-Post: List-Unsubscribe=One-Click", "Precedence: bulk", "List-Id: Shoes news <news.shoes.example>"}},
		{"cron", "cron (mxwarden test)", []string{"Auto-Submitted: auto-generated", "X-Cron-Env: <SHELL=/bin/sh>", "X-Cron-Env: <HOME=/root>"},
			[]string{"hdrcron@example.net"}, []string{"X-Mailer: cron (mxwarden test)", "Auto-Submitted: auto-generated", "X-Cron-Env: <SHELL=/bin/sh>"}},
		{"plain", "", nil, []string{"hdrplain@example.net"}, nil},
	}
	for _, c := range cases {
		args := []string{"--server", "127.0.0.1", "--port", fmt.Sprint(pf.port), "--from", "news@shoes.example",
			"--to", strings.Join(c.rcpts, ","), "--header", "Subject: " + c.name}
		if c.mailer != "" {
			args = append(args, "--header", "X-Mailer: "+c.mailer)
		} else {
			args = append(args, "--header", "X-Mailer:") // an empty header: no entry
		}
		for _, h := range c.headers {
			args = append(args, "--add-header", h)
		}
		if out, err := exec.Command("swaks", args...).CombinedOutput(); err != nil {
			t.Fatalf("swaks %s: %v\n%s", c.name, err, out)
		}
	}
	waitLog(t, pf.maillog, 60*time.Second, func(log string) []string {
		var p []string
		for _, c := range cases {
			for _, r := range c.rcpts {
				if !strings.Contains(log, "to=<"+r+">") || !strings.Contains(log[strings.Index(log, "to=<"+r+">"):], "status=sent") {
					p = append(p, r)
				}
			}
		}
		return p
	})
	pf.stop(t)
	evs := parseLog(t, "postfix", pf.maillog)
	got := map[string]event{}
	for _, e := range evs {
		got[e.Recipient] = e
	}
	for _, c := range cases {
		for _, r := range c.rcpts {
			e, ok := got[r]
			if !ok {
				t.Errorf("%s: no event for %s", c.name, r)
				continue
			}
			if !reflect.DeepEqual(e.Headers, c.want) || e.Subject != c.name {
				t.Errorf("%s: %s event: subject %q, headers %q, want %q", c.name, r, e.Subject, e.Headers, c.want)
			}
		}
	}
	if t.Failed() {
		b, _ := os.ReadFile(pf.maillog)
		t.Logf("--- %s ---\n%s", pf.maillog, b)
	}
}
