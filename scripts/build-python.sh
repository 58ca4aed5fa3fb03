#!/usr/bin/env bash
# Builds the Python package's wheel: the release C library (libbffnc, product bffnc) with the Swift runtime linked
# in statically, copied into python/bffn/_lib/, then a wheel of python/ (its in-tree build backend needs no
# network) written to OUT_DIR.
#   scripts/build-python.sh OUT_DIR          then: pip install OUT_DIR/bffn-*.whl
# The wheel is tagged for this platform (py3-none-linux_x86_64 here). The library's remaining dependencies are the
# system's C libraries (libc, libstdc++, libjson-c, zlib, libsentencepiece: scripts/install-deps.sh installs them).
# BFFN_SHARED_SWIFT_RUNTIME=1 links the Swift runtime dynamically instead (a smaller library that then needs the
# toolchain's usr/lib/swift/linux on the loader's path at run time, e.g. LD_LIBRARY_PATH=/opt/swift/usr/lib/swift/linux).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/build-python.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
mapfile -t FLAGS < <(scripts/build-flags.sh)
static=(--static-swift-stdlib)
[ "${BFFN_SHARED_SWIFT_RUNTIME:-0}" = 1 ] && static=()
swift build -c release --product bffnc ${FLAGS[@]+"${FLAGS[@]}"} ${static[@]+"${static[@]}"}
bin=$(swift build -c release --show-bin-path)
so="$bin/libbffnc.so"
[ -f "$so" ] || so="$bin/libbffnc.dylib"
rm -rf python/bffn/_lib
mkdir -p python/bffn/_lib
cp "$so" python/bffn/_lib/
if command -v ldd >/dev/null; then
  echo "== what python/bffn/_lib/$(basename "$so") needs at run time:"
  ldd "python/bffn/_lib/$(basename "$so")" | sed 's/^/  /'
  if ldd "python/bffn/_lib/$(basename "$so")" | grep -q "not found"; then
    echo "warning: some libraries above are not found; install them (scripts/install-deps.sh) or put them on LD_LIBRARY_PATH" >&2
  fi
fi
python3 -m pip wheel --no-deps --no-index --wheel-dir "$out" ./python
ls -l "$out"/bffn-*.whl
