package history

import (
	"bytes"
	"context"
	"embed"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"text/template"
	"time"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Migration is one versioned schema step: migrations/NNNN_name.sql, a
// text/template rendered for the store's dialect (see templateFuncs).
type Migration struct {
	Version int
	Name    string
	text    string
}

// Migrations returns the steps in order.
func Migrations() ([]Migration, error) {
	files, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []Migration
	for _, f := range files {
		base := strings.TrimSuffix(path.Base(f), ".sql")
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v < 1 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", f)
		}
		b, err := migrationFS.ReadFile(f)
		if err != nil {
			return nil, err
		}
		ms = append(ms, Migration{Version: v, Name: base, text: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].Version < ms[j].Version })
	for i := 1; i < len(ms); i++ {
		if ms[i].Version == ms[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", ms[i-1].Name, ms[i].Name, ms[i].Version)
		}
	}
	return ms, nil
}

// migrationsTable records the applied steps.
var migrationsTable = &Table{Name: "schema_migrations", Key: -1, Columns: []Column{
	{"version", kU32}, {"name", kString}, {"dialect", kString}, {"applied_at", kSec},
}}

// templateFuncs render the dialect differences. Modern output is the
// schema as designed; Legacy (ClickHouse 18.16) drops what it cannot parse.
func templateFuncs(d Dialect) template.FuncMap {
	modern := d == Modern
	return template.FuncMap{
		// lc: LowCardinality for columns with few distinct values (status, reason, host, ...).
		"lc": func(t string) string {
			if modern {
				return "LowCardinality(" + t + ")"
			}
			return t
		},
		"codec": func(c string) string {
			if modern {
				return " CODEC(" + c + ")"
			}
			return ""
		},
		"ts": func() string {
			if modern {
				return "DateTime64(3, 'UTC')"
			}
			return "DateTime('UTC')"
		},
		"index": func(def string) string {
			if modern {
				return ",\n  INDEX " + def
			}
			return ""
		},
		"settings": func() string {
			if modern {
				return "SETTINGS index_granularity = 8192, ttl_only_drop_parts = 1"
			}
			return "SETTINGS index_granularity = 8192"
		},
	}
}

// Statements renders m for a dialect and database and splits it into
// statements (one per ';' at a line end; comment lines dropped).
func (m Migration) Statements(d Dialect, db string) ([]string, error) {
	t, err := template.New(m.Name).Funcs(templateFuncs(d)).Parse(m.text)
	if err != nil {
		return nil, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, struct{ DB string }{db}); err != nil {
		return nil, fmt.Errorf("migration %s: %w", m.Name, err)
	}
	var out []string
	for _, part := range regexp.MustCompile(`;[ \t]*(\n|$)`).Split(b.String(), -1) {
		var lines []string
		for _, l := range strings.Split(part, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
			out = append(out, s)
		}
	}
	return out, nil
}

