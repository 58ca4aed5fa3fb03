#!/usr/bin/env bash
# Builds the kernel check program (kernel_check.c) straight from the kernel sources, not through SwiftPM, with the
# flags the package gives them (none but optimisation: every instruction set is chosen per function).
#   scripts/kernel-check/build.sh native OUT     for this machine
#   scripts/kernel-check/build.sh aarch64 OUT    for aarch64 Linux, static (run it with qemu-aarch64); needs the
#                                                cross C library (Debian: gcc-aarch64-linux-gnu, libc6-dev-arm64-cross)
# CC (default: the Swift toolchain's clang) and OPT (default -O2) may be set.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
target=${1:?usage: build.sh native|aarch64 OUT}
out=${2:?usage: build.sh native|aarch64 OUT}
if [ -z "${CC:-}" ]; then
  if [ -x /opt/swift/usr/bin/clang ]; then CC=/opt/swift/usr/bin/clang; else CC=clang; fi
fi
flags=(-std=c11 -D_GNU_SOURCE "${OPT:--O2}" -Wall -Wextra -Werror -Wno-unused-function
       -I"$root/Sources/CBlockFFNIntDot/include" -I"$root/Sources/CBlockFFNBF16Dot/include" -I"$root/Sources/CBlockFFNPrefetch/include")
case "$target" in
  native) ;;
  aarch64)
    # clang finds the cross crt files and libgcc through the GCC installation under /usr (gcc-cross).
    flags+=(--target=aarch64-linux-gnu --sysroot=/usr/aarch64-linux-gnu --gcc-toolchain=/usr -static) ;;
  *) echo "build.sh: unknown target $target (native or aarch64)" >&2; exit 2 ;;
esac
"$CC" "${flags[@]}" -o "$out" "$here/kernel_check.c" "$root"/Sources/CBlockFFNIntDot/*.c "$root"/Sources/CBlockFFNBF16Dot/*.c -lm
