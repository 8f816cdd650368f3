package parse

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// dayLog writes about n lines of a shared outbound host's day, in the
// wording of the corpus and of the big providers' replies: submission
// with SASL, TLS and connect/disconnect noise, subjects logged by
// header_checks WARN, many recipients per message (1 to 40, most few),
// a tenth of them bounced or deferred with the providers' long multi-line
// texts, rejects, SASL brute force, postscreen and anvil lines. It is
// deterministic (seeded), so every run measures the same bytes.
func dayLog(n int, write func(line string)) int {
	r := rand.New(rand.NewPCG(9, 2026))
	ts := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	lines := 0
	put := func(prog, pid, msg string) {
		write(ts.Format(time.Stamp) + " mx1 postfix/" + prog + "[" + pid + "]: " + msg)
		lines++
	}
	customers := []string{"acme", "bakery", "lawoffice", "saastool", "newsletter", "shop", "clinic", "school"}
	subjects := []string{
		"Your invoice %d is ready", "=?UTF-8?B?UmU6IEFuZ2Vib3Qgw7xiZXIgZGllIExpZWZlcnVuZw==?=", "Order #%d confirmation",
		"Newsletter November: 12 offers you should not miss, only this week, free shipping", "Password reset for account %d",
		"Re: meeting tomorrow at 10:00", "[ticket-%d] Your request has been received",
	}
	domains := []struct{ dom, relay, ok, bad, later string }{
		{"gmail.com", "gmail-smtp-in.l.google.com[142.250.102.27]:25", "250 2.0.0 OK  1764177000 a640c23a62f3a-abc123.5 - gsmtp",
			"host gmail-smtp-in.l.google.com[142.250.102.27] said: 550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. For more information, go to 550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a640c23a62f3a-abc123.5 - gsmtp (in reply to RCPT TO command)",
			"host gmail-smtp-in.l.google.com[142.250.102.27] said: 421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating 421-4.7.28 from your IP address. To protect our users from spam, mail sent from 421-4.7.28 your IP address has been temporarily rate limited. For more information, go to 421 4.7.28  https://support.google.com/mail/?p=UnsolicitedRateLimitError a640c23a62f3a-abc123.5 - gsmtp (in reply to end of DATA command)"},
		{"outlook.com", "outlook-com.olc.protection.outlook.com[52.101.73.3]:25", "250 2.6.0 <msg@acme> [InternalId=123, Hostname=AM0PR01MB1234.eurprd01.prod.exchangelabs.com] Queued mail for delivery",
			"host outlook-com.olc.protection.outlook.com[52.101.73.3] said: 550 5.7.1 Unfortunately, messages from [192.0.2.25] weren't sent. Please contact your Internet service provider since part of their network is on our block list (S3150). You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors. [AM6EUR05FT012.eop-eur05.prod.protection.outlook.com] (in reply to MAIL FROM command)",
			"host outlook-com.olc.protection.outlook.com[52.101.73.3] said: 451 4.7.650 The mail server [192.0.2.25] has been temporarily rate limited due to IP reputation. For e-mail delivery information, see https://postmaster.live.com (S775) [Name=Protocol Filter Agent][AGT=PFA] (in reply to MAIL FROM command)"},
		{"yahoo.com", "mta7.am0.yahoodns.net[67.195.204.79]:25", "250 ok dirdel",
			"host mta7.am0.yahoodns.net[67.195.204.79] said: 554 delivery error: dd This user doesn't have a yahoo.com account (someone@yahoo.com) [0] - mta1234.mail.ne1.yahoo.com (in reply to end of DATA command)",
			"host mta7.am0.yahoodns.net[67.195.204.79] said: 421 4.7.0 [TSS04] Messages from 192.0.2.25 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes (in reply to MAIL FROM command)"},
		{"gmx.de", "mx00.emig.gmx.net[212.227.15.9]:25", "250 Requested mail action okay, completed: id=1Mabc-1xyz",
			"host mx00.emig.gmx.net[212.227.15.9] said: 550 Requested action not taken: mailbox unavailable (in reply to RCPT TO command)",
			"host mx00.emig.gmx.net[212.227.15.9] said: 452 4.2.2 Mailbox full (in reply to RCPT TO command)"},
	}
	for q := 0; lines < n; q++ {
		ts = ts.Add(time.Duration(r.IntN(400)) * time.Millisecond)
		qid := fmt.Sprintf("%X", 0x4A000000+uint64(q)*7919)
		cust := customers[r.IntN(len(customers))]
		ip := fmt.Sprintf("198.51.100.%d", 1+r.IntN(250))
		client := "web" + strconv.Itoa(r.IntN(9)) + "." + cust + ".example[" + ip + "]"
		sender := "noreply@" + cust + ".example"
		switch k := r.IntN(100); {
		case k < 4: // a brute-force attempt
			put("submission/smtpd", "4211", "warning: unknown["+ip+"]: SASL LOGIN authentication failed: UGFzc3dvcmQ6")
			continue
		case k < 8: // a refused recipient
			put("smtpd", "4212", "NOQUEUE: reject: RCPT from "+client+": 554 5.7.1 <spam@"+cust+".example>: Recipient address rejected: Access denied; from=<"+sender+"> to=<x"+strconv.Itoa(q)+"@"+cust+".example> proto=ESMTP helo=<web.example>")
			continue
		case k < 10:
			put("postscreen", "4213", "CONNECT from ["+ip+"]:52112 to [192.0.2.25]:25")
			put("postscreen", "4213", "PASS OLD ["+ip+"]:52112")
			continue
		case k < 11:
			put("anvil", "26", "statistics: max connection rate 3/60s for (submission:"+ip+") at Nov 24 10:59:09")
			continue
		}
		smtpd := strconv.Itoa(30000 + r.IntN(999))
		put("submission/smtpd", smtpd, "connect from "+client)
		put("submission/smtpd", smtpd, "Anonymous TLS connection established from "+client+": TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits) key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256")
		put("submission/smtpd", smtpd, qid+": client="+client+", sasl_method=PLAIN, sasl_username="+cust+"@"+cust+".example")
		put("cleanup", "30637", qid+": message-id=<"+strconv.Itoa(q)+"."+strconv.Itoa(r.IntN(1e9))+"@"+cust+".example>")
		subj := subjects[r.IntN(len(subjects))]
		if r.IntN(2) == 0 {
			subj = fmt.Sprintf(subj, r.IntN(100000))
		}
		rc := 1 + r.IntN(3)
		if r.IntN(10) == 0 {
			rc = 5 + r.IntN(36)
		}
		first := domains[r.IntN(len(domains))]
		put("cleanup", "30637", qid+": warning: header Subject: "+subj+" from "+client+"; from=<"+sender+"> to=<c0@"+first.dom+"> proto=ESMTP helo=<web.example>")
		put("qmgr", "26163", qid+": from=<"+sender+">, size="+strconv.Itoa(2000+r.IntN(200000))+", nrcpt="+strconv.Itoa(rc)+" (queue active)")
		put("submission/smtpd", smtpd, "disconnect from "+client+" ehlo=2 starttls=1 auth=1 mail=1 rcpt="+strconv.Itoa(rc)+" data=1 quit=1 commands="+strconv.Itoa(7+rc))
		for i := 0; i < rc; i++ {
			d := domains[r.IntN(len(domains))]
			to := "c" + strconv.Itoa(r.IntN(50000)) + "@" + d.dom
			delay := "delay=" + strconv.Itoa(r.IntN(3)) + "." + strconv.Itoa(r.IntN(100)) + ", delays=0.1/0/0.2/0.3"
			switch k := r.IntN(100); {
			case k < 6:
				put("smtp", "31"+strconv.Itoa(i%10), qid+": to=<"+to+">, relay="+d.relay+", "+delay+", dsn=5.0.0, status=bounced ("+d.bad+")")
			case k < 10:
				put("smtp", "31"+strconv.Itoa(i%10), qid+": to=<"+to+">, relay="+d.relay+", "+delay+", dsn=4.0.0, status=deferred ("+d.later+")")
			default:
				put("smtp", "31"+strconv.Itoa(i%10), qid+": to=<"+to+">, relay="+d.relay+", "+delay+", dsn=2.0.0, status=sent ("+d.ok+")")
			}
		}
		put("qmgr", "26163", qid+": removed")
	}
	return lines
}

