//go:build chdb

package history

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"
)

// BenchmarkEmbeddedInsert: rows/s into the embedded engine (chDB), event
// rows as the writer sends them (TSV), 100k-row batches from 2 goroutines.
func BenchmarkEmbeddedInsert(b *testing.B) {
	s := embeddedStore(b)
	benchInsert(b, s, 2)
}

// BenchmarkPack: p95 of each pack query over MXWARDEN_BENCH_EVENTS events
// (default 1M; make bench uses 10M) generated in the engine.
func BenchmarkPack(b *testing.B) {
	n := 1000000
	if v, err := strconv.Atoi(os.Getenv("MXWARDEN_BENCH_EVENTS")); err == nil && v > 0 {
		n = v
	}
	s := embeddedStore(b)
	ctx := context.Background()
	if benchGenerated != n { // b.N changes rerun the benchmark: generate once
		generateBench(b, s, n)
		benchGenerated = n
	}
	params := map[string]map[string]string{
		"why-banned":      {"subject": "user42@customer42.example"},
		"sender-timeline": {"sender": "user42@customer42.example", "days": "1"},
	}
	b.ResetTimer()
	var worst time.Duration
	for _, name := range PackNames() {
		var ds []time.Duration
		for i := 0; i < max(b.N, 20); i++ {
			t0 := time.Now()
			if _, err := RunPack(ctx, s, name, params[name], ReadOnly{Timeout: time.Minute, MaxRows: 100000}); err != nil {
				b.Fatalf("%s: %v", name, err)
			}
			ds = append(ds, time.Since(t0))
		}
		p := p95(ds)
		worst = max(worst, p)
		b.ReportMetric(float64(p.Microseconds())/1000, name+"-p95-ms")
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-p95-ms")
	b.ReportMetric(float64(n), "events")
}

// benchGenerated is how many events the last generateBench made.
var benchGenerated int

// generateBench fills the tables with n events of a week and some verdicts,
// bans and queue samples.
func generateBench(b *testing.B, s Store, n int) {
	ctx := context.Background()
	db := s.Database()
	for _, t := range []string{"events", "verdicts", "bans", "queue_samples"} {
		if err := s.Exec(ctx, "TRUNCATE TABLE "+db+"."+t); err != nil {
			b.Fatal(err)
		}
	}
	start := time.Now()
	// A week of traffic: 300 accounts, 5000 senders, 2000 recipient domains;
	// 5% user unknown, 2% no MX, 3% deferred by a few providers.
	gen := fmt.Sprintf(`INSERT INTO %[1]s.events (ts, id, mta, host, queue_id, account, sender, sender_domain, recipient, recipient_domain,
  status, dsn, reply_code, reply_text, reason, relay, client_ip, sasl_user, message_id, size, subject)
SELECT now() - toIntervalSecond(number %% 604800), concat('mx1:1-1:', toString(number)), 'postfix', concat('mx', toString(number %% 4)),
  hex(number), concat('acct', toString(number %% 300)), concat('user', toString(number %% 5000), '@customer', toString(number %% 300), '.example'),
  concat('customer', toString(number %% 300), '.example'), concat('r', toString(number), '@dest', toString(number %% 2000), '.example'),
  concat('dest', toString(number %% 2000), '.example'),
  multiIf(number %% 100 < 5, 'bounced', number %% 100 < 7, 'bounced', number %% 100 < 10, 'deferred', 'sent'),
  '', 250, '', multiIf(number %% 100 < 5, 'user_unknown', number %% 100 < 7, 'host_not_found', number %% 100 < 10, 'rate_limited', ''),
  multiIf(number %% 3 = 0, 'gmail-smtp-in.l.google.com[142.250.1.27]:25', number %% 3 = 1, 'mx.outlook.example[192.0.2.1]:25', 'mx.dest.example[192.0.2.7]:25'),
  '203.0.113.9', concat('acct', toString(number %% 300)), '', 4096, ''
FROM numbers(%[2]d) SETTINGS async_insert = 0`, db, n)
	if err := s.Exec(ctx, gen); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{
		fmt.Sprintf(`INSERT INTO %s.verdicts (ts, id, rule, subject_kind, subject, action, message, evidence, expires, window_start, window_end, first_event_id, last_event_id, shadow)
SELECT now() - toIntervalSecond(number * 60), toString(number), 'invalid_recipients', 'sender', concat('user', toString(number %% 5000), '@customer', toString(number %% 300), '.example'),
  'ban', 'blocked', '{}', now(), now() - toIntervalSecond(number * 60 + 3600), now() - toIntervalSecond(number * 60), '', '', 0 FROM numbers(10000) SETTINGS async_insert = 0`, db),
		fmt.Sprintf(`INSERT INTO %s.bans (ts, row_id, op, source, actor, subject_kind, subject, rule, action, message, evidence, expires, level, verdict_id, shadow)
SELECT now() - toIntervalSecond(number * 60), toString(number), if(number %% 10 = 0, 'lift', 'ban'), 'rule', if(number %% 10 = 0, 'alice', ''), 'sender',
  concat('user', toString(number %% 5000), '@customer', toString(number %% 300), '.example'), 'invalid_recipients', 'ban', '', '{}', now(), 1, '', 0 FROM numbers(10000) SETTINGS async_insert = 0`, db),
		fmt.Sprintf(`INSERT INTO %s.queue_samples (ts, row_id, mta, host, total, queues, top_senders, top_sender_counts, top_reasons, top_reason_counts)
SELECT now() - toIntervalSecond(number * 30), toString(number), 'postfix', concat('mx', toString(number %% 4)), number %% 1000, '{}',
  ['user1@customer1.example', 'user2@customer2.example'], [toUInt32(number %% 500), 3], [], [] FROM numbers(20000) SETTINGS async_insert = 0`, db),
	} {
		if err := s.Exec(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("generated %d events in %s", n, time.Since(start).Round(time.Millisecond))
}
