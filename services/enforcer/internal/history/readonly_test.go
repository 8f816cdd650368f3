package history

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckReadOnly(t *testing.T) {
	for _, q := range []string{
		"SELECT 1", "  with x AS (SELECT 1) SELECT * FROM x", "SHOW TABLES", "DESCRIBE TABLE events", "EXPLAIN SELECT 1",
		"SELECT 'INSERT INTO x; DROP TABLE y' AS s", "SELECT 1 -- INTO OUTFILE\n", "SELECT 1;", "SELECT \"format\" FROM t",
		"SELECT {s:String}", "/* c */ SELECT 1",
	} {
		if err := CheckReadOnly(q); err != nil {
			t.Errorf("%q refused: %v", q, err)
		}
	}
	for _, q := range []string{
		"", "INSERT INTO t VALUES (1)", "SELECT 1; SELECT 2", "SELECT 1 INTO OUTFILE 'x'", "SELECT 1 FORMAT CSV",
		"SELECT 1 SETTINGS readonly=0", "SELECT 'open", "SELECT 1 /*", "SELECT $$x$$", "SELECT 1\x00", "ALTER TABLE t DELETE WHERE 1",
		"-- only a comment", "SET readonly = 0", "SELECT `a FROM t",
	} {
		if err := CheckReadOnly(q); !errors.Is(err, ErrNotReadOnly) {
			t.Errorf("%q: %v, want ErrNotReadOnly", q, err)
		}
	}
}

func TestBind(t *testing.T) {
	got, err := Bind("SELECT * FROM events WHERE sender = {s:String} AND '{s:String}' != '' AND size > { n : UInt64 }",
		map[string]string{"s": "x'); DROP TABLE events; --", "n": "5"})
	if err != nil {
		t.Fatal(err)
	}
	want := "SELECT * FROM events WHERE sender = CAST(unhex('7827293B2044524F50205441424C45206576656E74733B202D2D') AS String) AND '{s:String}' != '' AND size > CAST(unhex('35') AS UInt64)"
	if got != want {
		t.Fatalf("Bind:\n got %s\nwant %s", got, want)
	}
	if _, err := Bind("SELECT {a:String}", nil); err == nil {
		t.Error("missing parameter accepted")
	}
	if _, err := Bind("SELECT 1", map[string]string{"a": "1"}); err == nil {
		t.Error("unused parameter accepted")
	}
	if _, err := Bind("SELECT {a:Array(String)}", map[string]string{"a": "1"}); err == nil {
		t.Error("unsupported type accepted")
	}
}

func FuzzReadOnly(f *testing.F) {
	for _, s := range []string{"SELECT 1", "SELECT {s:String}", "SELECT ';' -- x\n", "SELECT 1; DROP", "SELECT `x`"} {
		f.Add(s, "v")
	}
	f.Fuzz(func(t *testing.T, sql, v string) {
		if CheckReadOnly(sql) != nil {
			return
		}
		bound, err := Bind(sql, map[string]string{"s": v})
		if err != nil {
			return
		}
		// Binding only ever adds hex constants: the bound query passes the check too,
		// and the value never appears in it verbatim unless it is hex-safe.
		if err := CheckReadOnly(bound); err != nil {
			t.Fatalf("bound query %q refused: %v", bound, err)
		}
	})
}

func TestMigrationsRender(t *testing.T) {
	ms, err := Migrations()
	if err != nil || len(ms) < 4 {
		t.Fatalf("migrations: %v %v", ms, err)
	}
	for _, m := range ms {
		for _, d := range []Dialect{Modern, Legacy} {
			stmts, err := m.Statements(d, "mxwarden")
			if err != nil || len(stmts) == 0 {
				t.Fatalf("%s %s: %v", m.Name, d, err)
			}
			all := strings.Join(stmts, "\n")
			if d == Legacy {
				for _, bad := range []string{"CODEC", "TTL", "INDEX", "DateTime64", "LowCardinality", "ttl_only_drop_parts"} {
					if strings.Contains(all, bad) {
						t.Errorf("%s legacy has %s", m.Name, bad)
					}
				}
			}
			for _, st := range stmts {
				if strings.HasSuffix(st, ";") || strings.Contains(st, "{{") {
					t.Errorf("%s %s: bad statement %q", m.Name, d, st)
				}
			}
		}
	}
}
