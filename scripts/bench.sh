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
go test -run '^$' -bench 'BenchmarkEventDecode|BenchmarkEventEncode' -benchtime "$BENCHTIME" -cpu 1 ./pkg/event/ | tee -a "$out" >&2
# Recipient stage: MX decisions against the in-process test DNS server, and
# the latency the stage adds in `detector run` (kfake, or the real broker of
# MXWARDEN_TEST_KAFKA_BROKERS).
go test -run '^$' -bench 'BenchmarkMXVerdicts' -benchtime "$BENCHTIME" -cpu 1 ./services/detector/internal/resolve/ | tee -a "$out" >&2
go test -run '^$' -bench 'BenchmarkRecipientStageLatency' -benchtime "${RECIPIENT_SAMPLES:-300}x" -cpu 1 ./services/detector/internal/detector/ | tee -a "$out" >&2

# End to end (tools/mta): a real Postfix's maillog line -> ingest -> detector ->
# enforcer over an in-process kfake broker -> REJECT from the policy server;
# one sample per iteration. Skipped (n/a) without root and Postfix. The
# services come from bin/ (`make bench` builds it first), else are built by
# the benchmark itself.
E2E_SAMPLES=${E2E_SAMPLES:-20}
if [ -z "${MXWARDEN_BIN_DIR:-}" ] && [ -x bin/ingest ] && [ -x bin/detector ] && [ -x bin/enforcer ]; then
  export MXWARDEN_BIN_DIR=$PWD/bin
fi
e2e_rc=0
(cd tools && GOWORK=off go test -v -run '^$' -bench 'BenchmarkEndToEndReject$' -benchtime "${E2E_SAMPLES}x" ./mta/) 2>&1 | tee -a "$out" >&2 || e2e_rc=$?

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
echo "  event decode (UnmarshalEvent, real events): $(fmt "$(metric 'BenchmarkEventDecode/UnmarshalEvent' events/s)" events/s)   (encoding/json: $(fmt "$(metric 'BenchmarkEventDecode/encoding_json' events/s)" events/s))"
echo "  event encode (AppendEvent, real events):    $(fmt "$(metric 'BenchmarkEventEncode/AppendEvent' events/s)" events/s)   (encoding/json: $(fmt "$(metric 'BenchmarkEventEncode/encoding_json' events/s)" events/s))"
echo "  no_mx MX decisions, cold cache (local DNS): $(fmt "$(metric 'BenchmarkMXVerdicts/cold' verdicts/s)" verdicts/s)"
echo "  no_mx MX decisions, warm cache:             $(fmt "$(metric 'BenchmarkMXVerdicts/warm' verdicts/s)" verdicts/s)"
echo "  recipient stage added latency (outcome -> ban): p50 $(fmt "$(metric BenchmarkRecipientStageLatency p50-ms)" ms), p99 $(fmt "$(metric BenchmarkRecipientStageLatency p99-ms)" ms)"
e2e_p99=$(metric BenchmarkEndToEndReject p99-ms)
if [ -n "$e2e_p99" ]; then
  e2e=$(printf 'p99 %.0f ms (p50 %.0f ms, %.0f samples)' "$e2e_p99" "$(metric BenchmarkEndToEndReject p50-ms)" "$(metric BenchmarkEndToEndReject samples)")
elif [ "$e2e_rc" != 0 ]; then
  e2e="FAILED (see the benchmark output above)"
else
  e2e="n/a (needs root with postfix: scripts/mta/setup.sh)"
fi
echo "  end to end (real Postfix line -> policy REJECT, ingest source.poll=${MXWARDEN_BENCH_INGEST_POLL:-20ms}): $e2e   target <= 1000 ms"
exit "$e2e_rc"
