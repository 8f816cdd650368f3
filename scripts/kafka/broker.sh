#!/usr/bin/env bash
# Fetch and run a real, single-node Apache Kafka 4.x broker (KRaft, combined
# broker+controller) on 127.0.0.1 for integration tests.
#
# There is no Kafka tarball to download here, so the broker's libs/ folder is
# assembled from Maven Central by `mvn dependency:copy-dependencies` over the
# pom.xml beside this script. Nothing is installed system-wide: jars, the local
# Maven repository and the broker's data all live under $CACHE.
#
# Usage:
#   broker.sh available            exit 0 if java>=17 and mvn are usable
#   broker.sh fetch                download the broker jars (idempotent)
#   broker.sh start [PORT]         fresh broker on PORT (default 19092) and
#                                  PORT+1 (controller); prints 127.0.0.1:PORT
#   broker.sh stop [PORT]          stop it and delete its data
#   broker.sh status [PORT]        exit 0 if a broker we started is running
#   broker.sh run CLASS [ARGS...]  run a Java main (e.g. a Kafka CLI tool) with
#                                  the broker classpath
#
# Environment:
#   MXWARDEN_CACHE                 cache root (default: <repo>/.cache)
#   MXWARDEN_KAFKA_START_TIMEOUT   seconds to wait for readiness (default 60)
#   MXWARDEN_KAFKA_HEAP            broker -Xmx (default 512m)
#
# Only `start` writes to stdout (the bootstrap address), so callers can do
#   addr=$(scripts/kafka/broker.sh start)
# Everything else goes to stderr.
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$SCRIPT_DIR/../.." && pwd)
POM="$SCRIPT_DIR/pom.xml"

# Single source of truth for the version is the pom.
KAFKA_VERSION=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM" | head -n1)
CACHE=${MXWARDEN_CACHE:-$REPO_ROOT/.cache}
KAFKA_HOME="$CACHE/kafka-$KAFKA_VERSION"
LIBS="$KAFKA_HOME/libs"
STAMP="$KAFKA_HOME/.fetched"
RUN_ROOT="$CACHE/kafka-run"

DEFAULT_PORT=19092
START_TIMEOUT=${MXWARDEN_KAFKA_START_TIMEOUT:-60}
HEAP=${MXWARDEN_KAFKA_HEAP:-512m}
STOP_TIMEOUT=30

