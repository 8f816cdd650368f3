// Package corpus locates the shared real-log corpus (../shared/corpus/real
// beside the checkout) for the parsers' and classifier's tests.
package corpus

import (
	"os"
	"path/filepath"
	"testing"
)

// Dir finds shared/corpus/real by walking up from the test's directory.
// Outside CI a missing corpus skips the test with one line saying so; with
// CI=true it fails the test.
func Dir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	for {
		p := filepath.Join(dir, "shared", "corpus", "real")
		if st, err := os.Stat(p); err == nil && st.IsDir() {
			return p
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			break
		}
		dir = parent
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("shared/corpus/real not found above the test directory (CI needs ../shared beside the checkout)")
	}
	tb.Skip("shared/corpus/real not found above the test directory: put the shared folder beside the checkout")
	return ""
}
