#!/usr/bin/env bash
# Checks a release tarball from scripts/release.sh (default: the newest in out/release):
#   1. `ldd bin/bffn` (and each bundled lib/*.so*) lists only the base system's C/C++ runtime (libc, libm, libstdc++,
#      libgcc_s, ld-linux, and libdl/libpthread/librt/libutil where present) and the libraries bundled in lib/,
#      which must resolve to lib/ itself; anything else is printed and fails the check;
#   2. in a minimal Debian 12 tree (debootstrap --variant=minbase bookworm, cached in .build-rootfs/ so later runs
#      take seconds; needs root), with the tarball unpacked to /opt/bffn and fixtures/trained copied to /model:
#        - with /proc mounted: the quick start's first step, `bffn verify /model --reference
#          /model/reference.safetensors --speculative none`, and `bffn generate` of a few tokens;
#        - without /proc (a fresh chroot or container may not mount it; the Swift runtime finds the arguments
#          through /proc/self/maps): `bffn inspect /model --json` must still see its arguments. The dynamic loader
#          cannot expand $ORIGIN without /proc either, so these runs set LD_ORIGIN_PATH (or LD_LIBRARY_PATH), as
#          the README says a user must there; the bare run is shown, not checked;
#      each must exit 0 and print what it should.
#   3. on x86-64 with qemu-x86_64: `bffn kernels` and a short generate on an emulated CPU of the level the name
#      promises (qemu64, no AVX, for -x86_64; Haswell for -x86_64-v3), so an instruction it lacks shows as SIGILL.
# `--ldd-only` runs step 1 alone (scripts/release.sh runs it on every tarball it writes).
# Environment: BFFN_ROOTFS (the tree's folder, default .build-rootfs/bookworm), BFFN_DEBIAN_MIRROR (default: the
# first Debian mirror in apt's sources, else http://deb.debian.org/debian).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LDD_ONLY=0
if [ "${1:-}" = --ldd-only ]; then LDD_ONLY=1; shift; fi
TARBALL=${1:-$(ls -t out/release/bffn-*.tar.gz 2>/dev/null | head -1 || true)}
if [ -z "$TARBALL" ] || [ ! -f "$TARBALL" ]; then
  echo "bffn check-release: no tarball (give one, or run scripts/release.sh first)" >&2
  exit 2
fi
TARBALL=$(realpath "$TARBALL")

started=$SECONDS
step_start=$SECONDS
timed() { echo "   ($((SECONDS - step_start)) s)"; step_start=$SECONDS; }

