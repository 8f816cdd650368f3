//go:build chdb

package history

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	chdb "github.com/chdb-io/chdb-go/chdb-purego"
)

// EmbeddedAvailable reports whether this binary links the embedded engine.
const EmbeddedAvailable = true

// chDB allows one connection per process (chdb.h), whatever its path; this
// guards it so a second Open fails clearly instead of reusing the first.
var (
	embeddedMu   sync.Mutex
	embeddedOpen string
)

type embedded struct {
	conn chdb.ChdbConn
	path string
	db   string
}

// OpenEmbedded opens (creating it if needed) the chDB store at path. Only
// one store per process; a path another process holds fails ("Cannot lock
// file"). readOnly opens it without creating the database (a store to query). The data
// directory is never deleted (chdb-go's Session.Cleanup would: not used).
func OpenEmbedded(path, db string, readOnly bool) (Store, error) {
	embeddedMu.Lock()
	defer embeddedMu.Unlock()
	if embeddedOpen != "" {
		return nil, fmt.Errorf("embedded history store %s already open in this process (chDB allows one)", embeddedOpen)
	}
	if !identRe.MatchString(db) {
		return nil, fmt.Errorf("history database %q is not a plain identifier", db)
	}
	if strings.ContainsAny(path, "?&'\\\x00") {
		return nil, fmt.Errorf("history path %q: must not contain ? & ' \\ or NUL", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	path = abs
	if err := os.MkdirAll(path, 0o750); err != nil {
		return nil, fmtErr("create history path", err)
	}
	// 64-bit integers as JSON numbers, not strings, in query results.
	conn := path + "?output_format_json_quote_64bit_integers=0"
	// readOnly does not open the session with readonly=N: readonly=1 there
	// would forbid each query's own limits, and readonly=2 still allows
	// table functions (file(), url()). Each analyst query carries
	// readonly=1 itself (Query), which forbids both.
	c, err := chdb.NewConnectionFromConnString(conn)
	if err != nil {
		return nil, fmt.Errorf("open embedded history store %s: %w", path, err)
	}
	e := &embedded{conn: c, path: path, db: db}
	if !readOnly {
		if err := e.Exec(context.Background(), "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
			c.Close()
			return nil, fmtErr("create database "+db, err)
		}
	}
	// Unqualified names (analysts' SQL, the query pack) mean this database.
	if err := e.Exec(context.Background(), "USE "+db); err != nil {
		c.Close()
		return nil, fmt.Errorf("history database %s: %w (run `enforcer migrate` first)", db, err)
	}
	embeddedOpen = path
	return e, nil
}

func (e *embedded) Dialect() Dialect { return Modern }
func (e *embedded) Database() string { return e.db }

func (e *embedded) run(sql, format string) ([]byte, error) {
	r, err := e.conn.Query(sql, format)
	if err != nil {
		return nil, err
	}
	defer r.Free()
	if err := r.Error(); err != nil {
		return nil, err
	}
	return bytes.Clone(r.Buf()), nil
}

func (e *embedded) Exec(ctx context.Context, sql string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := e.run(sql, "TabSeparated")
	return err
}

func (e *embedded) Query(ctx context.Context, sql string, ro *ReadOnly) (*Result, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if ro != nil {
		// A new line first, so a trailing -- comment cannot swallow it;
		// readonly last, since it forbids changing any setting after it.
		sql = strings.TrimRight(sql, " \t\r\n;") + "\nSETTINGS " + ro.settings() + ", readonly = 1"
	}
	out, err := e.run(sql, "JSONCompact")
	if err != nil {
		return nil, err
	}
	return decodeJSONCompact(out)
}

func (e *embedded) Insert(ctx context.Context, t *Table, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	// The rows go through a RowBinary file the engine reads with file():
	// several times faster than the same rows inline in the query text,
	// which the engine parses as part of the SQL.
	b, err := appendRowBinary(make([]byte, 0, len(rows)*256), t, rows)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(e.path, ".insert-*.rowbinary")
	if err != nil {
		return fmtErr("history insert file", err)
	}
	name := f.Name()
	defer os.Remove(name)
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmtErr("history insert file", err)
	}
	if err := f.Close(); err != nil {
		return fmtErr("history insert file", err)
	}
	// async_insert=0: chDB defaults to async inserts; the writer batches
	// itself and needs the rows stored when this returns. The file name is
	// ours (CreateTemp in the store's directory, which has no quote: checked at open).
	sql := "INSERT INTO " + e.db + "." + t.Name + " (" + t.columnList() + ") SELECT * FROM file('" + name +
		"', RowBinary, '" + strings.ReplaceAll(t.structure(), "'", "\\'") + "') SETTINGS async_insert = 0"
	_, err = e.run(sql, "TabSeparated")
	return err
}

func (e *embedded) Close() error {
	embeddedMu.Lock()
	defer embeddedMu.Unlock()
	if e.conn != nil {
		e.conn.Close()
		e.conn = nil
		embeddedOpen = ""
	}
	return nil
}

// decodeJSONCompact reads ClickHouse's JSONCompact output.
func decodeJSONCompact(b []byte) (*Result, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return &Result{}, nil
	}
	var doc struct {
		Meta []struct{ Name, Type string } `json:"meta"`
		Data [][]any                       `json:"data"`
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&doc); err != nil {
		return nil, errors.Join(errors.New("decode query result"), err)
	}
	res := &Result{Rows: doc.Data}
	for _, m := range doc.Meta {
		res.Columns = append(res.Columns, m.Name)
		res.Types = append(res.Types, m.Type)
	}
	return res, nil
}
