// Package testbin gives the end-to-end tests and benchmarks the service
// binaries: $MXWARDEN_BIN_DIR (set by `make test` and `make bench` after
// `make build`), else ingest, detector and enforcer built once per test
// process from this checkout.
package testbin

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

var (
	once sync.Once
	dir  string
	err  error
)

// Dir returns the directory holding ingest, detector and enforcer.
func Dir(tb testing.TB) string {
	tb.Helper()
	if d := os.Getenv("MXWARDEN_BIN_DIR"); d != "" {
		for _, s := range []string{"ingest", "detector", "enforcer"} {
			if _, err := os.Stat(filepath.Join(d, s)); err != nil {
				tb.Fatalf("MXWARDEN_BIN_DIR=%s but %v: run `make build`, or unset it to build the services here", d, err)
			}
		}
		return d
	}
	once.Do(func() {
		root := RepoRoot()
		dir, err = os.MkdirTemp("", "mxwarden-bin-")
		if err != nil {
			return
		}
		cmd := exec.CommandContext(context.Background(), "go", "build", "-o", dir+"/", "./services/ingest", "./services/detector", "./services/enforcer")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "GOWORK="+filepath.Join(root, "go.work"))
		if out, berr := cmd.CombinedOutput(); berr != nil {
			err = fmt.Errorf("go build the services: %w\n%s", berr, out)
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// RepoRoot is the checkout's root directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}
