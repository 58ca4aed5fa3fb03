#!/usr/bin/env bash
# The test command: installs missing system libraries, builds and runs the whole test suite, then the portability
# checks: the C kernels built for aarch64 and run under qemu on three CPU models, bit for bit against the x86
# portable kernels (scripts/check-aarch64.sh, which installs the cross C library and qemu-user when missing), and
# bffn as another package's dependency, built with no flags (scripts/check-consumer.sh; on x86-64 it also runs the
# consumer on an emulated CPU without AVX), the C interface (include/bffn.h) from a C program
# (scripts/check-c-interface.sh) and from Python (scripts/check-python.sh: the python/ package's pytest suite), and
# `bffn serve` against the real openai Python client (scripts/check-server.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
# CPU flags for the Swift float loops on x86-64-v3 and optimised debug code (see scripts/build-flags.sh).
mapfile -t BUILD_FLAGS < <(scripts/build-flags.sh --debug-speed)
swift build --build-tests ${BUILD_FLAGS[@]+"${BUILD_FLAGS[@]}"}
swift test --skip-build --disable-xctest ${BUILD_FLAGS[@]+"${BUILD_FLAGS[@]}"}
scripts/check-c-interface.sh .build/debug
scripts/check-python.sh .build/debug
scripts/check-aarch64.sh
scripts/check-consumer.sh .build/debug/bffn
scripts/check-server.sh .build/debug/bffn
