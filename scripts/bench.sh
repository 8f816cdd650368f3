#!/usr/bin/env bash
# make bench: the figures of DESIGN.md's Targets, each a number with its unit.
# Benchmarks run with one CPU (-cpu 1), so rates are per core.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCHTIME:-2s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

go test -run '^$' -bench 'BenchmarkPostfixCorpus|BenchmarkPendingMemory' -benchtime "$BENCHTIME" -cpu 1 ./services/ingest/internal/parse/ | tee -a "$out" >&2

# ingest parse as a process over a day of a shared host (dayLog in
# services/ingest/internal/parse/daylog_test.go: 370k lines, submission with
# SASL, subjects logged, many recipients per message, long bounce texts),
# events encoded and written to /dev/null, on one core (taskset, GOMAXPROCS=1),
# best of 3; next to it, in the same run, a bare bufio.Scanner pass over the
# same file.
daylog=$(mktemp --suffix=.log)
trap 'rm -f "$out" "$daylog"' EXIT
MXWARDEN_DAYLOG_OUT=$daylog go test -count=1 -run '^TestWriteDayLog$' ./services/ingest/internal/parse/ >&2
daylog_lines=$(wc -l <"$daylog")
MXWARDEN_DAYLOG=$daylog go test -run '^$' -bench 'BenchmarkBareScan' -benchtime 10x -cpu 1 ./services/ingest/internal/parse/ | tee -a "$out" >&2
pin=(env GOMAXPROCS=1)
if command -v taskset >/dev/null; then pin=(taskset -c 0 env GOMAXPROCS=1); fi
best_wall="" best_cpu=""
for _ in 1 2 3; do
  t=$( { TIMEFORMAT='%R %U %S'; time "${pin[@]}" bin/ingest parse --quiet --host bench "$daylog" >/dev/null 2>&1; } 2>&1 )
  read -r wall user sys <<<"$t"
  cpu=$(awk -v u="$user" -v s="$sys" 'BEGIN { print u + s }')
  if [ -z "$best_wall" ] || awk -v a="$wall" -v b="$best_wall" 'BEGIN { exit !(a < b) }'; then best_wall=$wall; fi
  if [ -z "$best_cpu" ] || awk -v a="$cpu" -v b="$best_cpu" 'BEGIN { exit !(a < b) }'; then best_cpu=$cpu; fi
done
proc_rate=$(awk -v n="$daylog_lines" -v t="$best_wall" 'BEGIN { printf "%.0f", n / t }')
proc_cpu_rate=$(awk -v n="$daylog_lines" -v t="$best_cpu" 'BEGIN { printf "%.0f", n / (t > 0 ? t : 0.001) }')
echo "BenchmarkIngestParseProcess $daylog_lines lines $best_wall s-wall $best_cpu s-cpu $proc_rate lines/s $proc_cpu_rate lines/cpu-s" | tee -a "$out" >&2
go test -run '^$' -bench 'BenchmarkRules$|BenchmarkRulesDecode$' -benchtime "$BENCHTIME" -cpu 1 ./services/detector/internal/detector/ | tee -a "$out" >&2
go test -run '^$' -bench 'BenchmarkRulesIdleMemory|BenchmarkRestore$' -benchtime 1x -cpu 1 ./services/detector/internal/detector/ | tee -a "$out" >&2
# detector as a process: `detector replay` over 1M events, and `detector run`
# end to end (exactly-once transactions) against a real Apache Kafka broker,
# started here when a JDK and Maven are present (port BENCH_KAFKA_PORT).
if [ -z "${MXWARDEN_BIN_DIR:-}" ] && [ -x bin/detector ]; then export MXWARDEN_BIN_DIR=$PWD/bin; fi
BENCH_KAFKA_PORT=${BENCH_KAFKA_PORT:-19193}
bench_broker=
if [ -z "${MXWARDEN_TEST_KAFKA_BROKERS:-}" ] && scripts/kafka/broker.sh available; then
  scripts/kafka/broker.sh fetch
  MXWARDEN_TEST_KAFKA_BROKERS=$(scripts/kafka/broker.sh start "$BENCH_KAFKA_PORT") && bench_broker=$BENCH_KAFKA_PORT
  export MXWARDEN_TEST_KAFKA_BROKERS
fi
(cd tools && GOWORK=off go test -run '^$' -bench 'BenchmarkDetector' -benchtime 1x ./e2e/) 2>&1 | tee -a "$out" >&2 || true
if [ -n "$bench_broker" ]; then scripts/kafka/broker.sh stop "$bench_broker" || true; fi
go test -run '^$' -bench 'BenchmarkEventDecode|BenchmarkEventEncode' -benchtime "$BENCHTIME" -cpu 1 ./pkg/event/ | tee -a "$out" >&2

