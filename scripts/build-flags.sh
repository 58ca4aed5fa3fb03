#!/usr/bin/env bash
# Prints the extra `swift build` flags bffn's scripts use on this machine, one per line (read them with
# `mapfile -t FLAGS < <(scripts/build-flags.sh)`).
#
# The package itself sets no compiler flags (Package.swift has no unsafeFlags, so it can be a dependency and builds
# for any architecture): the C kernels choose their instruction sets per function at run time. Two things are
# left to the command line:
#   - on x86-64 CPUs with AVX2, FMA and F16C (x86-64-v3), the Swift float loops (float activations, attention,
#     norms) and the converter's row encoders are compiled for them (-mavx2 -mfma -mf16c): Swift has no
#     per-function target, and without FMA every fused multiply-add of the documented numerics is a library call.
#     The results are the same bits either way; only speed differs. aarch64 needs nothing (NEON and FMA are
#     part of its base).
#   - `--debug-speed`: debug builds (the test suite) optimise Swift code too (-O), so tests that run forward
#     passes run at speed, and the C kernels at -O2.
# BFFN_PORTABLE=1 prints no CPU flags (a build for any x86-64).
set -euo pipefail
flags=()
if [ "${BFFN_PORTABLE:-0}" != 1 ] && [ "$(uname -m)" = x86_64 ] && [ -r /proc/cpuinfo ]; then
  cpu=$(grep -m1 '^flags' /proc/cpuinfo || true)
  if [[ " $cpu " == *" avx2 "* && " $cpu " == *" fma "* && " $cpu " == *" f16c "* ]]; then
    flags+=(-Xcc -mavx2 -Xcc -mfma -Xcc -mf16c)
  fi
fi
if [ "${1:-}" = --debug-speed ]; then
  flags+=(-Xswiftc -O -Xcc -O2)
fi
if [ ${#flags[@]} -gt 0 ]; then printf '%s\n' "${flags[@]}"; fi
