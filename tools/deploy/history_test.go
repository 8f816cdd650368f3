package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mxwarden/mxwarden/tools/deploy/internal/gen"
)

var (
	createRe = regexp.MustCompile(`(?is)CREATE TABLE\s+(?:IF NOT EXISTS\s+)?(?:\S+\.)?(\w+)\s*\((.*?)\)\s*ENGINE`)
	columnRe = regexp.MustCompile(`(?m)^\s*([a-z_][a-z0-9_]*)\s+\S`)
	alterRe  = regexp.MustCompile(`(?is)ALTER TABLE\s+(?:\S+\.)?(\w+)\s+(.*?);`)
	addColRe = regexp.MustCompile(`(?i)ADD COLUMN\s+(?:IF NOT EXISTS\s+)?(\w+)`)
	fromRe   = regexp.MustCompile(`(?i)\bFROM\s+(\w+)`)
)

// historySchema reads the history tables and their columns from the
// enforcer's ClickHouse migrations.
func historySchema(t *testing.T) map[string]map[string]bool {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(repoRoot(), "services", "enforcer", "internal", "history", "migrations", "*.sql"))
	tables := map[string]map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range createRe.FindAllStringSubmatch(string(b), -1) {
			cols := map[string]bool{}
			for _, c := range columnRe.FindAllStringSubmatch(m[2], -1) {
				cols[c[1]] = true
			}
			tables[m[1]] = cols
		}
		for _, m := range alterRe.FindAllStringSubmatch(string(b), -1) {
			for _, c := range addColRe.FindAllStringSubmatch(m[2], -1) {
				if tables[m[1]] != nil {
					tables[m[1]][c[1]] = true
				}
			}
		}
	}
	return tables
}

// Every table and column the abuse dashboard's ClickHouse panels read is
// created by the enforcer's history migrations.
func TestDashboardTablesExist(t *testing.T) {
	queries := gen.ClickHouseQueries()
	if len(queries) == 0 {
		t.Fatal("no ClickHouse panels")
	}
	for _, q := range queries {
		for _, m := range fromRe.FindAllStringSubmatch(q.SQL, -1) {
			if m[1] != q.Table {
				t.Errorf("panel %q reads FROM %s but declares table %s", q.Title, m[1], q.Table)
			}
		}
		for _, c := range q.Columns {
			if !regexp.MustCompile(`\b` + c + `\b`).MatchString(q.SQL) {
				t.Errorf("panel %q declares column %s its query does not use", q.Title, c)
			}
		}
	}
	tables := historySchema(t)
	if len(tables) == 0 {
		t.Skip("PENDING: no ClickHouse migrations in services/enforcer/internal/history/migrations yet (history branch); " +
			"the dashboards' tables events, verdicts, bans and queue_samples are not checked")
	}
	for _, q := range queries {
		cols, ok := tables[q.Table]
		if !ok {
			t.Errorf("panel %q reads table %s, which no migration creates (tables: %s)", q.Title, q.Table, strings.Join(keys(tables), ", "))
			continue
		}
		for _, c := range q.Columns {
			if !cols[c] {
				t.Errorf("panel %q reads %s.%s, which the migrations do not create", q.Title, q.Table, c)
			}
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