# History (enforcer): rows/s into the embedded engine (chDB) and into a private
# Debian clickhouse-server (18.16; skipped without it) from Go, 100k-row batches
# from 2 goroutines; then the p95 of each pack query over HISTORY_BENCH_EVENTS
# generated events (default 10M) in the embedded engine.
CHDB_LIB_PATH=$(scripts/chdb/fetch.sh)
export CHDB_LIB_PATH
go test -tags chdb -run '^$' -bench 'BenchmarkEmbeddedInsert|BenchmarkServerInsert' -benchtime "${HISTORY_BENCH_BATCHES:-20}x" ./services/enforcer/internal/history/ | tee -a "$out" >&2
MXWARDEN_BENCH_EVENTS=${HISTORY_BENCH_EVENTS:-10000000} go test -tags chdb -timeout 60m -run '^$' -bench 'BenchmarkPack$' -benchtime 20x ./services/enforcer/internal/history/ | tee -a "$out" >&2
# enforcer: the policy server with 1,000 concurrent connections and 1 M
# active bans (both CPUs: the server and its 1,000 clients share them),
# memory per active ban, and loading 1 M bans from the local snapshot.
go test -run '^$' -bench 'BenchmarkPolicy1000Conns$' -benchtime "${POLICY_REQUESTS:-200000}x" ./services/enforcer/internal/policy/ | tee -a "$out" >&2
go test -run '^$' -bench 'BenchmarkPolicy1000ConnsPaced$' -benchtime "${POLICY_PACED_REQUESTS:-50000}x" ./services/enforcer/internal/policy/ | tee -a "$out" >&2
go test -run '^$' -bench 'BenchmarkMemoryPerBan$|BenchmarkSnapshotLoad$' -benchtime 1x ./services/enforcer/internal/banset/ | tee -a "$out" >&2

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

# Enforcer sizing (tools/e2e): resident memory per ban and catch-up rate of
# the whole enforcer process reading a bans topic of MXWARDEN_BENCH_BANS bans.
(cd tools && GOWORK=off go test -run '^$' -bench 'BenchmarkEnforcerMemoryPerBan$' -benchtime 1x ./e2e/) 2>&1 | tee -a "$out" >&2 || true

# Rules on labelled traffic (tools/traffic: two days of Postfix and Exim logs,
# benign customers and one abuser per rule) through ingest parse and detector
# replay: precision and recall per rule.
labelled=$( (cd tools && GOWORK=off go test -count=1 -v -run '^TestLabelledTraffic$' ./e2e/) 2>&1 | sed -n 's/^ *labelled_test.go:[0-9]*: //p' || true)

