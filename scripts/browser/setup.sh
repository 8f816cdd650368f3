#!/usr/bin/env bash
# scripts/browser/setup.sh: install what the abuse desk's browser tests
# (services/enforcer/internal/desk, chromedp) need: Debian's chromium, with
# apt when missing. Idempotent; runs as root (CI does; elsewhere use sudo).
# Prints the browser's path on its last line.
set -euo pipefail

say() { echo "browser-setup: $*" >&2; }
die() { echo "browser-setup: ERROR: $*" >&2; exit 1; }

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

if pkg_installed chromium && command -v chromium >/dev/null; then
  say "chromium already installed ($(chromium --version 2>/dev/null || echo '?'))"
else
  [ "$(id -u)" = 0 ] || die "chromium is missing and installing it needs root; try: sudo $0"
  command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian (12) or a derivative"
  say "apt-get update"
  apt-get update -qq || die "apt-get update failed"
  say "apt-get install chromium"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null \
    || die "apt-get install chromium failed"
  say "installed $(chromium --version 2>/dev/null || echo chromium)"
fi
command -v chromium
