package history

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

// Command runs `enforcer history SUB ...`:
//
//	history load  (--path DIR | --dsn DSN) FILE...            JSON lines of events, verdicts, bans, queue samples, allowlist entries
//	history query (--path DIR | --dsn DSN | --url URL) [--format json|table] 'SQL' | --pack NAME [--param k=v]...
//	history pack                                              list the query pack
//	history export (--path|--dsn|--url) --since T --until T   stored events as wire records (backtest input)
//	history diff-bans (--path|--dsn|--url) --since T --until T  bans on stdin vs the bans the rules made (see backtest.go)
//
// defaults supplies history.* (TTLs, database, limits).
func Command(ctx context.Context, args []string, defaults Config, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("history: want load, query, pack, export or diff-bans")
	}
	sub, args := args[0], args[1:]
	switch sub {
	case "load":
		return loadCommand(ctx, args, defaults, stdin, stdout, stderr)
	case "query":
		return queryCommand(ctx, args, defaults, stdout)
	case "export":
		return exportCommand(ctx, args, defaults, stdout)
	case "diff-bans":
		return diffBansCommand(ctx, args, defaults, stdin, stdout)
	case "pack":
		p, err := Pack()
		if err != nil {
			return err
		}
		for _, n := range PackNames() {
			q := p[n]
			fmt.Fprintf(stdout, "%s\n    %s\n", n, q.Doc)
			for _, pp := range q.Params {
				def := "required"
				if !pp.Required {
					def = "default " + pp.Default
				}
				fmt.Fprintf(stdout, "    --param %s=<%s>  (%s) %s\n", pp.Name, pp.Type, def, pp.Doc)
			}
		}
		return nil
	}
	return fmt.Errorf("history: unknown subcommand %q (want load, query, pack, export or diff-bans)", sub)
}

type multi []string

func (m *multi) String() string     { return strings.Join(*m, ",") }
func (m *multi) Set(v string) error { *m = append(*m, v); return nil }

func storeFlags(fs *flag.FlagSet, cfg *Config) {
	fs.StringVar(&cfg.Path, "path", cfg.Path, "embedded store directory (chDB)")
	fs.StringVar(&cfg.DSN, "dsn", cfg.DSN, "ClickHouse server, clickhouse://host:9000/db")
	fs.StringVar(&cfg.Database, "database", cfg.Database, "database")
}

func loadCommand(ctx context.Context, args []string, cfg Config, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("history load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	s, err := Open(ctx, cfg, false)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := Migrate(ctx, s, cfg.TTL, nil); err != nil {
		return err
	}
	files := fs.Args()
	if len(files) == 0 {
		files = []string{"-"}
	}
	l := &Loader{Store: s, BatchRows: cfg.BatchRows, Timeout: cfg.InsertTimeout}
	for _, f := range files {
		var r io.Reader = stdin
		if f != "-" {
			fh, err := os.Open(f)
			if err != nil {
				return err
			}
			defer fh.Close()
			r = fh
		}
		if err := l.Load(ctx, f, r); err != nil {
			return err
		}
	}
	if err := l.Flush(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "loaded %d rows (%d already stored, %d lines refused)\n", l.Written, l.Skipped, l.Refused)
	for _, e := range l.Errors {
		fmt.Fprintln(stderr, "refused:", e)
	}
	if l.Refused > 0 {
		return fmt.Errorf("%d lines refused", l.Refused)
	}
	return nil
}

// Loader stores JSON lines as `ingest parse`, `detector replay` and the
// topics carry them, through the writer's insert (same tables, same
// columns, same check: loading a file twice stores it once).
type Loader struct {
	Store     Store
	BatchRows int
	Timeout   time.Duration

	Written, Skipped, Refused int
	Errors                    []string // the first refusals, with file and line

	b *batch
}

// Load reads r (named name) to its end.
func (l *Loader) Load(ctx context.Context, name string, r io.Reader) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Bytes()
		if len(strings.TrimSpace(string(line))) == 0 {
			continue
		}
		t, row, err := decodeLine(line)
		if err != nil {
			l.Refused++
			if len(l.Errors) < 10 {
				l.Errors = append(l.Errors, fmt.Sprintf("%s:%d: %v", name, n, err))
			}
			continue
		}
		if l.b == nil {
			l.b = newBatch()
		}
		l.b.add(t, 0, row, len(line))
		if l.b.n >= max(l.BatchRows, 1) {
			if err := l.Flush(ctx); err != nil {
				return err
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s line %d: %w", name, n+1, err)
	}
	return nil
}

