//go:build chdb

package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

const hostileSubject = "<script>alert(1)</script>\n\"quoted\" \\ back\x00nul\u202eRLO'; DROP TABLE events; --"

// genData is a generated day: account acct-a (sender a@shop.example) mails
// 20 unknown users through an Outlook-like relay, 10 good recipients and 4
// domains without MX; acct-b sends 10 good mails; Gmail defers 3 of b's.
func genData(now time.Time) (lines []string, want map[string]int) {
	base := now.Add(-2 * time.Hour)
	n := 0
	ev := func(acct, sender, rcpt string, st event.Status, reason event.Reason, relay, subject string) {
		n++
		e := &event.DeliveryEvent{ID: fmt.Sprintf("mx1:1-2:%d", n), TS: base.Add(time.Duration(n) * time.Second), MTA: "postfix",
			Host: "mx1", QueueID: fmt.Sprintf("Q%d", n), Sender: sender, Recipient: rcpt, Status: st, Reason: reason,
			Relay: relay, SASLUser: acct, ReplyCode: 250, Size: 1000, Subject: subject}
		if st != event.StatusSent {
			e.ReplyCode, e.DSN, e.ReplyText = 550, "5.1.1", "550 5.1.1 <"+rcpt+">: Recipient address rejected: User unknown"
		}
		b, _ := event.MarshalEvent(e)
		lines = append(lines, string(b))
	}
	for i := 0; i < 20; i++ {
		ev("acct-a", "a@shop.example", fmt.Sprintf("nobody%d@corp.example", i), event.StatusBounced, event.ReasonUserUnknown, "mx.outlook.example[192.0.2.1]:25", "")
	}
	for i := 0; i < 10; i++ {
		ev("acct-a", "a@shop.example", fmt.Sprintf("ok%d@corp.example", i), event.StatusSent, event.ReasonNone, "mx.outlook.example[192.0.2.1]:25", hostileSubject)
	}
	for i := 0; i < 4; i++ {
		ev("acct-a", "a@shop.example", fmt.Sprintf("x%d@nomx.example", i), event.StatusBounced, event.ReasonHostNotFound, "none", "")
	}
	for i := 0; i < 10; i++ {
		ev("acct-b", "b@news.example", fmt.Sprintf("reader%d@gmail.com", i), event.StatusSent, event.ReasonNone, "gmail-smtp-in.l.google.com[142.250.1.27]:25", "")
	}
	for i := 0; i < 3; i++ {
		ev("acct-b", "b@news.example", fmt.Sprintf("late%d@gmail.com", i), event.StatusDeferred, event.ReasonRateLimited, "gmail-smtp-in.l.google.com[142.250.1.27]:25", "")
	}
	v := event.Verdict{ID: "v1", TS: base.Add(40 * time.Second), Rule: "invalid_recipients", SubjectKind: event.KindSender,
		Subject: "a@shop.example", Action: event.ActionBan, Message: "blocked", Evidence: map[string]float64{"attempts": 34, "user_unknown": 20},
		WindowStart: base, WindowEnd: base.Add(time.Hour), FirstEventID: "mx1:1-2:1", LastEventID: "mx1:1-2:34"}
	vb, _ := event.MarshalVerdict(&v)
	lines = append(lines, string(vb))
	bn := event.Ban{Verdict: v, Source: "rule", Level: 1}
	bb, _ := event.MarshalBan(&bn)
	lines = append(lines, string(bb))
	q1 := event.QueueSample{TS: base.Add(time.Minute), MTA: "postfix", Host: "mx1", Queues: map[string]int{"deferred": 450, "active": 50}, Total: 500,
		TopSenders: []event.Count{{Name: "a@shop.example", Count: 400}, {Name: "b@news.example", Count: 50}}}
	q2 := event.QueueSample{TS: base.Add(2 * time.Minute), MTA: "postfix", Host: "mx1", Queues: map[string]int{"active": 100}, Total: 100,
		TopSenders: []event.Count{{Name: "b@news.example", Count: 90}}}
	for _, q := range []event.QueueSample{q1, q2} {
		qb, _ := event.MarshalQueueSample(&q)
		lines = append(lines, string(qb))
	}
	a := event.AllowEntry{TS: base, Kind: event.KindSender, Subject: "b@news.example", Reason: "newsletter, checked", Actor: "bob"}
	ab, _ := event.MarshalAllowEntry(&a)
	lines = append(lines, string(ab))
	return lines, map[string]int{"events": n, "verdicts": 1, "bans": 1, "queue_samples": 2, "allowlist_changes": 1}
}

