package history

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mxwarden/mxwarden/pkg/event"
)

// The backtest is a pipe of three commands on the same code as the rest:
//
//	enforcer history export (--path DIR | --dsn DSN | --url URL) --since T --until T \
//	  | detector replay --bans --config candidate.yaml \
//	  | enforcer history diff-bans (--path DIR | --dsn DSN | --url URL) --since T --until T
//
// export prints the stored events as the wire records ingest published;
// diff-bans compares the bans a candidate configuration produced with the
// bans the rules really made in the same window ("+" would be added, "-"
// would be dropped, "=" both). diff-bans opens the store only after its
// input ended, so with an embedded store the export has exited by then.

const exportColumns = "ts, id, mta, host, queue_id, sender, recipient, status, dsn, reply_code, reply_text, reason, relay, client_ip, sasl_user, message_id, size, subject"

func timeRange(fs *flag.FlagSet) (since, until *string) {
	since = fs.String("since", "", "RFC 3339 start (inclusive)")
	until = fs.String("until", "", "RFC 3339 end (exclusive)")
	return
}

func parseRange(since, until string) (time.Time, time.Time, error) {
	s, err := time.Parse(time.RFC3339, since)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("--since: want RFC 3339: %w", err)
	}
	u, err := time.Parse(time.RFC3339, until)
	if err != nil {
		return time.Time{}, time.Time{}, fmt.Errorf("--until: want RFC 3339: %w", err)
	}
	if !u.After(s) {
		return time.Time{}, time.Time{}, errors.New("--until must be after --since")
	}
	return s.UTC(), u.UTC(), nil
}

// rangeParams binds a time range as Unix seconds (both dialects).
func rangeParams(s, u time.Time) map[string]string {
	return map[string]string{"since": strconv.FormatInt(s.Unix(), 10), "until": strconv.FormatInt(u.Unix(), 10)}
}

const rangeWhere = "ts >= toDateTime({since:UInt32}) AND ts < toDateTime({until:UInt32})"

const exportSQL = "SELECT " + exportColumns + " FROM events WHERE " + rangeWhere + " ORDER BY ts, id"

const actualBansSQL = "SELECT DISTINCT toString(subject_kind) AS k, subject, toString(rule) AS rule FROM bans " +
	"WHERE op = 'ban' AND source = 'rule' AND action = 'ban' AND shadow = 0 AND " + rangeWhere

// readOnlyRun runs sql on the store or the live endpoint.
func readOnlyRun(ctx context.Context, cfg Config, live, sql string, params map[string]string) (*Result, error) {
	if live != "" {
		return queryURL(ctx, live, sql, "", params)
	}
	s, err := Open(ctx, cfg, true)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	return RunQuery(ctx, s, sql, params, ReadOnly{Timeout: cfg.QueryTimeout, MaxRows: 1 << 30})
}

func exportCommand(ctx context.Context, args []string, cfg Config, stdout io.Writer) error {
	fs := flag.NewFlagSet("history export", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	storeFlags(fs, &cfg)
	live := fs.String("url", "", "a running enforcer's HTTP address")
	since, until := timeRange(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("history export: %w", err)
	}
	s, u, err := parseRange(*since, *until)
	if err != nil {
		return err
	}
	res, err := readOnlyRun(ctx, cfg, *live, exportSQL, rangeParams(s, u))
	if err != nil {
		return err
	}
	return writeEvents(stdout, res)
}

// writeEvents prints export rows as wire records.
func writeEvents(stdout io.Writer, res *Result) error {
	w := bufio.NewWriter(stdout)
	for _, r := range res.Rows {
		e, err := eventFromRow(r)
		if err != nil {
			return err
		}
		b, err := event.MarshalEvent(e)
		if err != nil {
			return err
		}
		w.Write(b)
		w.WriteByte('\n')
	}
	return w.Flush()
}

func eventFromRow(r []any) (*event.DeliveryEvent, error) {
	str := func(i int) string { return fmt.Sprint(r[i]) }
	n := func(i int) int64 {
		v, _ := strconv.ParseInt(fmt.Sprint(r[i]), 10, 64)
		return v
	}
	ts, err := parseCHTime(str(0))
	if err != nil {
		return nil, err
	}
	return &event.DeliveryEvent{TS: ts, ID: str(1), MTA: str(2), Host: str(3), QueueID: str(4), Sender: str(5), Recipient: str(6),
		Status: event.Status(str(7)), DSN: str(8), ReplyCode: int(n(9)), ReplyText: str(10), Reason: event.Reason(str(11)),
		Relay: str(12), ClientIP: str(13), SASLUser: str(14), MessageID: str(15), Size: n(16), Subject: str(17)}, nil
}

func parseCHTime(s string) (time.Time, error) {
	for _, f := range []string{"2006-01-02 15:04:05.000", "2006-01-02 15:04:05"} {
		if t, err := time.Parse(f, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q", s)
}

func diffBansCommand(ctx context.Context, args []string, cfg Config, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("history diff-bans", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	storeFlags(fs, &cfg)
	live := fs.String("url", "", "a running enforcer's HTTP address")
	since, until := timeRange(fs)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("history diff-bans: %w", err)
	}
	s, u, err := parseRange(*since, *until)
	if err != nil {
		return err
	}
	candidate, err := readBans(stdin)
	if err != nil {
		return err
	}
	res, err := readOnlyRun(ctx, cfg, *live, actualBansSQL, rangeParams(s, u))
	if err != nil {
		return err
	}
	return writeDiff(stdout, candidate, res)
}

// readBans reads the enforced bans of a candidate run (key -> rule).
func readBans(stdin io.Reader) (map[string]string, error) {
	candidate := map[string]string{}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for line := 1; sc.Scan(); line++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		b, err := event.UnmarshalBan(sc.Bytes())
		if err != nil {
			return nil, fmt.Errorf("stdin line %d: %w", line, err)
		}
		if b.Action == event.ActionBan && !b.Shadow {
			candidate[b.Key()] = b.Rule
		}
	}
	return candidate, sc.Err()
}

// writeDiff prints "+ key rule=r" (the candidate adds it), "- ..." (drops
// it), "= ..." (both), sorted by key.
func writeDiff(stdout io.Writer, candidate map[string]string, res *Result) error {
	actual := map[string]string{}
	for _, r := range res.Rows {
		actual[event.BanKey(event.SubjectKind(fmt.Sprint(r[0])), fmt.Sprint(r[1]))] = fmt.Sprint(r[2])
	}
	var lines []string
	for k, rule := range candidate {
		mark := "+"
		if _, ok := actual[k]; ok {
			mark = "="
		}
		lines = append(lines, fmt.Sprintf("%s %s rule=%s", mark, k, rule))
	}
	for k, rule := range actual {
		if _, ok := candidate[k]; !ok {
			lines = append(lines, fmt.Sprintf("- %s rule=%s", k, rule))
		}
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i][2:] < lines[j][2:] })
	for _, l := range lines {
		b, _ := json.Marshal(l) // subjects are checked tokens; quote anyway if odd
		if strings.ContainsAny(l, "\x00\r\n") {
			l = string(b)
		}
		if _, err := fmt.Fprintln(stdout, l); err != nil {
			return err
		}
	}
	return nil
}
