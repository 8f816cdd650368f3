package history

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
)

var testTempRoot string

// testCleanup runs after every test, before the process exits (the
// embedded engine must be closed before exit).
var testCleanup []func()

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "history-test-")
	if err != nil {
		panic(err)
	}
	testTempRoot = dir
	code := m.Run()
	for _, f := range testCleanup {
		f()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// TestEmbeddedEngineLinked fails in CI when the tests were built without
// the embedded engine, which would silently drop its tests.
func TestEmbeddedEngineLinked(t *testing.T) {
	if EmbeddedAvailable {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but the history tests were built without -tags chdb (scripts/test.sh sets it after scripts/chdb/fetch.sh)")
	}
	t.Skip("embedded engine not linked: its tests need -tags chdb and CHDB_LIB_PATH (make test sets both)")
}

func num(t *testing.T, v any) float64 {
	t.Helper()
	switch x := v.(type) {
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			t.Fatal(err)
		}
		return f
	case float64:
		return x
	case uint64:
		return float64(x)
	case int64:
		return float64(x)
	case uint32:
		return float64(x)
	case uint8:
		return float64(x)
	case uint16:
		return float64(x)
	case string:
		var f float64
		if _, err := fmt.Sscan(x, &f); err != nil {
			t.Fatalf("not a number: %q", x)
		}
		return f
	}
	t.Fatalf("not a number: %T %v", v, v)
	return 0
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
