#!/usr/bin/env bash
# make test: every module's tests with the race detector, plus the
# end-to-end tests against in-process kfake and a real Apache Kafka broker.
# With CI=true the real broker is required; elsewhere its tests skip with
# one line when no JDK/Maven is present.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TESTS=${TESTS:-.}
FLAGS=${GOTEST_FLAGS:--race -shuffle=on -count=1 -timeout 25m}
KAFKA_PORT=${KAFKA_PORT:-19092}
export MXWARDEN_BIN_DIR=$ROOT/bin

cleanup() {
  if [ -n "${MXWARDEN_TEST_KAFKA_BROKERS:-}" ]; then scripts/kafka/broker.sh stop "$KAFKA_PORT" || true; fi
}
trap cleanup EXIT

# Real MTAs for tools/mta: Debian's postfix and swaks, Exim unpacked into
# .cache. Installing packages needs root; CI runs as root.
if [ "$(id -u)" = 0 ]; then
  scripts/mta/setup.sh
elif [ "${CI:-}" = "true" ]; then
  echo "test: CI=true needs root to install postfix, swaks and exim (scripts/mta/setup.sh)" >&2
  exit 1
else
  echo "test: not root, so scripts/mta/setup.sh was not run; the real-MTA tests skip if postfix/exim are missing"
fi

# History: Debian's clickhouse-server (18.16) for the writer's real-server
# tests, and chDB's libchdb.so for the embedded engine's (-tags chdb).
if [ "$(id -u)" = 0 ]; then
  scripts/clickhouse/setup.sh
elif [ "${CI:-}" = "true" ]; then
  echo "test: CI=true needs root to install clickhouse-server (scripts/clickhouse/setup.sh)" >&2
  exit 1
fi
CHDB_LIB_PATH=$(scripts/chdb/fetch.sh)
export CHDB_LIB_PATH
FLAGS="$FLAGS -tags chdb"

# Chromium for the abuse desk's browser tests (chromedp): Debian's package.
if [ "$(id -u)" = 0 ]; then
  scripts/browser/setup.sh >/dev/null
elif [ "${CI:-}" = "true" ] && ! command -v chromium >/dev/null; then
  echo "test: CI=true needs root to install chromium (scripts/browser/setup.sh)" >&2
  exit 1
fi
# Screenshots of the browser tests, kept after the run.
export MXWARDEN_TEST_ARTIFACTS=${MXWARDEN_TEST_ARTIFACTS:-$ROOT/run/test-artifacts}
# promtool for the alert-rule unit tests (tools/deploy): Debian's prometheus
# package unpacked into .cache (scripts/prometheus/setup.sh).
if PROMTOOL=$(scripts/prometheus/setup.sh); then
  export PROMTOOL
elif [ "${CI:-}" = "true" ]; then
  echo "test: CI=true but scripts/prometheus/setup.sh could not provide promtool" >&2
  exit 1
else
  echo "test: no promtool (scripts/prometheus/setup.sh failed); the alert-rule tests will skip"
fi

if scripts/kafka/broker.sh available; then
  scripts/kafka/broker.sh fetch
  MXWARDEN_TEST_KAFKA_BROKERS=$(scripts/kafka/broker.sh start "$KAFKA_PORT")
  export MXWARDEN_TEST_KAFKA_BROKERS
  echo "test: real Apache Kafka broker at $MXWARDEN_TEST_KAFKA_BROKERS"
elif [ "${CI:-}" = "true" ]; then
  echo "test: CI=true but no JDK 17+/Maven to run the real Kafka broker" >&2
  exit 1
else
  echo "test: no real Kafka broker (needs java >= 17 and mvn); its end-to-end test will skip"
fi

pkgs=()
for m in pkg services/ingest services/detector services/enforcer; do pkgs+=("./$m/..."); done
# shellcheck disable=SC2086
go test $FLAGS -run "$TESTS" "${pkgs[@]}"
# The parsers' coverage of the real corpus (line kinds, unknown lines), shown in the log.
go test -count=1 -run 'TestCorpusCoverage' -v ./services/ingest/internal/parse/ | grep -vE '^=== (RUN|PAUSE|CONT)'
# The end-to-end tests run verbosely so the log shows which brokers they used.
(cd tools && GOWORK=off go test $FLAGS -v -run "$TESTS" ./...)
# Deployment checks (tools/deploy, its own module): kustomize renders every
# overlay, objects decode strictly against their schemas, Dockerfiles, promtool.
(cd tools/deploy && GOWORK=off go test $FLAGS -v -run "$TESTS" ./...)