# metric <benchmark regexp> <unit>: the value reported for that unit.
metric() { awk -v b="$1" -v u="$2" '$1 ~ b { for (i = 2; i <= NF; i++) if ($i == u) { print $(i-1); exit } }' "$out"; }
fmt() { if [ -n "$1" ]; then printf '%s %s' "$1" "$2"; else printf 'n/a (benchmark missing)'; fi; }
echo
echo "mxwarden benchmarks (one core, $(go env GOARCH), $(nproc) CPUs on this machine)"
echo "  ingest parse+join (Postfix corpus lines):    $(fmt "$(metric 'BenchmarkPostfixCorpus/postfix' lines/s)" lines/s)   target >= 2000000 lines/s"
echo "  ingest parse+join (whole mixed logs):       $(fmt "$(metric 'BenchmarkPostfixCorpus/all' lines/s)" lines/s)"
echo "  ingest memory per in-flight message:        $(fmt "$(metric BenchmarkPendingMemory B/msg)" B/msg)"
scan_rate=$(metric BenchmarkBareScan lines/s)
echo "  ingest parse, whole process (${daylog_lines}-line day log, output included): $(fmt "$proc_rate" lines/s) wall ($(fmt "$proc_cpu_rate" lines) per CPU-second)   target >= 3000000 lines/s"
echo "  bare bufio.Scanner pass over the same file:  $(fmt "$scan_rate" lines/s)   process/scan ratio $(awk -v a="$proc_rate" -v b="$scan_rate" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "n/a" }')"
echo "  detector rules, 1M senders, uniform keys:   $(fmt "$(metric 'BenchmarkRules/uniform' events/s)" events/s) ($(fmt "$(metric 'BenchmarkRules/uniform' events/cpu-s)" events/cpu-s))   target >= 1000000 events/s"
echo "  detector rules, 1M senders, Zipf keys:      $(fmt "$(metric 'BenchmarkRules/zipf' events/s)" events/s) ($(fmt "$(metric 'BenchmarkRules/zipf' events/cpu-s)" events/cpu-s))"
echo "  detector decode+rules, uniform keys:        $(fmt "$(metric 'BenchmarkRulesDecode/uniform' events/s)" events/s) ($(fmt "$(metric 'BenchmarkRulesDecode/uniform' events/cpu-s)" events/cpu-s))   target >= 1000000 events/s"
echo "  detector decode+rules, Zipf keys:           $(fmt "$(metric 'BenchmarkRulesDecode/zipf' events/s)" events/s) ($(fmt "$(metric 'BenchmarkRulesDecode/zipf' events/cpu-s)" events/cpu-s))"
echo "  detector state per idle sender:             $(fmt "$(metric 'BenchmarkRulesIdleMemory/sent' B/key)" B/key)   target <= 256 B/key"
echo "  detector state per sender with a bounce:    $(fmt "$(metric 'BenchmarkRulesIdleMemory/user_unknown' B/key)" B/key)"
echo "  detector state per active sender:           $(fmt "$(metric 'BenchmarkRulesIdleMemory/active' B/key)" B/key)   target <= 1024 B/key"
echo "  detector restore of 1M senders' state:      $(fmt "$(metric 'BenchmarkRestore' s/restore)" s) ($(fmt "$(metric 'BenchmarkRestore' records)" records), in process)   target <= 5 s"
echo "  detector replay process, 1M events:         $(fmt "$(metric 'BenchmarkDetectorReplayProcess' events/s)" events/s) ($(fmt "$(metric 'BenchmarkDetectorReplayProcess' events/cpu-s)" events/cpu-s))"
svc=$(metric 'BenchmarkDetectorService' events/s)
if [ -n "$svc" ]; then svc="$svc events/s"; else svc="n/a (needs a real broker: java >= 17 and mvn)"; fi
echo "  detector run end to end, exactly-once:      $svc"
echo "  event decode (UnmarshalEvent, real events): $(fmt "$(metric 'BenchmarkEventDecode/UnmarshalEvent' events/s)" events/s)   (encoding/json: $(fmt "$(metric 'BenchmarkEventDecode/encoding_json' events/s)" events/s))"
echo "  event encode (AppendEvent, real events):    $(fmt "$(metric 'BenchmarkEventEncode/AppendEvent' events/s)" events/s)   (encoding/json: $(fmt "$(metric 'BenchmarkEventEncode/encoding_json' events/s)" events/s))"
echo "  enforcer memory per ban (process RSS):       $(fmt "$(metric BenchmarkEnforcerMemoryPerBan B/ban)" B/ban) ($(fmt "$(metric BenchmarkEnforcerMemoryPerBan MiB-rss)" MiB) with $(fmt "$(metric BenchmarkEnforcerMemoryPerBan bans)" bans))"
echo "  enforcer catch-up at start:                 $(fmt "$(metric BenchmarkEnforcerMemoryPerBan bans/s-catchup)" bans/s)"
echo "  history rows into the embedded engine:     $(fmt "$(metric BenchmarkEmbeddedInsert rows/s)" rows/s)   target >= 1000000 rows/s"
echo "  history rows into clickhouse-server 18.16: $(fmt "$(metric BenchmarkServerInsert rows/s)" rows/s)"
echo "  history query pack, worst p95 over $(metric 'BenchmarkPack' events) events: $(fmt "$(metric 'BenchmarkPack' worst-p95-ms)" ms)"
echo "  enforcer policy, 1,000 conns, 1M bans, saturated: $(fmt "$(metric 'BenchmarkPolicy1000Conns-' requests/s)" requests/s), p99 $(fmt "$(metric 'BenchmarkPolicy1000Conns-' p99-ms)" ms)"
echo "  enforcer policy, 1,000 conns, 1M bans, 5000 req/s offered: p50 $(fmt "$(metric BenchmarkPolicy1000ConnsPaced p50-ms)" ms), p99 $(fmt "$(metric BenchmarkPolicy1000ConnsPaced p99-ms)" ms)   target p99 within policy.deadline (100 ms)"
echo "  enforcer memory per active ban:             $(fmt "$(metric BenchmarkMemoryPerBan B/ban)" B/ban)"
echo "  enforcer load 1M bans from disk at start:   $(fmt "$(metric BenchmarkSnapshotLoad s/load)" s)"
e2e_p99=$(metric BenchmarkEndToEndReject p99-ms)
if [ -n "$e2e_p99" ]; then
  e2e=$(printf 'p99 %.0f ms (p50 %.0f ms, %.0f samples)' "$e2e_p99" "$(metric BenchmarkEndToEndReject p50-ms)" "$(metric BenchmarkEndToEndReject samples)")
elif [ "$e2e_rc" != 0 ]; then
  e2e="FAILED (see the benchmark output above)"
else
  e2e="n/a (needs root with postfix: scripts/mta/setup.sh)"
fi
echo "  end to end (real Postfix line -> policy REJECT, ingest source.poll=${MXWARDEN_BENCH_INGEST_POLL:-20ms}): $e2e   target <= 1000 ms"
echo "  rules on labelled traffic (precision = right bans / bans, recall = abuse families banned by their rule):"
if [ -n "$labelled" ]; then printf '%s\n' "$labelled" | sed 's/^/    /'; else echo "    n/a (TestLabelledTraffic did not run)"; fi
exit "$e2e_rc"
