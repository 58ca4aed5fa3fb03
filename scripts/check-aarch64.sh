#!/usr/bin/env bash
# The C kernels on aarch64, bit for bit: builds scripts/kernel-check for this machine and for aarch64 Linux (the
# Swift toolchain's clang, a static binary), then checks every instruction set against the golden file that the x86
# portable kernels made (fixtures/kernels/golden.txt):
#   - natively (x86-64: portable, AVX2, AVX-512 VNNI, AVX-VNNI, AVX-512 BF16, as this CPU has them);
#   - under qemu-aarch64 as a Cortex-A53 (ARMv8.0: the dispatch must pick plain NEON; an sdot there would be an
#     illegal instruction), a Neoverse N1 (DotProd: neon-dotprod) and qemu's "max" CPU (I8MM, BF16, SVE: neon-i8mm).
# Each run must match the golden file in every case and pick the expected levels by default. Installs the cross C
# library and qemu-user with apt-get when they are missing (Debian/Ubuntu, as root).
#
#   scripts/check-aarch64.sh               the check (exit status 1 on any difference)
#   scripts/check-aarch64.sh -v            the same, every case printed
#   scripts/check-aarch64.sh --regenerate  rewrites the golden file from this machine's portable kernels (x86-64);
#                                          only when the documented arithmetic or the check's cases change
set -euo pipefail
cd "$(dirname "$0")/.."
golden=fixtures/kernels/golden.txt
verbose=()
regenerate=0
for arg in "$@"; do
  case "$arg" in
    -v) verbose=(-v) ;;
    --regenerate) regenerate=1 ;;
    *) echo "usage: scripts/check-aarch64.sh [-v | --regenerate]" >&2; exit 2 ;;
  esac
done

start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$regenerate" = 1 ]; then
  if [ "$(uname -m)" != x86_64 ]; then
    echo "check-aarch64: the golden file is made with the portable kernels on x86-64" >&2
    exit 2
  fi
  scripts/kernel-check/build.sh native "$work/kernel_check"
  mkdir -p "$(dirname "$golden")"
  "$work/kernel_check" print portable > "$golden.tmp"
  mv "$golden.tmp" "$golden"
  echo "wrote $golden ($(grep -vc '^#' "$golden") cases)"
  exit 0
fi

# The cross C library (crt files, libc.a, libgcc through the cross GCC) and qemu-user.
have_tools() {
  command -v qemu-aarch64 > /dev/null && [ -e /usr/aarch64-linux-gnu/lib/libc.a ] &&
    compgen -G '/usr/lib/gcc-cross/aarch64-linux-gnu/*/crtbeginT.o' > /dev/null
}
if ! have_tools; then
  echo "check-aarch64: installing gcc-aarch64-linux-gnu, libc6-dev-arm64-cross and qemu-user"
  packages=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
  export DEBIAN_FRONTEND=noninteractive
  if ! apt-get install -y --no-install-recommends "${packages[@]}" > "$work/apt.log" 2>&1; then
    apt-get update > "$work/apt.log" 2>&1
    apt-get install -y --no-install-recommends "${packages[@]}" >> "$work/apt.log" 2>&1 || { cat "$work/apt.log" >&2; exit 1; }
  fi
  have_tools || { echo "check-aarch64: the cross tools are still missing" >&2; exit 1; }
fi

# Both builds at once (two cores).
scripts/kernel-check/build.sh native "$work/kernel_check_native" &
native_build=$!
scripts/kernel-check/build.sh aarch64 "$work/kernel_check_aarch64"
wait "$native_build"

# What the x86-64 dispatchers should pick on this CPU, from the kernel's CPU flags.
expect_native=()
if [ "$(uname -m)" = x86_64 ] && [ -r /proc/cpuinfo ]; then
  flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
  has() { [[ "$flags" == *" $1 "* ]]; }
  if has avx512_vnni && has avx512vl && has avx512bw; then int8=avx512-vnni
  elif has avx_vnni && has fma; then int8=avx-vnni
  elif has avx2 && has fma; then int8=avx2
  else int8=portable; fi
  if has avx512_bf16 && has avx512vl; then bf16=avx512-bf16; else bf16=portable; fi
  expect_native=(--expect-int8 "$int8" --expect-bf16 "$bf16")
fi

failed=0
summary=()
run() { # label, expected int8 level, command...
  local label=$1 expect=$2
  shift 2
  echo "== $label"
  local out rc=0
  out=$("$@" ${verbose[@]+"${verbose[@]}"} 2>&1) || rc=$?
  echo "$out"
  local picked
  picked=$(echo "$out" | sed -n 's/^default: //p')
  if [ "$rc" = 0 ]; then
    summary+=("ok      $label: ${picked:-?}; $(echo "$out" | sed -n 's/^passed: \([0-9]*\) cases.*/\1 cases match/p')")
  else
    summary+=("FAILED  $label (exit status $rc; expected int8 $expect)")
    failed=1
  fi
}
run "x86-64 native ($(uname -m))" "${expect_native[1]:-any}" "$work/kernel_check_native" check "$golden" ${expect_native[@]+"${expect_native[@]}"}
for model in cortex-a53:neon neoverse-n1:neon-dotprod max:neon-i8mm; do
  cpu=${model%%:*}
  level=${model#*:}
  run "qemu-aarch64 -cpu $cpu" "$level" qemu-aarch64 -cpu "$cpu" "$work/kernel_check_aarch64" check "$golden" --expect-int8 "$level" --expect-bf16 neon
done

echo "== summary ($(( $(date +%s) - start )) s)"
printf '%s\n' "${summary[@]}"
if [ "$failed" != 0 ]; then
  echo "check-aarch64: FAILED"
  exit 1
fi
echo "check-aarch64: every level matches the golden file"