WORK=$(mktemp -d)
ROOTFS=""
PROC_MOUNTED=0
cleanup() {
  if [ "$PROC_MOUNTED" = 1 ] && mountpoint -q "$ROOTFS/proc"; then umount "$ROOTFS/proc" || umount -l "$ROOTFS/proc"; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== unpack $(basename "$TARBALL") ($(stat -c %s "$TARBALL") bytes)"
tar -C "$WORK" -xzf "$TARBALL"
DIR=$(find "$WORK" -mindepth 1 -maxdepth 1 -type d | head -1)
[ -x "$DIR/bin/bffn" ] || { echo "bffn check-release: the tarball has no bin/bffn" >&2; exit 1; }
for want in lib README.md share/man/man1/bffn.1 share/bash-completion/completions/bffn share/zsh/site-functions/_bffn \
            share/fish/vendor_completions.d/bffn.fish BUILD-INFO; do
  [ -e "$DIR/$want" ] || { echo "bffn check-release: the tarball lacks $want" >&2; exit 1; }
done
(cd "$DIR" && find . -type f | sort | sed 's/^/   /')

echo "== ldd: only the base C/C++ runtime and the bundled lib/"
# The base system's C and C++ runtime: on every glibc Linux, never bundled.
BASE='^(linux-vdso\.so\.1|linux-gate\.so\.1|libc\.so\.6|libm\.so\.6|libstdc\+\+\.so\.6|libgcc_s\.so\.1|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|ld-linux[-a-z0-9_.]*\.so\.[0-9]+|/lib(64)?/ld-linux[-a-z0-9_.]*\.so\.[0-9]+)$'
bad=0
check_ldd() { # FILE
  local file=$1 out line name target
  out=$(ldd "$file" 2>&1) || { echo "ldd $file failed:"; echo "$out"; bad=1; return; }
  echo "-- ldd ${file#"$DIR"/}"
  echo "$out" | sed 's/ (0x[0-9a-f]*)$//; s/^\s*/   /'
  while IFS= read -r line; do
    line=$(echo "$line" | sed 's/^\s*//')
    [ -n "$line" ] || continue
    name=${line%% *}
    target=$(echo "$line" | awk '$2 == "=>" { print $3 }')
    if [[ "$name" =~ $BASE ]]; then continue; fi
    # A bundled library: present in lib/ and resolved there (the run path), not from the system.
    if [ -e "$DIR/lib/$name" ] && [ "$(realpath -m "$target" 2>/dev/null)" = "$(realpath "$DIR/lib/$name")" ]; then continue; fi
    echo "   NOT ALLOWED: $line"
    bad=1
  done <<< "$out"
}
check_ldd "$DIR/bin/bffn"
for lib in "$DIR"/lib/*.so*; do [ -e "$lib" ] && check_ldd "$lib"; done
runpath=$(readelf -d "$DIR/bin/bffn" | awk '/RUNPATH|RPATH/ { print $NF }')
echo "   run path: $runpath"
[[ "$runpath" == *'$ORIGIN/../lib'* ]] || { echo "   NOT ALLOWED: the run path lacks \$ORIGIN/../lib"; bad=1; }
if [ "$bad" != 0 ]; then
  echo "FAILED: bin/bffn or a bundled library needs a library that is neither the base C/C++ runtime nor in lib/" >&2
  exit 1
fi
echo "ldd: OK"
timed
if [ "$LDD_ONLY" = 1 ]; then exit 0; fi

if [ "$(id -u)" != 0 ]; then
  echo "bffn check-release: the minimal-Debian run needs root (debootstrap, chroot, mount); run with --ldd-only for step 1 alone" >&2
  exit 2
fi

ROOTFS=${BFFN_ROOTFS:-$ROOT/.build-rootfs/bookworm}
echo "== minimal Debian 12 tree ($ROOTFS)"
if [ ! -f "$ROOTFS/.complete" ]; then
  if ! command -v debootstrap >/dev/null 2>&1; then
    echo "   installing debootstrap"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null 2>&1 ||
      { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null; }
  fi
  MIRROR=${BFFN_DEBIAN_MIRROR:-$(grep -rhoE 'https?://[^ ]*/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d 2>/dev/null | head -1 | tr -d ' ' || true)}
  MIRROR=${MIRROR:-http://deb.debian.org/debian}
  echo "   debootstrap --variant=minbase bookworm $ROOTFS $MIRROR"
  rm -rf "$ROOTFS"
  mkdir -p "$(dirname "$ROOTFS")"
  debootstrap --variant=minbase bookworm "$ROOTFS" "$MIRROR" > "$WORK/debootstrap.log" 2>&1 ||
    { tail -20 "$WORK/debootstrap.log" >&2; echo "bffn check-release: debootstrap failed" >&2; exit 1; }
  # Nothing in the tree is needed but its files: clear apt's download cache.
  rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb
  touch "$ROOTFS/.complete"
else
  echo "   cached"
fi
if mountpoint -q "$ROOTFS/proc"; then
  echo "bffn check-release: $ROOTFS/proc is mounted already (another run?); unmount it first" >&2
  exit 1
fi
# Which of the libraries bffn is built with the tree has (minbase has zlib, which dpkg needs; bffn carries its own).
has="" lacks=""
for lib in libjson-c.so.5 libz.so.1 libsentencepiece.so.0 libprotobuf-lite.so.32 libswiftCore.so; do
  if find "$ROOTFS/usr/lib" "$ROOTFS/lib" -name "$lib" 2>/dev/null | grep -q .; then has="$has $lib"; else lacks="$lacks $lib"; fi
done
echo "   the tree has:${has:- none of them}; lacks:${lacks:- none}"
echo "   $(du -sh "$ROOTFS" | cut -f1), glibc $(chroot "$ROOTFS" /usr/bin/ldd --version | head -1 | awk '{ print $NF }')"
rm -rf "$ROOTFS/opt/bffn" "$ROOTFS/model" "$ROOTFS/tmp/bffn-check"
mkdir -p "$ROOTFS/opt/bffn" "$ROOTFS/tmp/bffn-check"
cp -a "$DIR/." "$ROOTFS/opt/bffn/"
cp -a fixtures/trained "$ROOTFS/model"
timed

CHROOT=$(command -v chroot || echo /usr/sbin/chroot)
failures=0
# run NAME EXPECT [VAR=VALUE...] -- COMMAND...: runs COMMAND in the tree with only PATH, HOME, LANG and the given
# variables in its environment, prints its output, and checks that it exits 0 and prints EXPECT.
run() {
  local name=$1 expect=$2; shift 2
  local vars=()
  while [ "$1" != -- ]; do vars+=("$1"); shift; done
  shift
  local start=$SECONDS status=0
  echo "== [$name] ${vars[*]:+${vars[*]} }chroot $ROOTFS $(printf '%q ' "$@")"
  env -i PATH=/usr/bin:/bin HOME=/root LANG=C.UTF-8 ${vars[@]+"${vars[@]}"} "$CHROOT" "$ROOTFS" "$@" > "$WORK/out" 2>&1 || status=$?
  sed 's/^/   | /' "$WORK/out" | tail -40
  if [ "$status" -ne 0 ]; then
    echo "   FAILED: exit status $status ($((SECONDS - start)) s)"
    failures=$((failures + 1))
  elif ! grep -qF -- "$expect" "$WORK/out"; then
    echo "   FAILED: exit status 0 but the output lacks \"$expect\" ($((SECONDS - start)) s)"
    failures=$((failures + 1))
  else
    echo "   OK ($((SECONDS - start)) s)"
  fi
}

# Without /proc first: what a fresh chroot or container meets. Two things need /proc there: the Swift runtime's
# way to the arguments (bffn reads them without it: CommandLineArguments.swift), and the dynamic loader's
# expansion of $ORIGIN in the run path (glibc reads /proc/self/exe; LD_ORIGIN_PATH or LD_LIBRARY_PATH stands in).
[ -e "$ROOTFS/proc/self" ] && { echo "bffn check-release: $ROOTFS/proc is not empty" >&2; exit 1; }
echo "== [no /proc, no loader variable] chroot $ROOTFS /opt/bffn/bin/bffn --version (not a check: shows the loader's answer)"
status=0
env -i PATH=/usr/bin:/bin "$CHROOT" "$ROOTFS" /opt/bffn/bin/bffn --version > "$WORK/out" 2>&1 || status=$?
sed 's/^/   | /' "$WORK/out"
echo "   exit status $status"
run "no /proc: inspect" '"num_experts"' LD_ORIGIN_PATH=/opt/bffn/bin -- /opt/bffn/bin/bffn inspect /model --json
run "no /proc: version" "$("$DIR/bin/bffn" --version)" LD_LIBRARY_PATH=/opt/bffn/lib -- /opt/bffn/bin/bffn --version
run "no /proc: usage error" "" LD_ORIGIN_PATH=/opt/bffn/bin -- sh -c \
  '/opt/bffn/bin/bffn inspect /model --no-such-flag; test $? = 2'

mount -t proc proc "$ROOTFS/proc"
PROC_MOUNTED=1
run "verify" PASSED -- /opt/bffn/bin/bffn verify /model --reference /model/reference.safetensors --speculative none
run "generate" "tokens (stopped" -- /opt/bffn/bin/bffn generate /model --prompt "The list type is" --max-new-tokens 16
run "tokenize (SentencePiece, the bundled library)" "" -- /opt/bffn/bin/bffn tokenize /model -p "def main():"
umount "$ROOTFS/proc"
PROC_MOUNTED=0

# The CPU the name promises: bffn under user-mode emulation of the oldest CPU the tarball is for (x86-64 with
# qemu-x86_64 installed): qemu64 (the x86-64 baseline: no AVX) for -x86_64, Haswell (AVX2, FMA, F16C; no AVX-512)
# for -x86_64-v3. An instruction that CPU lacks ends the run with SIGILL (the -v3 build does so on qemu64 at once).
# `bffn kernels` runs the products the run-time dispatch picks for the emulated CPU, and a short generate runs the
# Swift float loops, which are compiled for the tarball's level (emulation is slow: the verify run would take
# minutes on qemu64).
case "$(basename "$TARBALL")" in
  *-linux-x86_64-v3.tar.gz) QEMU_CPU=Haswell ;;
  *-linux-x86_64.tar.gz) QEMU_CPU=qemu64 ;;
  *) QEMU_CPU="" ;;
