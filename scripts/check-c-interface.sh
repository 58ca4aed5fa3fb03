#!/usr/bin/env bash
# Builds Tests/CInterface/c_interface_test.c with the system C compiler against include/bffn.h and libbffnc (the
# shared library product) and runs it on the bundled model. Part of the test command (scripts/test.sh).
#   scripts/check-c-interface.sh [BUILD_DIR]       (default .build/debug; it must hold bffn and libbffnc.so)
# CC chooses the compiler (default cc); CFLAGS_EXTRA adds flags (scripts/sanitize.sh: CC=clang, -fsanitize=address).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-.build/debug}
lib=$(cd "$build" && pwd)
[ -f "$lib/libbffnc.so" ] || [ -f "$lib/libbffnc.dylib" ] || { echo "no libbffnc in $build: swift build --product bffnc" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"${CC:-cc}" -std=c11 -Wall -Wextra -Werror ${CFLAGS_EXTRA:-} -I include Tests/CInterface/c_interface_test.c -L "$lib" -lbffnc -Wl,-rpath,"$lib" -o "$work/c_interface_test"
model=fixtures/trained
ids=$("$build/bffn" tokenize "$model" -p "def add(a, b):" --json | python3 -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["ids"])))')
generated=$("$build/bffn" generate "$model" -p "def add(a, b):" -n 12 -t 1 --json | python3 -c 'import json,sys; print(",".join(map(str, json.load(sys.stdin)["generated_ids"])))')
"$work/c_interface_test" "$model" "$ids" "$generated" fixtures/reference/mla-block-rms-bf16/reference.safetensors "$work"
# The example program of docs/api.md builds with the same flags and streams a reply.
"${CC:-cc}" -std=c11 -Wall -Wextra -Werror ${CFLAGS_EXTRA:-} -I include Examples/C/generate.c -L "$lib" -lbffnc -Wl,-rpath,"$lib" -o "$work/generate"
out=$("$work/generate" "$model" "def add(a, b):")
case "$out" in
  "def add(a, b):"*'"stop_reason"'*) echo "ok Examples/C/generate.c" ;;
  *) echo "Examples/C/generate.c printed: $out" >&2; exit 1 ;;
esac
