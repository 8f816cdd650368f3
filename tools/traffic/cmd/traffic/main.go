// Command traffic writes the labelled traffic of package traffic into a
// directory: postfix.log, exim.log, labels.json and domainowners.
//
//	go run ./traffic/cmd/traffic -out DIR [-seed N]   (from tools/, GOWORK=off)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/mxwarden/mxwarden/tools/traffic"
)

func main() {
	out := flag.String("out", ".", "directory to write into")
	seed := flag.Uint64("seed", 1, "random seed")
	flag.Parse()
	if err := write(*out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "traffic:", err)
		os.Exit(1)
	}
}

func write(dir string, seed uint64) error {
	t := traffic.Generate(seed)
	labels, err := json.MarshalIndent(t.Families, "", "  ")
	if err != nil {
		return err
	}
	for name, b := range map[string][]byte{"postfix.log": t.Postfix, "exim.log": t.Exim, "labels.json": labels, "domainowners": t.OwnerFile} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	return nil
}
