#!/usr/bin/env bash
# Runs the Python package's tests (python/tests, pytest) against the library of a build: ctypes loads
# BUILD_DIR/libbffnc.so (BFFN_LIBRARY) and the tests compare with BUILD_DIR/bffn (BFFN_CLI), the `safetensors` and
# `tokenizers` Python packages (installed with pip when missing) and the fixtures' recorded values. Part of the
# test command (scripts/test.sh).
#   scripts/check-python.sh [BUILD_DIR] [PYTEST_ARGS...]     (default .build/debug; it must hold bffn and libbffnc)
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-.build/debug}
shift || true
lib=$(cd "$build" && pwd)
so="$lib/libbffnc.so"
[ -f "$so" ] || so="$lib/libbffnc.dylib"
[ -f "$so" ] || { echo "no libbffnc in $build: swift build --product bffnc" >&2; exit 1; }
python=${PYTHON:-python3}
missing=()
for pkg in numpy pytest safetensors tokenizers; do
  "$python" -c "import $pkg" 2>/dev/null || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "check-python: installing ${missing[*]}" >&2
  "$python" -m pip install --quiet "${missing[@]}"
fi
export BFFN_LIBRARY="$so" BFFN_CLI="$lib/bffn" PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
exec "$python" -m pytest -q -p no:cacheprovider python/tests "$@"
