#!/usr/bin/env bash
# scripts/chdb/fetch.sh: fetch chDB's libchdb.so (the embedded ClickHouse
# engine the enforcer's history store links at run time) from the npm package
# @chdb/lib-linux-x64-gnu, pinned, checked against the registry's sha512
# integrity, into .cache/chdb/<version>/libchdb.so. Prints that path.
#
#   scripts/chdb/fetch.sh          fetch when missing, print the path
#   scripts/chdb/fetch.sh path     print the path only when present (exit 1 if not)
#
# Uses curl against registry.npmjs.org (or `npm pack` when curl is missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=26.7.3-stable.1
# `npm view @chdb/lib-linux-x64-gnu@$VERSION dist.integrity`
INTEGRITY=sha512-XP97mMqnc5tZpKQywR8N7cLTsHNiTmHr30pC5mzo3jWmukjKn2IBa60c2B/gWUNcuFjOMjWoorQICCqBVj5wpw==
DIR=${MXWARDEN_CHDB_DIR:-$PWD/.cache/chdb/$VERSION}
LIB=$DIR/libchdb.so
URL=https://registry.npmjs.org/@chdb/lib-linux-x64-gnu/-/lib-linux-x64-gnu-$VERSION.tgz

say() { echo "chdb-fetch: $*" >&2; }
die() { echo "chdb-fetch: ERROR: $*" >&2; exit 1; }

if [ "${1:-}" = path ]; then
  [ -f "$DIR/.verified" ] && [ -f "$LIB" ] || exit 1
  echo "$LIB"; exit 0
fi
if [ -f "$DIR/.verified" ] && [ -f "$LIB" ]; then echo "$LIB"; exit 0; fi
[ "$(uname -s)-$(uname -m)" = Linux-x86_64 ] || die "the pinned package is for linux x86_64 (glibc), not $(uname -s)-$(uname -m)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
say "fetching @chdb/lib-linux-x64-gnu@$VERSION (about 170 MB)"
if command -v curl >/dev/null; then
  curl -fsSL --retry 3 -o "$tmp/lib.tgz" "$URL" || die "download $URL failed"
elif command -v npm >/dev/null; then
  (cd "$tmp" && npm pack --silent "@chdb/lib-linux-x64-gnu@$VERSION" >/dev/null && mv ./*.tgz lib.tgz) || die "npm pack failed"
else
  die "need curl or npm"
fi
got=sha512-$(openssl dgst -sha512 -binary "$tmp/lib.tgz" | base64 -w0)
[ "$got" = "$INTEGRITY" ] || die "checksum mismatch: got $got, want $INTEGRITY"
tar -xzf "$tmp/lib.tgz" -C "$tmp" package/libchdb.so || die "no package/libchdb.so in the tarball"
mkdir -p "$DIR"
mv "$tmp/package/libchdb.so" "$LIB.part"
mv "$LIB.part" "$LIB"
echo "$INTEGRITY" > "$DIR/.verified"
say "libchdb.so $VERSION in $DIR"
echo "$LIB"
