// Package demo writes a live, realistic Postfix log for `make run`: normal
// outbound traffic from a few customers, plus one customer whose script
// hammers invalid recipients (the seed's "too many emails to invalid
// recipients" case), so the pipeline has something to ban.
package demo

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"time"
)

// Options shape the generated traffic.
type Options struct {
	// Rate is messages per second. Default 20.
	Rate float64
	// Duration stops the generator after this long; 0 runs until ctx ends.
	Duration time.Duration
	// AbuseAfter is when the abusive sender starts. Default 3s.
	AbuseAfter time.Duration
	// Abuser is the sender that hammers invalid recipients.
	Abuser string
	// Seed makes the traffic reproducible.
	Seed uint64
	// Host is the MTA host name in the log lines. Default mx1.
	Host string
	// Now is the clock; default time.Now.
	Now func() time.Time
}

var (
	normalSenders = []struct{ addr, sasl, client string }{
		{"billing@acme-hosting.example", "acme", "web1.acme-hosting.example[192.0.2.10]"},
		{"noreply@bakery-shop.example", "bakery", "shop.bakery-shop.example[192.0.2.21]"},
		{"alice@law-office.example", "lawoffice", "unknown[198.51.100.33]"},
		{"support@saas-tool.example", "saastool", "app.saas-tool.example[192.0.2.44]"},
	}
	goodRecipients = []struct{ addr, relay, reply string }{
		{"customer1@gmail.com", "gmail-smtp-in.l.google.com[142.250.102.27]:25", "250 2.0.0 OK  1764177000 a640c23a62f3a-abc123.5 - gsmtp"},
		{"j.doe@outlook.com", "outlook-com.olc.protection.outlook.com[52.101.73.3]:25", "250 2.6.0 <msg@acme> [InternalId=123, Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com] Queued mail for delivery"},
		{"partner@yahoo.com", "mta7.am0.yahoodns.net[67.195.204.79]:25", "250 ok dirdel"},
		{"info@gmx.de", "mx00.emig.gmx.net[212.227.15.9]:25", "250 Requested mail action okay, completed: id=1Mabc-1xyz"},
	}
)

// Run writes lines to w until ctx ends or opts.Duration passes.
func Run(ctx context.Context, w io.Writer, opts Options) error {
	if opts.Rate <= 0 {
		opts.Rate = 20
	}
	if opts.AbuseAfter == 0 {
		opts.AbuseAfter = 3 * time.Second
	}
	if opts.Abuser == "" {
		opts.Abuser = "newsletter@cheap-leads.example"
	}
	if opts.Host == "" {
		opts.Host = "mx1"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rng := rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
	bw := bufio.NewWriter(w)
	start := opts.Now()
	tick := time.NewTicker(time.Duration(float64(time.Second) / opts.Rate))
	defer tick.Stop()
	pid := 1000
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return bw.Flush()
		case <-tick.C:
		}
		now := opts.Now()
		if opts.Duration > 0 && now.Sub(start) > opts.Duration {
			return bw.Flush()
		}
		pid++
		qid := fmt.Sprintf("%X", rng.Uint64()>>24)
		ts := now.Format(time.Stamp)
		pre := func(prog string) string { return fmt.Sprintf("%s %s postfix/%s[%d]: ", ts, opts.Host, prog, pid) }
		abusive := now.Sub(start) >= opts.AbuseAfter && i%2 == 0
		var from, sasl, client string
		if abusive {
			from, sasl, client = opts.Abuser, "cheapleads", "vps.cheap-leads.example[203.0.113.66]"
		} else {
			s := normalSenders[rng.IntN(len(normalSenders))]
			from, sasl, client = s.addr, s.sasl, s.client
		}
		fmt.Fprintf(bw, "%s%s: client=%s, sasl_method=PLAIN, sasl_username=%s\n", pre("submission/smtpd"), qid, client, sasl)
		fmt.Fprintf(bw, "%s%s: message-id=<%d.%s@%s>\n", pre("cleanup"), qid, i, qid, domainOf(from))
		fmt.Fprintf(bw, "%s%s: from=<%s>, size=%d, nrcpt=1 (queue active)\n", pre("qmgr"), qid, from, 2000+rng.IntN(30000))
		switch {
		case abusive && rng.IntN(10) < 8:
			user := fmt.Sprintf("lead%05d", rng.IntN(100000))
			fmt.Fprintf(bw, "%s%s: to=<%s@example.org>, relay=mx.example.org[198.51.100.7]:25, delay=0.41, delays=0.02/0/0.2/0.19, dsn=5.1.1, status=bounced (host mx.example.org[198.51.100.7] said: 550 5.1.1 <%s@example.org>: Recipient address rejected: User unknown in virtual mailbox table (in reply to RCPT TO command))\n",
				pre("smtp"), qid, user, user)
			fmt.Fprintf(bw, "%s%s: sender non-delivery notification: %X\n", pre("bounce"), qid, rng.Uint64()>>24)
		case !abusive && rng.IntN(50) == 0:
			fmt.Fprintf(bw, "%s%s: to=<old.colleague@gmail.com>, relay=gmail-smtp-in.l.google.com[142.250.102.27]:25, delay=0.6, delays=0.1/0/0.3/0.2, dsn=5.1.1, status=bounced (host gmail-smtp-in.l.google.com[142.250.102.27] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the recipient's email address for typos or unnecessary spaces. For more information, go to https://support.google.com/mail/?p=NoSuchUser a640c23a62f3a-abc.12 - gsmtp (in reply to RCPT TO command))\n",
				pre("smtp"), qid)
		default:
			r := goodRecipients[rng.IntN(len(goodRecipients))]
			fmt.Fprintf(bw, "%s%s: to=<%s>, relay=%s, delay=0.52, delays=0.05/0/0.21/0.26, dsn=2.0.0, status=sent (%s)\n",
				pre("smtp"), qid, r.addr, r.relay, r.reply)
		}
		fmt.Fprintf(bw, "%s%s: removed\n", pre("qmgr"), qid)
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("write demo log: %w", err)
		}
	}
}

func domainOf(addr string) string {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == '@' {
			return addr[i+1:]
		}
	}
	return "localhost"
}

// Command implements `ingest demo`.
func Command(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "-", "file to append to (- for stdout)")
	rate := fs.Float64("rate", 20, "messages per second")
	dur := fs.Duration("duration", 0, "stop after this long (0: until interrupted)")
	after := fs.Duration("abuse-after", 3*time.Second, "when the abusive sender starts")
	seed := fs.Uint64("seed", 1, "random seed")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var w io.Writer = stdout
	if *out != "-" {
		f, err := os.OpenFile(*out, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("open %s: %w", *out, err)
		}
		defer f.Close()
		w = f
	}
	return Run(ctx, w, Options{Rate: *rate, Duration: *dur, AbuseAfter: *after, Seed: *seed})
}