// TestWriteDayLog writes dayLog's lines to $MXWARDEN_DAYLOG_OUT
// ($MXWARDEN_DAYLOG_LINES lines, default 370,000): the file scripts/bench.sh
// runs `ingest parse` over. Without the variable it checks that the log
// parses without a rejected line.
func TestWriteDayLog(t *testing.T) {
	out := os.Getenv("MXWARDEN_DAYLOG_OUT")
	if out == "" {
		p := newTestParser(t, Options{})
		events := 0
		var ferr error
		n := dayLog(20_000, func(l string) {
			if err := p.Feed([]byte(l), "d", func(*event.DeliveryEvent) { events++ }); err != nil && ferr == nil {
				ferr = fmt.Errorf("%w: %s", err, l)
			}
		})
		if ferr != nil {
			t.Fatal(ferr)
		}
		t.Logf("%d lines, %d events", n, events)
		return
	}
	n := 370_000
	if s := os.Getenv("MXWARDEN_DAYLOG_LINES"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatal(err)
		}
		n = v
	}
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	dayLog(n, func(l string) { w.WriteString(l); w.WriteByte('\n') })
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// BenchmarkBareScan reads $MXWARDEN_DAYLOG with a bufio.Scanner and does
// nothing else: the floor any line reader pays, next to which
// scripts/bench.sh puts the whole `ingest parse` process.
func BenchmarkBareScan(b *testing.B) {
	path := os.Getenv("MXWARDEN_DAYLOG")
	if path == "" {
		b.Skip("MXWARDEN_DAYLOG not set (scripts/bench.sh sets it)")
	}
	var lines int
	start := time.Now()
	for i := 0; i < b.N; i++ {
		f, err := os.Open(path)
		if err != nil {
			b.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines++
		}
		f.Close()
	}
	b.ReportMetric(float64(lines)/time.Since(start).Seconds(), "lines/s")
}

// BenchmarkDayLog measures parse + join (no encoding) over dayLog's
// lines in memory.
func BenchmarkDayLog(b *testing.B) {
	var lines [][]byte
	dayLog(370_000, func(l string) { lines = append(lines, []byte(l)) })
	benchFeed(b, lines)
}
