#!/usr/bin/env bash
# scripts/prometheus/setup.sh: promtool for the alert-rule unit tests
# (tools/deploy, `promtool test rules`). Debian's `prometheus` package is
# downloaded with `apt-get download` (apt checks it against the signed
# archive) and unpacked with `dpkg -x` into .cache/prometheus (git-ignored):
# nothing is installed system-wide and no Prometheus server is started.
# Prints the path of promtool on stdout. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../.."
DIR=${MXWARDEN_PROMETHEUS_DIR:-$PWD/.cache/prometheus}
PROMTOOL=$DIR/usr/bin/promtool

say() { echo "prometheus-setup: $*" >&2; }
die() { echo "prometheus-setup: ERROR: $*" >&2; exit 1; }

if [ -x "$PROMTOOL" ] && [ -f "$DIR/.unpacked" ]; then
  say "promtool already unpacked: $("$PROMTOOL" --version 2>&1 | head -1)"
  echo "$PROMTOOL"
  exit 0
fi
command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian (12) or a derivative"
if [ "$(id -u)" = 0 ]; then
  say "apt-get update"
  apt-get update -qq || die "apt-get update failed"
fi
dl=$(mktemp -d)
trap 'rm -rf "$dl"' EXIT
if id _apt >/dev/null 2>&1; then chown _apt "$dl" 2>/dev/null || true; fi
say "apt-get download prometheus"
(cd "$dl" && apt-get download -qq prometheus >/dev/null 2>&1) || die "apt-get download prometheus failed (run as root so apt-get update can run)"
rm -rf "$DIR"
mkdir -p "$DIR"
for deb in "$dl"/*.deb; do
  say "dpkg -x $(basename "$deb") $DIR"
  dpkg -x "$deb" "$DIR" || die "dpkg -x $deb failed"
done
[ -x "$PROMTOOL" ] || die "$PROMTOOL missing after unpacking"
"$PROMTOOL" --version >/dev/null 2>&1 || die "$PROMTOOL does not run"
touch "$DIR/.unpacked"
say "$("$PROMTOOL" --version 2>&1 | head -1)"
echo "$PROMTOOL"