esac
if [ -n "$QEMU_CPU" ] && command -v qemu-x86_64 >/dev/null 2>&1; then
  for cmd in "kernels" "generate fixtures/trained --prompt 'The list type is' --max-new-tokens 4"; do
    start=$SECONDS status=0
    echo "== [CPU] qemu-x86_64 -cpu $QEMU_CPU bin/bffn $cmd"
    eval "qemu-x86_64 -cpu $QEMU_CPU \"\$DIR/bin/bffn\" $cmd" > "$WORK/out" 2>&1 || status=$?
    grep -v "^qemu-x86_64: warning: TCG doesn.t support" "$WORK/out" | sed 's/^/   | /' | tail -6
    if [ "$status" -ne 0 ]; then
      echo "   FAILED: exit status $status on an emulated $QEMU_CPU$([ "$status" = 132 ] && echo ' (SIGILL: an instruction this CPU lacks)') ($((SECONDS - start)) s)"
      failures=$((failures + 1))
    else
      echo "   OK on an emulated $QEMU_CPU ($((SECONDS - start)) s)"
    fi
  done
elif [ -n "$QEMU_CPU" ]; then
  echo "== [CPU] skipped: qemu-x86_64 is not installed (apt-get install qemu-user)"
fi

echo
if [ "$failures" -ne 0 ]; then
  echo "FAILED: $failures of the runs in the minimal Debian tree ($((SECONDS - started)) s)"
  exit 1
fi
echo "PASSED: $(basename "$TARBALL") runs in a minimal Debian 12 tree, with and without /proc${QEMU_CPU:+, and on an emulated $QEMU_CPU} ($((SECONDS - started)) s)"
