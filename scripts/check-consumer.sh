#!/usr/bin/env bash
# Checks that bffn works as a dependency of someone else's package, as an app author uses it:
#   1. Package.swift sets no unsafeFlags (SwiftPM refuses them in a package required by version from a remote URL,
#      and a file:// URL, used here, is treated more leniently, so this is asserted separately);
#   2. a temporary git clone of this tree (committed files plus uncommitted, non-ignored ones) is tagged 0.0.1;
#   3. a throw-away consumer package (scripts/consumer) depends on it by file:// URL and version, builds in release
#      with no flags of its own, and greedily generates 8 tokens from the bundled model's q8 pack;
#   4. those tokens must equal `bffn generate`'s for the same pack and prompt;
#   5. on x86-64, where qemu-user is installed, the same consumer binary runs on an emulated CPU without AVX
#      (qemu's Nehalem model): the dispatch must take the portable kernels (no illegal instruction) and give the
#      same tokens.
# Usage: scripts/check-consumer.sh [BFFN]   (BFFN: the bffn binary to compare with; default .build/debug/bffn)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BFFN=${1:-$ROOT/.build/debug/bffn}
if grep -n 'unsafeFlags' Package.swift; then
  echo "check-consumer: Package.swift uses unsafeFlags: a package that depends on bffn by version cannot build it" >&2
  exit 1
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bffn-consumer.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
start=$(date +%s)

# The library as a tagged repository (what a release tag on a remote is).
mkdir "$WORK/bffn"
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done \
  | tar --null -T - -cf - | tar -xf - -C "$WORK/bffn"
(cd "$WORK/bffn" && git init -q && git add -A && git -c user.name=check -c user.email=check@localhost commit -qm snapshot \
  && git tag 0.0.1)

# The consumer, depending on it by URL and version.
mkdir -p "$WORK/app"
cp -R scripts/consumer/Sources "$WORK/app/"
sed -e "s|@BFFN_URL@|file://$WORK/bffn|" -e "s|@BFFN_VERSION@|0.0.1|" scripts/consumer/Package.template.swift > "$WORK/app/Package.swift"
echo "check-consumer: building a consumer of bffn 0.0.1 (file://$WORK/bffn) in release" >&2
if ! (cd "$WORK/app" && swift build -c release >"$WORK/build.log" 2>&1); then
  grep -E "error|warning: " "$WORK/build.log" | head -n 40 >&2 || tail -n 40 "$WORK/build.log" >&2
  echo "check-consumer: FAILED: the consumer package does not build" >&2
  exit 1
fi
tail -n 1 "$WORK/build.log"

# The same tokens as the command-line tool.
"$BFFN" convert fixtures/trained -o "$WORK/model-q8.bfpk" --quant q8 --quiet >/dev/null
PROMPT=1,2205,1169,338
APP=$WORK/app/.build/release/bffn-consumer
got=$("$APP" "$WORK/model-q8.bfpk" "$PROMPT" 8)
want=$("$BFFN" generate "$WORK/model-q8.bfpk" --prompt-ids "$PROMPT" --max-new-tokens 8 --ignore-eos --quiet | head -n 1)
echo "check-consumer: consumer generated $got"
echo "check-consumer: bffn generate gave $want"
if [ "$got" != "$want" ] || [ "$(echo "$got" | tr ',' '\n' | wc -l)" -ne 8 ]; then
  echo "check-consumer: FAILED: the consumer's tokens differ from bffn generate's" >&2
  exit 1
fi
if [ "$(uname -m)" = x86_64 ] && command -v qemu-x86_64 >/dev/null 2>&1; then
  old=$(qemu-x86_64 -cpu Nehalem "$APP" "$WORK/model-q8.bfpk" "$PROMPT" 8 2>"$WORK/nehalem.err") || { cat "$WORK/nehalem.err" >&2; exit 1; }
  echo "check-consumer: the same binary on an x86-64 without AVX (qemu -cpu Nehalem, $(cat "$WORK/nehalem.err")) gave $old"
  if [ "$old" != "$want" ]; then
    echo "check-consumer: FAILED: tokens differ on a CPU without AVX" >&2
    exit 1
  fi
fi
echo "check-consumer: passed in $(( $(date +%s) - start )) s"
