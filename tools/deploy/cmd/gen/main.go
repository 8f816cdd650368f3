// Command gen writes the generated deployment files (the PrometheusRule
// and the Grafana dashboards) from their sources. Run from tools/deploy:
//
//	go run ./cmd/gen
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/mxwarden/mxwarden/tools/deploy/internal/gen"
)

func main() {
	root := filepath.Join("..", "..")
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	files, err := gen.Files(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := filepath.Join(root, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		if err := os.WriteFile(p, files[n], 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "gen:", err)
			os.Exit(1)
		}
		fmt.Fprintln(os.Stdout, "wrote", n)
	}
}
