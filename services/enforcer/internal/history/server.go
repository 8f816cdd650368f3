package history

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
)

type server struct {
	conn    driver.Conn
	db      string
	dialect Dialect
}

// OpenServer connects to a ClickHouse server over the native protocol with
// LZ4 compression. The DSN's path names the database (else db).
func OpenServer(ctx context.Context, dsn, db string) (Store, error) {
	return openServer(ctx, dsn, db, false)
}

func openServer(ctx context.Context, dsn, db string, readOnly bool) (Store, error) {
	opts, err := clickhouse.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("history.dsn: %w", err)
	}
	if u, err := url.Parse(dsn); err == nil && strings.Trim(u.Path, "/") != "" {
		db = strings.Trim(u.Path, "/")
	}
	if !identRe.MatchString(db) {
		return nil, fmt.Errorf("history database %q is not a plain identifier", db)
	}
	// Connect to "default" first: the database may not exist yet.
	opts.Auth.Database = "default"
	opts.Compression = &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	if opts.DialTimeout == 0 || opts.DialTimeout > 10*time.Second {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.ReadTimeout == 0 || opts.ReadTimeout > time.Minute {
		opts.ReadTimeout = time.Minute
	}
	// One writer and a few analysts' queries at a time.
	opts.MaxOpenConns, opts.MaxIdleConns = 8, 4
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", redact(dsn), err)
	}
	s := &server{conn: conn, db: db}
	v, err := conn.ServerVersion()
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("connect clickhouse %s: %w", redact(dsn), err)
	}
	s.dialect = DialectOf(fmt.Sprintf("%d.%d", v.Version.Major, v.Version.Minor))
	res, err := s.Query(ctx, "SELECT name FROM system.databases WHERE name = '"+db+"'", nil)
	if err == nil && len(res.Rows) == 0 {
		if readOnly {
			err = fmt.Errorf("no database %s (run `enforcer migrate` first)", db)
		} else {
			err = s.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db)
		}
	}
	_ = conn.Close()
	if err != nil {
		return nil, fmt.Errorf("clickhouse %s: database %s: %w", redact(dsn), db, err)
	}
	// Unqualified names (analysts' SQL, the query pack) mean db.
	opts.Auth.Database = db
	if s.conn, err = clickhouse.Open(opts); err != nil {
		return nil, fmt.Errorf("open clickhouse %s: %w", redact(dsn), err)
	}
	return s, nil
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "(dsn)"
}

func (s *server) Dialect() Dialect { return s.dialect }
func (s *server) Database() string { return s.db }

func (s *server) Exec(ctx context.Context, sql string) error { return s.conn.Exec(ctx, sql) }

func (s *server) Query(ctx context.Context, sql string, ro *ReadOnly) (*Result, error) {
	if ro != nil {
		secs := int(math.Ceil(ro.Timeout.Seconds()))
		// Sent with the query; readonly=1 refuses writes, DDL and any
		// later change of settings (including this one).
		set := clickhouse.Settings{
			"max_execution_time": max(secs, 1),
			"max_result_rows":    max(ro.MaxRows, 1),
			"readonly":           1,
		}
		if s.dialect == Modern {
			// Cut the result rather than fail. 18.16's protocol revision
			// carries only numeric settings: there a larger result fails.
			set["result_overflow_mode"] = clickhouse.CustomSetting{Value: "break"}
		}
		ctx = clickhouse.Context(ctx, clickhouse.WithSettings(set))
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, ro.Timeout+5*time.Second)
		defer cancel()
	}
	rows, err := s.conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	res := &Result{Columns: rows.Columns()}
	cts := rows.ColumnTypes()
	for _, ct := range cts {
		res.Types = append(res.Types, ct.DatabaseTypeName())
	}
	for rows.Next() {
		ptrs := make([]any, len(cts))
		for i, ct := range cts {
			ptrs[i] = reflect.New(ct.ScanType()).Interface()
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		row := make([]any, len(cts))
		for i, p := range ptrs {
			row[i] = plain(reflect.ValueOf(p).Elem().Interface(), res.Types[i])
		}
		res.Rows = append(res.Rows, row)
	}
	return res, rows.Err()
}

// plain turns a scanned value into the engine-neutral form of Result:
// times as ClickHouse prints them, pointers followed.
func plain(v any, typ string) any {
	switch x := v.(type) {
	case time.Time:
		if strings.HasPrefix(typ, "DateTime64") || strings.HasPrefix(typ, "Nullable(DateTime64") {
			return x.UTC().Format("2006-01-02 15:04:05.000")
		}
		if strings.HasPrefix(typ, "Date") && !strings.HasPrefix(typ, "DateTime") {
			return x.UTC().Format("2006-01-02")
		}
		return x.UTC().Format("2006-01-02 15:04:05")
	case *time.Time:
		if x == nil {
			return nil
		}
		return plain(*x, typ)
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		if rv.IsNil() {
			return nil
		}
		return plain(rv.Elem().Interface(), typ)
	}
	return v
}

func (s *server) Insert(ctx context.Context, t *Table, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	batch, err := s.conn.PrepareBatch(ctx, "INSERT INTO "+s.db+"."+t.Name+" ("+t.columnList()+")", driver.WithReleaseConnection())
	if err != nil {
		return err
	}
	defer func() { _ = batch.Abort() }()
	for _, r := range rows {
		if err := batch.Append(r...); err != nil {
			return fmt.Errorf("%s: append: %w", t.Name, err)
		}
	}
	return batch.Send()
}

func (s *server) Close() error { return s.conn.Close() }