// Migrate brings the store's schema up to date: it creates the database
// and the schema_migrations table, applies every step not recorded there,
// in order, recording each, and then sets each table's TTL from ttl
// (Modern only). It returns the names of the steps it applied.
// Run it from one process at a time (the enforcer at start, or `enforcer
// migrate` as a deploy Job).
func Migrate(ctx context.Context, s Store, ttl TTLConfig, logger *slog.Logger) ([]string, error) {
	db := s.Database()
	if err := s.Exec(ctx, "CREATE DATABASE IF NOT EXISTS "+db); err != nil {
		return nil, fmtErr("create database", err)
	}
	if err := s.Exec(ctx, "CREATE TABLE IF NOT EXISTS "+db+".schema_migrations "+
		"(version UInt32, name String, dialect String, applied_at DateTime('UTC')) ENGINE = MergeTree ORDER BY version"); err != nil {
		return nil, fmtErr("create schema_migrations", err)
	}
	res, err := s.Query(ctx, "SELECT toString(version) AS v FROM "+db+".schema_migrations", nil)
	if err != nil {
		return nil, fmtErr("read schema_migrations", err)
	}
	done := map[int]bool{}
	for _, r := range res.Rows {
		if v, err := strconv.Atoi(fmt.Sprint(r[0])); err == nil {
			done[v] = true
		}
	}
	ms, err := Migrations()
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range ms {
		if done[m.Version] {
			continue
		}
		stmts, err := m.Statements(s.Dialect(), db)
		if err != nil {
			return applied, err
		}
		for i, st := range stmts {
			if err := s.Exec(ctx, st); err != nil {
				return applied, fmt.Errorf("migration %s statement %d: %w", m.Name, i+1, err)
			}
		}
		rec := [][]any{{uint32(m.Version), m.Name, s.Dialect().String(), time.Now().UTC()}}
		if err := s.Insert(ctx, migrationsTable, rec); err != nil {
			return applied, fmtErr("record migration "+m.Name, err)
		}
		applied = append(applied, m.Name)
		if logger != nil {
			logger.Info("history migration applied", "migration", m.Name, "dialect", s.Dialect().String())
		}
	}
	if err := applyTTL(ctx, s, ttl, logger); err != nil {
		return applied, err
	}
	return applied, nil
}

// ttlTables maps each table to its TTL expression column and config value.
func ttlTables(ttl TTLConfig) []struct {
	table, col string
	d          time.Duration
} {
	return []struct {
		table, col string
		d          time.Duration
	}{
		{"events", "ts", ttl.Events}, {"verdicts", "ts", ttl.Verdicts}, {"bans", "ts", ttl.Bans},
		{"queue_samples", "ts", ttl.QueueSamples}, {"allowlist_changes", "ts", ttl.AllowlistChanges},
		{"events_account_hour", "hour", ttl.Rollups}, {"events_rcpt_domain_day", "day", ttl.Rollups},
		{"events_reason_hour", "hour", ttl.Rollups},
	}
}

// applyTTL sets or removes each table's TTL when it differs from the
// configured one (a change rewrites parts, so it is only issued on a change).
func applyTTL(ctx context.Context, s Store, ttl TTLConfig, logger *slog.Logger) error {
	if s.Dialect() == Legacy {
		for _, t := range ttlTables(ttl) {
			if t.d > 0 && logger != nil {
				logger.Warn("history TTL not supported by this ClickHouse (18.16): rows are kept; drop old partitions by hand",
					"table", t.table, "ttl", t.d.String())
				break
			}
		}
		return nil
	}
	res, err := s.Query(ctx, "SELECT name, engine_full FROM system.tables WHERE database = '"+s.Database()+"'", nil)
	if err != nil {
		return fmtErr("read table engines", err)
	}
	engines := map[string]string{}
	for _, r := range res.Rows {
		engines[fmt.Sprint(r[0])] = fmt.Sprint(r[1])
	}
	for _, t := range ttlTables(ttl) {
		full, ok := engines[t.table]
		if !ok {
			continue
		}
		days := int(t.d / day)
		has := strings.Contains(full, " TTL ")
		want := fmt.Sprintf("toIntervalDay(%d)", days)
		var stmt string
		switch {
		case days == 0 && has:
			stmt = fmt.Sprintf("ALTER TABLE %s.%s REMOVE TTL", s.Database(), t.table)
		case days > 0 && !strings.Contains(full, want):
			col := t.col
			if t.col == "ts" {
				col = "toDateTime(ts)"
			}
			stmt = fmt.Sprintf("ALTER TABLE %s.%s MODIFY TTL %s + toIntervalDay(%d)", s.Database(), t.table, col, days)
		default:
			continue
		}
		if err := s.Exec(ctx, stmt); err != nil {
			return fmtErr("set TTL of "+t.table, err)
		}
		if logger != nil {
			logger.Info("history TTL set", "table", t.table, "days", days)
		}
	}
	return nil
}
