#!/usr/bin/env bash
# scripts/clickhouse/setup.sh: install what the history writer's real-server
# tests need: Debian's clickhouse-server (18.16 on bookworm) with apt, when
# missing. Nothing is configured or started system-wide: the tests run a
# private server (their own config, data directory and ports on 127.0.0.1).
#
# Idempotent; runs as root (CI does). Exits non-zero with a message on failure.
set -euo pipefail
say() { echo "clickhouse-setup: $*"; }
die() { echo "clickhouse-setup: ERROR: $*" >&2; exit 1; }

if dpkg-query -W -f='${Status}' clickhouse-server 2>/dev/null | grep -q "install ok installed"; then
  say "clickhouse-server already installed"
else
  [ "$(id -u)" = 0 ] || die "must run as root (it installs Debian packages); try: sudo $0"
  command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian (12) or a derivative"
  say "apt-get update"
  apt-get update -qq || die "apt-get update failed"
  say "apt-get install clickhouse-server"
  # policy-rc.d keeps the package from starting the system-wide server.
  rc=/usr/sbin/policy-rc.d; made_rc=0
  if [ ! -e "$rc" ]; then printf '#!/bin/sh\nexit 101\n' > "$rc"; chmod +x "$rc"; made_rc=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clickhouse-server >/dev/null \
    || { [ "$made_rc" = 1 ] && rm -f "$rc"; die "apt-get install clickhouse-server failed"; }
  [ "$made_rc" = 1 ] && rm -f "$rc"
fi
bin=$(command -v clickhouse-server || echo /usr/bin/clickhouse-server)
[ -x "$bin" ] || die "clickhouse-server missing after install"
say "$(dpkg-query -W -f='clickhouse-server ${Version}' clickhouse-server)"
