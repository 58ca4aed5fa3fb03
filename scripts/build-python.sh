#!/usr/bin/env bash
# Builds the Python package's wheel: the release C library (libbffnc, product bffnc), copied into
# python/bffn/_lib/ with the Swift runtime libraries it links (found through the library's $ORIGIN run path, so
# the wheel runs without a Swift toolchain), then a wheel of python/ (its in-tree build backend needs no network)
# written to OUT_DIR.
#   scripts/build-python.sh OUT_DIR          then: pip install OUT_DIR/bffn-*.whl
# The wheel is tagged for this platform (py3-none-linux_x86_64 here). What it still needs from the system: the C
# libraries libc, libstdc++, zlib, json-c and sentencepiece (scripts/install-deps.sh installs them).
# (`--static-swift-stdlib` does not help here: SwiftPM applies it to executables only, and the shared library
# kept linking libswiftCore.so.) BFFN_BUNDLE_SWIFT_RUNTIME=0 leaves the runtime out: the library then needs the
# toolchain's usr/lib/swift/linux, which its run path names (/opt/swift/usr/lib/swift/linux here).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/build-python.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
mapfile -t FLAGS < <(scripts/build-flags.sh)
swift build -c release --product bffnc ${FLAGS[@]+"${FLAGS[@]}"}
bin=$(swift build -c release --show-bin-path)
so="$bin/libbffnc.so"
[ -f "$so" ] || so="$bin/libbffnc.dylib"
rm -rf python/bffn/_lib
mkdir -p python/bffn/_lib
cp "$so" python/bffn/_lib/
if [ "${BFFN_BUNDLE_SWIFT_RUNTIME:-1}" = 1 ] && command -v ldd >/dev/null; then
  # The Swift runtime libraries (those ldd resolves inside a .../lib/swift/... folder), beside the library.
  ldd "$so" | awk '$3 ~ /\/lib\/swift\// { print $3 }' | while read -r runtime; do
    cp "$runtime" python/bffn/_lib/
  done
fi
if command -v ldd >/dev/null; then
  echo "== what python/bffn/_lib/$(basename "$so") needs at run time:"
  ldd "python/bffn/_lib/$(basename "$so")" | sed 's/^/  /'
  if ldd "python/bffn/_lib/$(basename "$so")" | grep -q "not found"; then
    echo "warning: some libraries above are not found; install them (scripts/install-deps.sh) or put them on LD_LIBRARY_PATH" >&2
  fi
fi
python3 -m pip wheel --no-deps --no-index --wheel-dir "$out" ./python
ls -l "$out"/bffn-*.whl