log() { printf 'kafka: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- checks ---------------------------------------------------------------

# Major Java version as an integer (8 for "1.8", 17 for "17"), or empty.
java_major() {
  local spec
  spec=$(java -XshowSettings:properties -version 2>&1 |
    sed -n 's/^ *java\.specification\.version = *//p' | head -n1)
  spec=${spec#1.}
  printf '%s' "${spec%%.*}"
}

cmd_available() {
  local missing=() major
  if ! command -v java >/dev/null 2>&1; then
    missing+=("java (>= 17)")
  else
    major=$(java_major)
    # Kafka 4.x brokers and tools are compiled for Java 17 (class file 61).
    if [[ -z "$major" || "$major" -lt 17 ]]; then
      missing+=("java >= 17 (found ${major:-unknown})")
    fi
  fi
  command -v mvn >/dev/null 2>&1 || missing+=("mvn")
  if ((${#missing[@]})); then
    echo "kafka broker unavailable: missing ${missing[*]}"
    return 1
  fi
}

port_arg() {
  local port=${1:-$DEFAULT_PORT}
  [[ "$port" =~ ^[0-9]+$ ]] && ((port > 0 && port < 65535)) ||
    die "invalid port '$port'"
  printf '%s' "$port"
}

# True if something accepts TCP connections on 127.0.0.1:$1.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# --- fetch ----------------------------------------------------------------

pom_hash() { sha256sum "$POM" | cut -d' ' -f1; }

cmd_fetch() {
  cmd_available >&2 || exit 1
  # Fast path without locking.
  fetched && return 0
  mkdir -p "$KAFKA_HOME"
  # Serialise concurrent fetches (e.g. parallel test packages) on one cache.
  # The lock lives in a subshell so its fd is not inherited by the broker.
  (
    if command -v flock >/dev/null 2>&1; then
      flock 9
    fi
    fetch_locked
  ) 9>"$KAFKA_HOME/.lock"
}

# The stamp records the pom's hash, so editing the pom triggers a refetch.
fetched() {
  [[ -f "$STAMP" && -d "$LIBS" && "$(cat "$STAMP")" == "$(pom_hash)" ]]
}

fetch_locked() {
  fetched && return 0
  log "fetching Kafka $KAFKA_VERSION jars from Maven Central into $LIBS"
  local tmp="$KAFKA_HOME/libs.tmp"
  rm -rf "$tmp"
  # -C: fail on checksum mismatch instead of warning. The private local repo
  # keeps the fetch independent of ~/.m2 and cacheable as one folder.
  # Copying into a temp dir then renaming means a killed fetch never leaves
  # a half-filled libs/ that looks complete.
  if ! mvn -q -B -C -f "$POM" \
      -Dmaven.repo.local="$CACHE/m2" \
      dependency:copy-dependencies \
      -DincludeScope=runtime \
      -DoutputDirectory="$tmp" >&2; then
    rm -rf "$tmp"
    die "mvn could not fetch the Kafka $KAFKA_VERSION jars (see output above)"
  fi
  [[ -f "$tmp/kafka_2.13-$KAFKA_VERSION.jar" ]] ||
    die "fetch finished but kafka_2.13-$KAFKA_VERSION.jar is missing"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  pom_hash >"$STAMP"
  log "fetched $(ls "$LIBS" | wc -l) jars ($(du -sh "$LIBS" | cut -f1))"
}

# --- start / stop ---------------------------------------------------------

# Random KRaft cluster id: 16 random bytes, URL-safe base64 without padding
# (what `kafka-storage.sh random-uuid` prints), generated without a JVM.
# Kafka rejects ids that start with '-', so draw again in that case.
random_cluster_id() {
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ "$id" != -* ]] && { printf '%s' "$id"; return; }
  done
}

# The pid in the run dir's pid file if that process is still our broker.
# Checking the command line guards against a recycled pid.
live_pid() {
  local run=$1 pid
  [[ -f "$run/broker.pid" ]] || return 1
  pid=$(cat "$run/broker.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$run/server.properties" || return 1
  printf '%s' "$pid"
}

write_config() {
  local run=$1 port=$2 cport=$3
  cat >"$run/server.properties" <<EOF
# Generated by scripts/kafka/broker.sh: single-node KRaft for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=$run/data
num.partitions=3
# One node: internal topics cannot have more than one replica.
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
# Tests: no 3 s wait before the first group rebalance, and fewer internal
# partitions so the first consumer group / transaction comes up fast.
group.initial.rebalance.delay.ms=0
offsets.topic.num.partitions=5
transaction.state.log.num.partitions=5
EOF
  # Everything goes to stdout, which start redirects to broker.log.
  # shutdownHook=disable keeps the broker's own shutdown messages logged.
  cat >"$run/log4j2.properties" <<'EOF'
status = warn
shutdownHook = disable
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
# Per-partition state changes are noise for tests.
logger.state.name = state.change.logger
logger.state.level = warn
EOF
}

cmd_start() {
  local port cport run pid cid deadline
  port=$(port_arg "${1:-}")
  cport=$((port + 1))
  run="$RUN_ROOT/$port"

  cmd_fetch

  if pid=$(live_pid "$run"); then
    die "a broker is already running on port $port (pid $pid); run: $0 stop $port"
  fi
  for p in "$port" "$cport"; do
    port_open "$p" && die "port $p on 127.0.0.1 is already in use"
  done

  # Always a fresh storage dir: tests must not see a previous run's topics.
  rm -rf "$run"
  mkdir -p "$run/data"
  write_config "$run" "$port" "$cport"

  local jvm=(java -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$run/log4j2.properties"
    -cp "$LIBS/*")

  cid=$(random_cluster_id)
  log "formatting KRaft storage in $run (cluster id $cid)"
  if ! "${jvm[@]}" -Xmx256m kafka.tools.StorageTool format \
      -t "$cid" -c "$run/server.properties" >"$run/format.log" 2>&1; then
    cat "$run/format.log" >&2
    die "formatting the storage dir failed"
  fi

  log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$port (controller :$cport)"
  # setsid: the broker gets its own session, so a Ctrl-C or the end of the
  # caller's process group does not take it down mid-test; `stop` ends it.
  # stdin/stdout/stderr are redirected so `$(broker.sh start)` returns
  # instead of waiting for the broker to close the pipe.
  local detach=()
  command -v setsid >/dev/null 2>&1 && detach=(setsid)
  ${detach[@]+"${detach[@]}"} "${jvm[@]}" "-Xms128m" "-Xmx$HEAP" \
    -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    kafka.Kafka "$run/server.properties" \
    </dev/null >"$run/broker.log" 2>&1 &
  pid=$!
  echo "$pid" >"$run/broker.pid"

  # Ready = the process is alive, the port accepts connections and the
  # broker has logged that startup completed (it logs this after the
  # controller is active and the broker is unfenced, i.e. it can serve
  # metadata and create topics).
  deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      log "broker exited during startup; last lines of $run/broker.log:"
      tail -n 40 "$run/broker.log" >&2 || true
      rm -f "$run/broker.pid"
      exit 1
    fi
    if port_open "$port" && grep -q 'Kafka Server started' "$run/broker.log"; then
      break
    fi
    if ((SECONDS >= deadline)); then
      log "broker not ready after ${START_TIMEOUT}s; last lines of $run/broker.log:"
      tail -n 40 "$run/broker.log" >&2 || true
      cmd_stop "$port" || true
      exit 1
    fi
    sleep 0.2
  done
  log "ready (pid $pid, log $run/broker.log)"
  echo "127.0.0.1:$port"
}

cmd_stop() {
  local port run pid deadline
  port=$(port_arg "${1:-}")
  run="$RUN_ROOT/$port"
  if pid=$(live_pid "$run"); then
    log "stopping broker on port $port (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
      sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "broker did not exit within ${STOP_TIMEOUT}s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    fi
  else
    log "no running broker on port $port"
  fi
  rm -rf "$run"
}

cmd_status() {
  local port pid
  port=$(port_arg "${1:-}")
  if pid=$(live_pid "$RUN_ROOT/$port"); then
    log "running on 127.0.0.1:$port (pid $pid)"
  else
    log "not running on port $port"
    return 1
  fi
}

cmd_run() {
  (($#)) || die "usage: $0 run CLASS [ARGS...]"
  cmd_fetch
  # Tool logs are warnings only, to stderr, so their stdout stays clean.
  local cfg="$KAFKA_HOME/tools-log4j2.properties"
  [[ -f "$cfg" ]] || cat >"$cfg" <<'EOF'
status = warn
shutdownHook = disable
appender.err.type = Console
appender.err.name = err
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = warn
rootLogger.appenderRef.err.ref = err
EOF
  exec java -Xmx256m -Djava.awt.headless=true \
    "-Dlog4j2.configurationFile=$cfg" -cp "$LIBS/*" "$@"
}

main() {
  local cmd=${1:-}
  shift || true
  case "$cmd" in
    available) cmd_available ;;
    fetch) cmd_fetch ;;
    start) cmd_start "$@" ;;
    stop) cmd_stop "$@" ;;
    status) cmd_status "$@" ;;
    run) cmd_run "$@" ;;
    *)
      sed -n '/^# Usage:/,/^# Everything else/p' "$0" | sed 's/^# \{0,1\}//' >&2
      exit 2
      ;;
  esac
}

main "$@"
