package history

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Dialect is the SQL a store speaks. Migrations render once per dialect.
type Dialect int

// The dialects.
const (
	// Modern is ClickHouse ≥ 21 and chDB: CODEC, TTL, skip indexes,
	// DateTime64, LowCardinality.
	Modern Dialect = iota
	// Legacy is ClickHouse 18.16 (Debian's clickhouse-server): none of those.
	Legacy
)

func (d Dialect) String() string {
	if d == Legacy {
		return "legacy"
	}
	return "modern"
}

// DialectOf picks the dialect for a server version string (SELECT version()).
func DialectOf(version string) Dialect {
	major, _, _ := strings.Cut(version, ".")
	if n, err := strconv.Atoi(major); err == nil && n < 21 {
		return Legacy
	}
	return Modern
}

// Store is one ClickHouse: the embedded engine (chDB) or a server over the
// native protocol. Both run the same migrations, inserts and queries.
type Store interface {
	// Dialect is the SQL the store speaks.
	Dialect() Dialect
	// Database holds the tables.
	Database() string
	// Exec runs one statement that returns nothing (DDL, internal inserts).
	Exec(ctx context.Context, sql string) error
	// Query runs one SELECT. With ro set the engine itself refuses
	// anything but reading (readonly=1, which also forbids changing that
	// setting) and applies the limits.
	Query(ctx context.Context, sql string, ro *ReadOnly) (*Result, error)
	// Insert writes rows into t in one synchronous INSERT naming t's
	// columns. It returns once the store accepted every row, or an error.
	Insert(ctx context.Context, t *Table, rows [][]any) error
	// Close releases the store (the embedded store keeps its data).
	Close() error
}

// ReadOnly are the limits of an analyst's query.
type ReadOnly struct {
	Timeout time.Duration // max_execution_time
	MaxRows int           // max_result_rows (the result is cut, not failed)
}

// Result is a query's answer, engine-neutral: values are string, float64,
// int64/uint64, bool, []any, map[string]any or nil; times are strings as
// ClickHouse prints them.
type Result struct {
	Columns []string `json:"columns"`
	Types   []string `json:"types"`
	Rows    [][]any  `json:"rows"`
}

// ErrNoEmbedded is returned when the binary was built without the embedded
// engine (build tag chdb; `make build` sets it).
var ErrNoEmbedded = errors.New("this enforcer was built without the embedded ClickHouse engine (chDB): build with `make build` (it fetches libchdb.so and sets -tags chdb) or use --dsn / history.dsn")

// Open opens the store cfg names: the server at cfg.DSN, else the embedded
// engine at cfg.Path. readOnly opens the embedded engine read-only.
func Open(ctx context.Context, cfg Config, readOnly bool) (Store, error) {
	switch {
	case cfg.DSN != "":
		return openServer(ctx, cfg.DSN, cfg.Database, readOnly)
	case cfg.Path != "":
		return OpenEmbedded(cfg.Path, cfg.Database, readOnly)
	}
	return nil, errors.New("no history store: set history.path (embedded) or history.dsn (server)")
}

// Column kinds: how a Go value is sent.
type colKind int

const (
	kString  colKind = iota // string
	kTime                   // time.Time (DateTime64(3) / DateTime)
	kSec                    // time.Time (DateTime: whole seconds)
	kU8                     // uint8
	kU16                    // uint16
	kU32                    // uint32
	kU64                    // uint64
	kStrings                // []string
	kU32s                   // []uint32
)

// Column is one column of a table the writer fills.
type Column struct {
	Name string
	Kind colKind
}

// Table is a table the writer fills; Columns is the INSERT's column list.
type Table struct {
	Name    string
	Columns []Column
	// Key is the index of the column that identifies a row (the dedup key).
	Key int
	// TTLKey is the config key of its retention.
	TTLKey string
}

func (t *Table) columnList() string {
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	return strings.Join(names, ", ")
}

func fmtErr(op string, err error) error { return fmt.Errorf("%s: %w", op, err) }