// Flush writes what is buffered.
func (l *Loader) Flush(ctx context.Context) error {
	if l.b == nil || l.b.n == 0 {
		return nil
	}
	_, written, err := insert(ctx, l.Store, l.b, func(int) bool { return true }, max(l.Timeout, time.Second))
	if err != nil {
		return err
	}
	w := 0
	for _, n := range written {
		w += n
	}
	l.Written += w
	l.Skipped += l.b.n - w
	l.b = nil
	return nil
}

// decodeLine recognises a record by its fields.
func decodeLine(line []byte) (*Table, []any, error) {
	var probe struct {
		Status      *string         `json:"status"`
		Rule        *string         `json:"rule"`
		Source      *string         `json:"source"`
		Queues      json.RawMessage `json:"queues"`
		SubjectKind *string         `json:"subject_kind"`
	}
	if err := json.Unmarshal(line, &probe); err != nil {
		return nil, nil, fmt.Errorf("not a JSON object: %w", err)
	}
	sum := sha256.Sum256(line)
	id := "file:" + hex.EncodeToString(sum[:12])
	var t *Table
	switch {
	case probe.Status != nil:
		t = eventsTable
	case probe.Queues != nil:
		t = queueTable
	case probe.Source != nil:
		t = bansTable
	case probe.Rule != nil:
		t = verdictsTable
	case probe.SubjectKind != nil:
		t = allowTable
	default:
		return nil, nil, errors.New("not an event, verdict, ban, queue sample or allowlist entry")
	}
	row, err := decodeRecord(t, line, "", time.Time{}, id, "")
	return t, row, err
}

func queryCommand(ctx context.Context, args []string, cfg Config, stdout io.Writer) error {
	fs := flag.NewFlagSet("history query", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	storeFlags(fs, &cfg)
	var format, pack, live string
	var params multi
	fs.StringVar(&format, "format", "json", "json (JSON lines) or table")
	fs.StringVar(&pack, "pack", "", "run the pack query NAME (see `history pack`)")
	fs.StringVar(&live, "url", "", "the running enforcer's HTTP address (http://127.0.0.1:9103): query its live store")
	fs.Var(&params, "param", "NAME=VALUE for {NAME:Type} (repeatable)")
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("history query: %w", err)
	}
	if format != "json" && format != "table" {
		return fmt.Errorf("history query: --format %q, want json or table", format)
	}
	sql := strings.Join(fs.Args(), " ")
	if (sql == "") == (pack == "") {
		return errors.New("history query: give one SQL query or --pack NAME")
	}
	pm := map[string]string{}
	for _, p := range params {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			return fmt.Errorf("--param %q: want NAME=VALUE", p)
		}
		pm[k] = v
	}
	var res *Result
	var err error
	if live != "" {
		res, err = queryURL(ctx, live, sql, pack, pm)
	} else {
		if err := cfg.Validate(); err != nil {
			return err
		}
		s, oerr := Open(ctx, cfg, true)
		if oerr != nil {
			if cfg.DSN == "" && !errors.Is(oerr, ErrNoEmbedded) {
				return fmt.Errorf("%w\n(if a running enforcer holds this store, query it with --url http://<its http.addr>)", oerr)
			}
			return oerr
		}
		defer s.Close()
		ro := ReadOnly{Timeout: cfg.QueryTimeout, MaxRows: cfg.QueryMaxRows}
		if pack != "" {
			res, err = RunPack(ctx, s, pack, pm, ro)
		} else {
			res, err = RunQuery(ctx, s, sql, pm, ro)
		}
	}
	if err != nil {
		return err
	}
	if format == "table" {
		return WriteTable(stdout, res)
	}
	return WriteJSONLines(stdout, res)
}

// queryURL asks a running enforcer's /history/query.
func queryURL(ctx context.Context, base, sql, pack string, params map[string]string) (*Result, error) {
	v := url.Values{}
	if sql != "" {
		v.Set("sql", sql)
	}
	if pack != "" {
		v.Set("pack", pack)
	}
	for k, p := range params {
		v.Set("param_"+k, p)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(base, "/")+QueryPath, strings.NewReader(v.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<30))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var res Result
	d := json.NewDecoder(strings.NewReader(string(body)))
	d.UseNumber()
	if err := d.Decode(&res); err != nil {
		return nil, fmt.Errorf("decode answer: %w", err)
	}
	return &res, nil
}
