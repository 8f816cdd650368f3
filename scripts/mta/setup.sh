#!/usr/bin/env bash
# scripts/mta/setup.sh: install what the real-MTA tests (tools/mta) need.
#
#   - Debian's postfix (debconf "No configuration": nothing is configured or
#     started system-wide; the tests run private instances), swaks, and
#     libidn12 (Exim's runtime library), with apt when missing;
#   - Debian's Exim 4 (exim4-daemon-light, which conflicts with postfix, so it
#     is NOT installed): downloaded with `apt-get download` and unpacked with
#     `dpkg -x` into .cache/exim (git-ignored), when missing;
#   - the Debian-exim system user Exim's binary expects, when missing.
#
# Idempotent: it checks before each step and prints what it did. Runs as
# root (CI does; elsewhere use sudo). Exits non-zero with a message on
# failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
EXIM_DIR=${MXWARDEN_EXIM_DIR:-$ROOT/.cache/exim}
EXIM_PKGS=(exim4-daemon-light exim4-base exim4-config)

say() { echo "mta-setup: $*"; }
die() { echo "mta-setup: ERROR: $*" >&2; exit 1; }

did=0
start=$(date +%s)

if [ "$(id -u)" != 0 ]; then
  die "must run as root (it installs Debian packages and creates the Debian-exim user); try: sudo $0"
fi
command -v apt-get >/dev/null || die "apt-get not found: this script needs Debian (12) or a derivative"

apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then
    say "apt-get update"
    apt-get update -qq || die "apt-get update failed"
    apt_updated=1
  fi
}

pkg_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in postfix swaks libidn12; do
  pkg_installed "$p" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  apt_update
  if [[ " ${missing[*]} " == *" postfix "* ]]; then
    # "No configuration": no main.cf is written and no system instance is
    # set up; the tests give Postfix their own config_directory.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
  did=1
else
  say "postfix, swaks, libidn12 already installed"
fi
for b in /usr/sbin/postfix /usr/bin/swaks; do
  [ -x "$b" ] || die "$b missing after install"
done

if [ -x "$EXIM_DIR/usr/sbin/exim4" ] && [ -f "$EXIM_DIR/.unpacked" ]; then
  say "exim already unpacked in $EXIM_DIR"
else
  apt_update
  dl=$(mktemp -d)
  trap 'rm -rf "$dl"' EXIT
  # apt fetches as the unprivileged _apt user when it can write there.
  if id _apt >/dev/null 2>&1; then chown _apt "$dl"; fi
  say "apt-get download ${EXIM_PKGS[*]}"
  (cd "$dl" && apt-get download -qq "${EXIM_PKGS[@]}" >/dev/null) \
    || die "apt-get download ${EXIM_PKGS[*]} failed"
  rm -rf "$EXIM_DIR"
  mkdir -p "$EXIM_DIR"
  for deb in "$dl"/*.deb; do
    say "dpkg -x $(basename "$deb") $EXIM_DIR"
    dpkg -x "$deb" "$EXIM_DIR" || die "dpkg -x $deb failed"
  done
  [ -x "$EXIM_DIR/usr/sbin/exim4" ] || die "no usr/sbin/exim4 in the unpacked packages"
  ls "$dl"/*.deb | xargs -n1 basename > "$EXIM_DIR/.unpacked"
  did=1
fi

if id Debian-exim >/dev/null 2>&1; then
  say "user Debian-exim exists"
else
  say "creating system user Debian-exim"
  useradd --system --user-group --home-dir /var/spool/exim4 --no-create-home \
    --shell /usr/sbin/nologin Debian-exim || die "useradd Debian-exim failed"
  did=1
fi

# The unpacked Exim must run: this catches a missing shared library.
if ! out=$("$EXIM_DIR/usr/sbin/exim4" -bV -C /dev/null 2>&1); then
  die "unpacked exim does not run: $out"
fi
say "$(echo "$out" | grep -m1 '^Exim version' || echo 'exim: unknown version')"
say "$(/usr/sbin/postconf -d mail_version 2>/dev/null || echo 'postfix: unknown version')"

if [ "$did" = 1 ]; then
  say "done in $(( $(date +%s) - start ))s"
else
  say "nothing to do"
fi
