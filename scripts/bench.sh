#!/usr/bin/env bash
# make bench: the figures of DESIGN.md's Targets, each a number with its unit.
# Benchmarks run with one CPU (-cpu 1), so rates are per core.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCHTIME:-2s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench 'BenchmarkPostfixCorpus|BenchmarkPendingMemory' -benchtime "$BENCHTIME" -cpu 1 ./services/ingest/internal/parse/ | tee -a "$out" >&2
go test -run '^$' -bench 'BenchmarkRules$' -benchtime "$BENCHTIME" -cpu 1 ./services/detector/internal/detector/ | tee -a "$out" >&2
go test -run '^$' -bench 'BenchmarkRulesIdleMemory' -benchtime 1x -cpu 1 ./services/detector/internal/detector/ | tee -a "$out" >&2

# metric <benchmark regexp> <unit>: the value reported for that unit.
metric() { awk -v b="$1" -v u="$2" '$1 ~ b { for (i = 2; i <= NF; i++) if ($i == u) { print $(i-1); exit } }' "$out"; }
fmt() { if [ -n "$1" ]; then printf '%s %s' "$1" "$2"; else printf 'n/a (benchmark missing)'; fi; }
echo
echo "mxwarden benchmarks (one core, $(go env GOARCH), $(nproc) CPUs on this machine)"
echo "  ingest parse+join (Postfix corpus lines):    $(fmt "$(metric 'BenchmarkPostfixCorpus/postfix' lines/s)" lines/s)   target >= 2000000 lines/s"
echo "  ingest parse+join (whole mixed logs):       $(fmt "$(metric 'BenchmarkPostfixCorpus/all' lines/s)" lines/s)"
echo "  ingest memory per in-flight message:        $(fmt "$(metric BenchmarkPendingMemory B/msg)" B/msg)"
echo "  detector rules, 1M senders, uniform keys:   $(fmt "$(metric 'BenchmarkRules/uniform' events/s)" events/s)   target >= 1000000 events/s"
echo "  detector rules, 1M senders, Zipf keys:      $(fmt "$(metric 'BenchmarkRules/zipf' events/s)" events/s)"
echo "  detector state per idle sender:             $(fmt "$(metric BenchmarkRulesIdleMemory B/key)" B/key)   target <= 256 B/key"
