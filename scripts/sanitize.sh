#!/usr/bin/env bash
# Runs the whole test suite under a sanitizer: scripts/sanitize.sh asan|tsan
#   asan: AddressSanitizer (+ UndefinedBehaviorSanitizer where the toolchain links it), bounds checks kept
#   tsan: ThreadSanitizer (the worker pool, the converter's parallel writers, the background checksum thread)
# in its own build folder (.build-asan, .build-tsan). Exits non-zero when a test fails or the sanitizer reports.
# asan also runs the C interface test program (scripts/check-c-interface.sh) built with -fsanitize=address.
set -euo pipefail
cd "$(dirname "$0")/.."
KIND=${1:?usage: scripts/sanitize.sh asan|tsan}
scripts/install-deps.sh
case "$KIND" in
  asan) FLAGS=(--sanitize=address) ; export ASAN_OPTIONS=detect_leaks=0:halt_on_error=1 ;;
  tsan) FLAGS=(--sanitize=thread) ; export TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 ;;
  *) echo "usage: scripts/sanitize.sh asan|tsan" >&2; exit 2 ;;
esac
export SWIFT_BACKTRACE=enable=no
mapfile -t BUILD_FLAGS < <(scripts/build-flags.sh --debug-speed)
FLAGS+=(${BUILD_FLAGS[@]+"${BUILD_FLAGS[@]}"})
swift build --build-tests --scratch-path ".build-$KIND" "${FLAGS[@]}"
swift test --skip-build --scratch-path ".build-$KIND" "${FLAGS[@]}" --disable-xctest
# The C interface from a C program built with clang's AddressSanitizer and UBSan (leak checks on), against the
# sanitized libbffnc of this build: ownership, NULL and closed handles, stopping mid-generation.
if [ "$KIND" = asan ]; then
  CC=clang CFLAGS_EXTRA="-fsanitize=address,undefined -g" ASAN_OPTIONS=detect_leaks=1:halt_on_error=1 \
    scripts/check-c-interface.sh ".build-$KIND/debug" 2> >(grep -v "Cannot export local symbol" >&2)
fi
