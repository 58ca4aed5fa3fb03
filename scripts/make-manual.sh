#!/usr/bin/env bash
# Generates bffn's man page(s) with swift-argument-parser's generate-manual plugin into docs/man/
# (view with `man docs/man/bffn.1`). Needs the package's dependencies (the offline swift-argument-parser).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift package plugin generate-manual --multi-page --authors "the bffn developers" >/dev/null
SRC=$(find .build/plugins -type d -path '*GenerateManual*' -name bffn | head -1)
if [ -z "$SRC" ] || ! ls "$SRC"/*.1 >/dev/null 2>&1; then
  echo "bffn: the generate-manual plugin wrote no pages" >&2
  exit 1
fi
mkdir -p docs/man
cp "$SRC"/*.1 docs/man/
echo "wrote $(ls docs/man | wc -l) pages to docs/man (man docs/man/bffn.1)"