var loadOnce struct {
	done bool
	now  time.Time
	want map[string]int
}

// loaded loads the generated data into the shared embedded store once,
// plus a lift of the ban by "alice" (a tombstone, as the API makes it).
func loaded(t *testing.T) (Store, time.Time) {
	t.Helper()
	s := embeddedStore(t)
	if loadOnce.done {
		return s, loadOnce.now
	}
	now := time.Now().UTC().Truncate(time.Second)
	lines, want := genData(now)
	ctx := context.Background()
	l := &Loader{Store: s, BatchRows: 7, Timeout: 30 * time.Second}
	if err := l.Load(ctx, "gen", strings.NewReader(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if l.Refused != 0 || l.Written != len(lines) {
		t.Fatalf("load: written %d refused %d (%v), want %d lines", l.Written, l.Refused, l.Errors, len(lines))
	}
	// Loading the same lines again stores nothing.
	l2 := &Loader{Store: s, BatchRows: 5, Timeout: 30 * time.Second}
	if err := l2.Load(ctx, "gen", strings.NewReader(strings.Join(lines, "\n"))); err != nil {
		t.Fatal(err)
	}
	if err := l2.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if l2.Written != 0 || l2.Skipped != len(lines) {
		t.Fatalf("second load: written %d skipped %d, want 0 and %d", l2.Written, l2.Skipped, len(lines))
	}
	b := newBatch()
	b.add(bansTable, 0, BanRow(nil, "sender:a@shop.example", now.Add(-time.Hour), "3/17", "alice"), 0)
	if _, _, err := insert(ctx, s, b, func(int) bool { return false }, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	want["bans"]++
	for table, n := range want {
		res, err := s.Query(ctx, "SELECT count() FROM "+table, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := num(t, res.Rows[0][0]); got != float64(n) {
			t.Fatalf("%s holds %v rows, want %d", table, got, n)
		}
	}
	loadOnce.done, loadOnce.now, loadOnce.want = true, now, want
	return s, now
}

var testRO = ReadOnly{Timeout: 30 * time.Second, MaxRows: 10000}

func pack(t *testing.T, s Store, name string, params map[string]string) []map[string]any {
	t.Helper()
	res, err := RunPack(context.Background(), s, name, params, testRO)
	if err != nil {
		t.Fatalf("pack %s: %v", name, err)
	}
	var out []map[string]any
	for _, r := range res.Rows {
		m := map[string]any{}
		for i, c := range res.Columns {
			m[c] = r[i]
		}
		out = append(out, m)
	}
	return out
}

func TestPackQueries(t *testing.T) {
	s, _ := loaded(t)
	t.Run("why-banned", func(t *testing.T) {
		rows := pack(t, s, "why-banned", map[string]string{"subject": "a@shop.example"})
		count := map[string]int{}
		for _, r := range rows {
			count[r["row"].(string)]++
		}
		if count["ban"] != 2 || count["verdict"] != 1 || count["event"] != 34 {
			t.Fatalf("why-banned rows by kind %v, want 2 ban records (ban, lift), 1 verdict, 34 events", count)
		}
		var verdict map[string]any
		for _, r := range rows {
			if r["row"] == "verdict" {
				verdict = r
			}
		}
		if verdict["rule"] != "invalid_recipients" || verdict["evidence"] != `{"attempts":34,"user_unknown":20}` {
			t.Fatalf("verdict row %v", verdict)
		}
	})
	t.Run("top-offenders", func(t *testing.T) {
		rows := pack(t, s, "top-offenders", nil)
		if len(rows) != 1 || rows[0]["subject"] != "a@shop.example" || num(t, rows[0]["bans"]) != 1 {
			t.Fatalf("top-offenders %v", rows)
		}
	})
	t.Run("sender-timeline", func(t *testing.T) {
		rows := pack(t, s, "sender-timeline", map[string]string{"sender": "a@shop.example"})
		if len(rows) != 34+1+2 {
			t.Fatalf("timeline has %d rows, want 37", len(rows))
		}
		for i := 1; i < len(rows); i++ {
			if rows[i]["at"].(string) < rows[i-1]["at"].(string) {
				t.Fatalf("timeline out of order at %d", i)
			}
		}
	})
	t.Run("bounce-reasons-by-provider", func(t *testing.T) {
		got := map[string]float64{}
		for _, r := range pack(t, s, "bounce-reasons-by-provider", nil) {
			got[r["provider"].(string)+"/"+r["reason"].(string)] = num(t, r["events"])
		}
		want := map[string]float64{"outlook.example/user_unknown": 20, "google.com/rate_limited": 3, "nomx.example/host_not_found": 4}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("bounces by provider %v, want %v", got, want)
		}
	})
	t.Run("invalid-recipient-rate", func(t *testing.T) {
		rows := pack(t, s, "invalid-recipient-rate", nil)
		if len(rows) != 2 || rows[0]["account"] != "acct-a" || num(t, rows[0]["attempts"]) != 34 ||
			num(t, rows[0]["user_unknown"]) != 20 || num(t, rows[0]["ratio"]) != 0.5882 || num(t, rows[1]["ratio"]) != 0 {
			t.Fatalf("invalid-recipient-rate %v", rows)
		}
	})
	t.Run("domains-without-mx", func(t *testing.T) {
		rows := pack(t, s, "domains-without-mx", nil)
		if len(rows) != 1 || rows[0]["recipient_domain"] != "nomx.example" || num(t, rows[0]["attempts"]) != 4 || num(t, rows[0]["senders"]) != 1 {
			t.Fatalf("domains-without-mx %v", rows)
		}
	})
	t.Run("queue-floods", func(t *testing.T) {
		rows := pack(t, s, "queue-floods", nil)
		if len(rows) != 2 || rows[0]["sender"] != "a@shop.example" || num(t, rows[0]["peak_queued"]) != 400 ||
			num(t, rows[0]["peak_total"]) != 500 || rows[1]["sender"] != "b@news.example" || num(t, rows[1]["samples"]) != 1 {
			t.Fatalf("queue-floods %v", rows)
		}
	})
	t.Run("bans-lifted-by-hand", func(t *testing.T) {
		rows := pack(t, s, "bans-lifted-by-hand", nil)
		if len(rows) != 1 || rows[0]["actor"] != "alice" || rows[0]["subject"] != "a@shop.example" || rows[0]["banned_by_rule"] != "invalid_recipients" {
			t.Fatalf("bans-lifted-by-hand %v", rows)
		}
	})
	t.Run("rollups", func(t *testing.T) {
		res, err := RunQuery(context.Background(), s, "SELECT sum(events) FROM events_account_hour WHERE account = {a:String}", map[string]string{"a": "acct-a"}, testRO)
		if err != nil || num(t, res.Rows[0][0]) != 34 {
			t.Fatalf("rollup: %v %v", res, err)
		}
	})
}

func TestHostileStoredVerbatim(t *testing.T) {
	s, _ := loaded(t)
	res, err := RunQuery(context.Background(), s, "SELECT DISTINCT subject FROM events WHERE subject != ''", nil, testRO)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rows) != 1 || res.Rows[0][0] != hostileSubject {
		t.Fatalf("subject came back as %q, want %q", res.Rows, hostileSubject)
	}
	var out bytes.Buffer
	if err := WriteJSONLines(&out, res); err != nil {
		t.Fatal(err)
	}
	if strings.Count(out.String(), "\n") != 1 || strings.ContainsAny(out.String(), "<>\x00") {
		t.Fatalf("JSON line not escaped: %q", out.String())
	}
	var back map[string]string
	if err := json.Unmarshal(out.Bytes(), &back); err != nil || back["subject"] != hostileSubject {
		t.Fatalf("JSON line does not decode to the subject: %v %q", err, back["subject"])
	}
	out.Reset()
	_ = WriteTable(&out, res)
	if strings.Count(out.String(), "\n") != 2 {
		t.Fatalf("table output broke lines: %q", out.String())
	}
	// A hostile parameter is a value, never SQL.
	rows := pack(t, s, "sender-timeline", map[string]string{"sender": "x' OR 1=1 OR sender != '"})
	if len(rows) != 0 {
		t.Fatalf("injected parameter matched %d rows", len(rows))
	}
	rows = pack(t, s, "sender-timeline", map[string]string{"sender": hostileSubject})
	if len(rows) != 0 {
		t.Fatalf("hostile parameter matched %d rows", len(rows))
	}
}

func TestReadOnlyEngine(t *testing.T) {
	s, _ := loaded(t)
	ctx := context.Background()
	// The statement check refuses these before they reach the engine.
	for _, q := range []string{
		"INSERT INTO events (id) VALUES ('x')", "DROP TABLE events", "ALTER TABLE events DELETE WHERE 1",
		"SELECT 1; DROP TABLE events", "SELECT * FROM events INTO OUTFILE '/tmp/x'", "SELECT 1 SETTINGS readonly = 0",
		"SELECT 1 FORMAT TabSeparated", "CREATE TABLE x (a Int8) ENGINE = Memory", "SELECT '1", "SELECT 1 /* open",
		"TRUNCATE TABLE events", "OPTIMIZE TABLE events", "SYSTEM SHUTDOWN", "KILL QUERY WHERE 1", "SET readonly = 0",
	} {
		if _, err := RunQuery(ctx, s, q, nil, testRO); !errors.Is(err, ErrNotReadOnly) {
			t.Errorf("%q: err %v, want ErrNotReadOnly", q, err)
		}
	}
	// The engine refuses them too, even past the check (readonly=1).
	for _, q := range []string{
		"INSERT INTO events (id) SELECT 'x'", "SELECT * FROM file('/etc/passwd', 'LineAsString')",
		"SELECT 1 SETTINGS readonly = 0", "CREATE TABLE x (a Int8) ENGINE = Memory", "DROP TABLE verdicts",
		"SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')",
	} {
		if _, err := s.Query(ctx, q, &testRO); err == nil {
			t.Errorf("engine ran %q read-only", q)
		}
	}
	res, err := s.Query(ctx, "SELECT count() FROM events", nil)
	if err != nil || num(t, res.Rows[0][0]) != float64(loadOnce.want["events"]) {
		t.Fatalf("events changed: %v %v", res, err)
	}
}

// TestExportAndDiffBans: export gives back exactly the events loaded (the
// backtest's input), and diff-bans tells a candidate's bans from the real ones.
func TestExportAndDiffBans(t *testing.T) {
	s, now := loaded(t)
	ctx := context.Background()
	lines, _ := genData(now)
	var want []string
	for _, l := range lines {
		if strings.Contains(l, `"status"`) {
			want = append(want, l)
		}
	}
	since, until := now.Add(-3*time.Hour), now
	res, err := RunQuery(ctx, s, exportSQL, rangeParams(since, until), testRO)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := writeEvents(&out, res); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(out.String()), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("export differs from the loaded events: %d lines vs %d\nfirst got  %s\nfirst want %s", len(got), len(want), got[0], want[0])
	}
	actual, err := RunQuery(ctx, s, actualBansSQL, rangeParams(since, until), testRO)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(subject string) string {
		b := event.Ban{Verdict: event.Verdict{Rule: "invalid_recipients", SubjectKind: event.KindSender, Subject: subject, Action: event.ActionBan, TS: now}, Source: "rule"}
		j, _ := event.MarshalBan(&b)
		return string(j)
	}
	for _, c := range []struct {
		in   []string
		want string
	}{
		{[]string{mk("a@shop.example")}, "= sender:a@shop.example rule=invalid_recipients\n"},
		{nil, "- sender:a@shop.example rule=invalid_recipients\n"},
		{[]string{mk("a@shop.example"), mk("b@news.example")}, "= sender:a@shop.example rule=invalid_recipients\n+ sender:b@news.example rule=invalid_recipients\n"},
	} {
		cand, err := readBans(strings.NewReader(strings.Join(c.in, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		out.Reset()
		if err := writeDiff(&out, cand, actual); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("diff of %d candidate bans:\n%s\nwant\n%s", len(c.in), out.String(), c.want)
		}
	}
}
