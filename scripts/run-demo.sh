#!/usr/bin/env bash
# make run: the whole pipeline on one machine with embedded defaults.
#   devkafka (franz-go kfake: ONE unreplicated broker, data in run/kafka)
#   enforcer  (policy server 127.0.0.1:10031, maps in run/maps, bans printed,
#              abuse desk on 127.0.0.1:9104 with demo API tokens in run/api-tokens)
#   detector  (rules over mail.events)
#   ingest    (follows run/demo/maillog)
#   ingest demo (writes run/demo/maillog live: normal traffic + one abuser)
# Ctrl-C stops everything. Logs of each process: run/logs/<name>.log
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${MXWARDEN_RUN_DIR:-$PWD/run}
BIN=$PWD/bin
KAFKA=${MXWARDEN_DEMO_KAFKA:-127.0.0.1:9092}
POLICY=${MXWARDEN_DEMO_POLICY:-127.0.0.1:10031}
ENFORCER_HTTP=${MXWARDEN_DEMO_ENFORCER_HTTP:-127.0.0.1:9103}
DESK=${MXWARDEN_DEMO_DESK:-127.0.0.1:9104}
# Each `make run` is a fresh demo: the previous run's topics, bans, maps and
# checkpoints are removed. (devkafka on its own keeps its -data directory
# across restarts.)
rm -rf "$RUN"
mkdir -p "$RUN"/{logs,maps,demo,kafka,history}
: > "$RUN/demo/maillog"
t0=$(date +%s)

pids=()
cleanup() {
  local rc=$?
  trap - INT TERM EXIT
  echo
  echo "make run: stopping"
  # Services first (they flush to Kafka on the way out), the broker last.
  for ((i=${#pids[@]}-1; i>=1; i--)); do kill -TERM "${pids[i]}" 2>/dev/null || true; done
  for ((i=${#pids[@]}-1; i>=1; i--)); do wait "${pids[i]}" 2>/dev/null || true; done
  kill -TERM "${pids[0]}" 2>/dev/null || true
  wait 2>/dev/null || true
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

start() { # name, command...
  local name=$1; shift
  "$@" >>"$RUN/logs/$name.log" 2>&1 &
  pids+=($!)
}

echo "make run: embedded Kafka (kfake, single unreplicated broker for trying mxwarden out) on $KAFKA"
# In its own session, so a Ctrl-C reaches the services but not the broker,
# which is stopped last, once they have flushed.
start devkafka setsid "$BIN/devkafka" -addr "$KAFKA" -data "$RUN/kafka"
common=(--set "kafka.brokers=$KAFKA" --set log.format=text)

# Demo operator API tokens (fresh each run) for the abuse desk's staff view.
token() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
admin_token=$(token)
printf '# make run demo tokens: <name> <role> <secret>\ndemo-admin admin %s\ndemo-viewer read %s\n' \
  "$admin_token" "$(token)" > "$RUN/api-tokens"
chmod 600 "$RUN/api-tokens"

# The enforcer's stdout carries the BAN / UNBAN lines: show them here.
# History goes into the embedded ClickHouse engine (chDB) in run/history;
# analysts query it live through the enforcer's /history/query.
"$BIN/enforcer" run "${common[@]}" --set "policy.addr=$POLICY" --set "maps.dir=$RUN/maps" --set "state.dir=$RUN/state" \
  --set "history.path=$RUN/history" --set "http.addr=$ENFORCER_HTTP" \
  --set desk.enabled=true --set "desk.addr=$DESK" --set "api.tokens_file=$RUN/api-tokens" \
  2>>"$RUN/logs/enforcer.log" | sed -u 's/^/enforcer: /' &
pids+=($!)
# The rules' SMTP messages point blocked senders at the desk's lookup page.
start detector "$BIN/detector" run "${common[@]}" --set "ticket_url=http://$DESK/lookup"
start ingest "$BIN/ingest" run "${common[@]}" --set "source.file=$RUN/demo/maillog" \
  --set "source.checkpoint_file=$RUN/ingest.checkpoint" --set source.host=mx1
start demo "$BIN/ingest" demo --out "$RUN/demo/maillog" --rate 20 --abuse-after 3s

echo "make run: demo traffic -> $RUN/demo/maillog; logs in $RUN/logs/"
echo "make run: waiting for the first ban (the abusive sender starts after 3 s)..."
abuser=newsletter@cheap-leads.example
map="$RUN/maps/sender_access"
for _ in $(seq 1 60); do
  if [ -s "$map" ] && grep -q "$abuser" "$map" && (exec 3<>"/dev/tcp/${POLICY%:*}/${POLICY##*:}") 2>/dev/null; then break; fi
  sleep 1
done
if ! { [ -s "$map" ] && grep -q "$abuser" "$map"; }; then
  echo "make run: no ban after 60 s; see $RUN/logs/" >&2
  exit 1
fi
echo
echo "make run: first ban $(( $(date +%s) - t0 )) s after the pipeline started"
for _ in $(seq 1 20); do (exec 3<>"/dev/tcp/${DESK%:*}/${DESK##*:}") 2>/dev/null && break; sleep 0.5; done
echo "make run: abuse desk: why $abuser is blocked: http://$DESK/lookup?a=$abuser"
echo "make run: abuse desk staff view: http://$DESK/staff (sign in with the demo-admin token $admin_token; tokens in $RUN/api-tokens)"
echo "make run: Postfix access map $map:"
sed 's/^/    /' "$map"
echo
echo "make run: policy server $POLICY asked about $abuser:"
host=${POLICY%:*}; port=${POLICY##*:}
exec 3<>"/dev/tcp/$host/$port"
printf 'request=smtpd_access_policy\nprotocol_state=RCPT\nprotocol_name=ESMTP\nclient_address=203.0.113.66\nsasl_username=cheapleads\nsender=%s\nrecipient=someone@example.org\n\n' "$abuser" >&3
while IFS= read -r -t 5 line <&3; do [ -z "$line" ] && break; echo "    $line"; done
exec 3<&-
echo
echo "make run: history (embedded ClickHouse in $RUN/history), e.g.:"
echo "    bin/enforcer history query --url http://$ENFORCER_HTTP --format table --pack why-banned --param subject=$abuser"
echo "    bin/enforcer history query --url http://$ENFORCER_HTTP 'SELECT status, count() FROM events GROUP BY status'"
echo
echo "make run: the pipeline keeps running; Ctrl-C stops everything."
wait
