#!/usr/bin/env bash
# Builds the release tarball: a bffn that runs on a Linux machine without Swift or our -dev packages.
#
#   scripts/release.sh                  # out/release/bffn-VERSION-linux-x86_64-v3.tar.gz on an AVX2/FMA/F16C machine
#   BFFN_PORTABLE=1 scripts/release.sh  # out/release/bffn-VERSION-linux-x86_64.tar.gz: any x86-64
#
# What is in the binary and what travels beside it:
#   - the Swift standard library and runtime: linked statically (--static-swift-stdlib);
#   - json-c and zlib: linked statically from Debian's libjson-c.a and libz.a (how: see "json-c and zlib" below);
#   - SentencePiece: Debian ships no libsentencepiece.a, so lib/libsentencepiece.so.0 is bundled and the binary
#     finds it through its run path $ORIGIN/../lib (it needs only the C/C++ runtime: libstdc++, libm, libgcc_s,
#     libc; its protobuf-lite is linked into it);
#   - the rest is the base system's C/C++ runtime (libc, libm, libstdc++, libgcc_s, ld-linux), which every Debian
#     and Ubuntu has, new enough: BUILD-INFO names the newest glibc and libstdc++ symbol versions used (built on
#     Debian 12: glibc 2.35 and GLIBCXX_3.4.29, so Debian 12 or Ubuntu 22.04 and newer).
#
# The release is built from a commit, not from the working tree: HEAD (or BFFN_RELEASE_REV=TAG|COMMIT) is checked
# out, unchanged files left alone, into .build-release-src (with a private index: the repository's index, HEAD and
# working tree are not touched), so a release is exactly a commit and other people's unfinished edits never break
# it or leak into it. `--worktree` builds the working tree as it is instead (the version then ends in -dirty when
# Sources/ or Package.swift differ from HEAD).
#
# The tarball (deterministic: sorted names, mtime 0, owner 0, gzip -n) holds one folder bffn-VERSION-PLATFORM/ with
# bin/bffn, lib/, share/man/man1 (docs/man), shell completions for bash, zsh and fish (share/...), README.md,
# BUILD-INFO, and the copyright files of the libraries linked in or bundled (share/doc/bffn/third-party). The
# repository has no LICENSE file, so none is shipped (one is copied when the commit has it). The build uses its own
# scratch folder, .build-release, and leaves the debug build of the tests alone; a second run of an unchanged commit
# compiles nothing and only relinks and repacks. At the end it runs `scripts/check-release.sh --ldd-only` on the
# tarball; scripts/check-release.sh TARBALL runs the full check in a minimal Debian tree.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SCRATCH="$ROOT/.build-release"
OUTDIR="$ROOT/out/release"
FROM=commit
if [ "${1:-}" = --worktree ]; then FROM=worktree; shift; fi
if [ $# -ne 0 ]; then echo "usage: scripts/release.sh [--worktree]" >&2; exit 2; fi

started=$SECONDS
step_start=$SECONDS
step() {
  echo "   ($((SECONDS - step_start)) s)"
  step_start=$SECONDS
  echo "== $*"
}

echo "== dependencies"
scripts/install-deps.sh
# json-c and zlib statically. SwiftPM links a pkg-config system library twice over: with the .pc file's flags
# (-L/usr/lib/<triple> -ljson-c) and through the module map's `link "json-c"`, which the Swift compiler turns into
# a -ljson-c at the front of the link line, so no flag added on the command line comes early enough to change it.
# What decides is the library path: the linker searches the -L folders in order, taking a libNAME.so or libNAME.a
# from the first folder that has either. So the build reads copies of the .pc files whose -L names a folder holding
# only the two archives (.build-release/static-libs) instead of the system folder that also has the .so.
# SentencePiece's .pc file is copied too, without Debian's -lsentencepiece_train (the trainer: bffn calls none of
# it, and the linker would otherwise record it as needed).
STATIC_LIBS="$SCRATCH/static-libs"
PCDIR="$SCRATCH/pkgconfig"
mkdir -p "$STATIC_LIBS" "$PCDIR"
write_pc() { # MODULE LIBS: the system .pc file with its Libs line replaced
  local pc
  pc="$(pkg-config --variable=pcfiledir "$1")/$1.pc"
  { grep -v '^Libs:' "$pc"; echo "Libs: $2"; } > "$PCDIR/$1.pc.tmp"
  if cmp -s "$PCDIR/$1.pc.tmp" "$PCDIR/$1.pc"; then rm "$PCDIR/$1.pc.tmp"; else mv "$PCDIR/$1.pc.tmp" "$PCDIR/$1.pc"; fi
}
for pair in json-c:json-c zlib:z; do
  module=${pair%%:*} lib=${pair##*:}
  libdir=$(pkg-config --variable=libdir "$module")
  if [ ! -f "$libdir/lib$lib.a" ]; then
    echo "bffn release: $libdir/lib$lib.a is missing (Debian ships it in libjson-c-dev / zlib1g-dev)" >&2
    exit 1
  fi
  ln -sfn "$libdir/lib$lib.a" "$STATIC_LIBS/lib$lib.a"
  write_pc "$module" "-L$STATIC_LIBS -l$lib"
done
write_pc sentencepiece "-L$(pkg-config --variable=libdir sentencepiece) -lsentencepiece"
export PKG_CONFIG_PATH="$PCDIR${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

if [ "$FROM" = commit ]; then
  REV=$(git rev-parse --verify "${BFFN_RELEASE_REV:-HEAD}^{commit}")
  step "source: commit $REV in .build-release-src"
  SRC="$ROOT/.build-release-src"
  mkdir -p "$SRC"
  # A private index: only files that differ from the last checkout are written, so the build stays incremental.
  GIT_INDEX_FILE="$SRC/.release-index" git --work-tree="$SRC" read-tree --reset -u "$REV"
  # The dependency pins (Package.resolved is not committed): the same versions as this checkout's.
  if [ -f Package.resolved ]; then cmp -s Package.resolved "$SRC/Package.resolved" || cp Package.resolved "$SRC/"; fi
else
  REV=$(git rev-parse --verify HEAD 2>/dev/null || echo unknown)
  step "source: the working tree"
  SRC="$ROOT"
fi

if [ ! -x scripts/build-flags.sh ]; then echo "bffn release: scripts/build-flags.sh is missing" >&2; exit 1; fi
mapfile -t FLAGS < <(scripts/build-flags.sh)
ARCH=$(uname -m)
PLATFORM="linux-$ARCH"
if [ "$ARCH" = x86_64 ] && printf '%s\n' "${FLAGS[@]+"${FLAGS[@]}"}" | grep -qx -- -mavx2; then
  PLATFORM="linux-x86_64-v3"
fi

step "swift build -c release --product bffn --static-swift-stdlib (${PLATFORM}; CPU flags: ${FLAGS[*]:-none})"
# One scratch folder a platform, so a portable and an AVX2 build can alternate without compiling everything again.
# $ORIGIN stays literal: no shell sees it after this line.
BUILD=(swift build -c release --product bffn --static-swift-stdlib --package-path "$SRC" --scratch-path "$SCRATCH/$PLATFORM"
  ${FLAGS[@]+"${FLAGS[@]}"} -Xlinker -rpath -Xlinker '$ORIGIN/../lib')
BIN=$("${BUILD[@]}" --show-bin-path)/bffn
# Always link afresh: SwiftPM relinks when an object changes, not when only the link flags or the pkg-config files do.
rm -f "$BIN"
"${BUILD[@]}"

step "version"
CLI_VERSION=$("$BIN" --version)
if git describe --tags --exact-match "$REV" >/dev/null 2>&1; then
  VERSION=$(git describe --tags --exact-match "$REV")
else
  VERSION="$CLI_VERSION-g$(git rev-parse --short=12 "$REV" 2>/dev/null || echo unknown)"
fi
# A working-tree build with uncommitted changes to what the binary is built from is marked dirty.
if [ "$FROM" = worktree ] && [ -n "$(git status --porcelain -- Sources Package.swift 2>/dev/null)" ]; then
  VERSION="$VERSION-dirty"
fi
NAME="bffn-$VERSION-$PLATFORM"
echo "$NAME (bffn --version: $CLI_VERSION)"

step "stage $NAME"
STAGE="$SCRATCH/stage"
rm -rf "$STAGE"
DIR="$STAGE/$NAME"
mkdir -p "$DIR/bin" "$DIR/lib" "$DIR/share/man/man1" "$DIR/share/doc/bffn/third-party" \
  "$DIR/share/bash-completion/completions" "$DIR/share/zsh/site-functions" "$DIR/share/fish/vendor_completions.d"
# DWARF off (it is most of the file); the symbol table stays, so crash backtraces keep function names.
strip --strip-debug -o "$DIR/bin/bffn" "$BIN"

# Bundled shared libraries: by their SONAME, the file the binary itself resolved here.
BUNDLE=(libsentencepiece.so.0)
for soname in "${BUNDLE[@]}"; do
  path=$(ldd "$BIN" | awk -v n="$soname" '$1 == n && $3 ~ /^\// { print $3 }')
  if [ -z "$path" ]; then
    echo "bffn release: $BIN does not link $soname (ldd below); update BUNDLE in scripts/release.sh" >&2
    ldd "$BIN" >&2
    exit 1
  fi
  cp -L "$path" "$DIR/lib/$soname"
  strip --strip-debug "$DIR/lib/$soname"
  chmod 0644 "$DIR/lib/$soname"
done

# Copyright files of what is linked in (json-c, zlib) or bundled (SentencePiece), from the Debian packages.
for pkg in libjson-c5 zlib1g libsentencepiece0; do
  src=$(ls /usr/share/doc/"$pkg"*/copyright 2>/dev/null | head -1 || true)
  if [ -n "$src" ]; then cp "$src" "$DIR/share/doc/bffn/third-party/$pkg.copyright"; fi
done

cp "$SRC"/docs/man/*.1 "$DIR/share/man/man1/"
"$BIN" --generate-completion-script bash > "$DIR/share/bash-completion/completions/bffn"
"$BIN" --generate-completion-script zsh > "$DIR/share/zsh/site-functions/_bffn"
"$BIN" --generate-completion-script fish > "$DIR/share/fish/vendor_completions.d/bffn.fish"
cp "$SRC/README.md" "$DIR/README.md"
for license in LICENSE LICENSE.txt LICENSE.md COPYING; do
  if [ -f "$SRC/$license" ]; then cp "$SRC/$license" "$DIR/"; fi
done

# The newest symbol versions the binary and the bundled libraries need from the C and C++ runtimes.
newest() { objdump -T "$DIR/bin/bffn" "$DIR"/lib/*.so* | grep -o "$1[0-9.]*" | sort -uV | tail -1; }
GLIBC_NEEDED=$(newest 'GLIBC_[0-9]')
GLIBCXX_NEEDED=$(newest 'GLIBCXX_[0-9]')
echo "needs ${GLIBC_NEEDED:-?} and ${GLIBCXX_NEEDED:-?}"
{
  echo "bffn $VERSION ($PLATFORM)"
  echo "commit: $REV$([ "$FROM" = worktree ] && echo ' (plus the working tree at build time)')"
  echo "swift: $(swift --version 2>/dev/null | head -1)"
  echo "CPU flags: ${FLAGS[*]:-none (any $ARCH)}"
  echo "linked statically: Swift standard library and runtime, json-c $(pkg-config --modversion json-c), zlib $(pkg-config --modversion zlib)"
  echo "bundled in lib/: ${BUNDLE[*]} (SentencePiece $(pkg-config --modversion sentencepiece 2>/dev/null || echo '?')), found through the run path \$ORIGIN/../lib"
  echo "needs: Linux $ARCH with glibc >= ${GLIBC_NEEDED#GLIBC_} and libstdc++ >= $GLIBCXX_NEEDED (e.g. Debian 12, Ubuntu 22.04 or newer)"
  echo
  echo "Run bin/bffn in place, or copy bin/ and lib/ side by side (e.g. to /usr/local or ~/.local)."
  echo "Where /proc is not mounted (a bare chroot or container), the loader cannot expand \$ORIGIN: set"
  echo "LD_LIBRARY_PATH=<this folder>/lib (or LD_ORIGIN_PATH=<this folder>/bin) there."
  echo "Man pages: share/man/man1 (man -M share/man bffn). Completions: share/bash-completion, share/zsh, share/fish."
} > "$DIR/BUILD-INFO"

step "tar"
mkdir -p "$OUTDIR"
TARBALL="$OUTDIR/$NAME.tar.gz"
tar -C "$STAGE" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
  --mode='u+rwX,go+rX,go-w' -cf - "$NAME" | gzip -n -9 > "$TARBALL.tmp"
mv "$TARBALL.tmp" "$TARBALL"

step "check (ldd)"
scripts/check-release.sh --ldd-only "$TARBALL"

echo
echo "wrote $TARBALL ($(du -h "$TARBALL" | cut -f1), $(stat -c %s "$TARBALL") bytes) in $((SECONDS - started)) s"
echo "sha256 $(sha256sum "$TARBALL" | cut -d' ' -f1)"
echo "next: scripts/check-release.sh $TARBALL   (runs it in a minimal Debian 12 tree; root)"
