#!/usr/bin/env bash
# make fuzz: run every fuzz target for FUZZTIME (default 20s) each.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-20s}
for m in pkg services/ingest services/detector services/enforcer; do
  for pkg in $(go list "./$m/..."); do
    dir=$(go list -f '{{.Dir}}' "$pkg")
    for f in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
      echo "fuzz: $pkg $f ($FUZZTIME)"
      go test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg"
    done
  done
done
