#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer + AddressSanitizer) of one parser: scripts/fuzz.sh TARGET [SECONDS] [JOBS]
# TARGET: safetensors shard-index zip pickle torch-bin bfpk bfpk-manifest config reference profile tokens tokenizer
# sentencepiece layer-pack trace draft-vocabulary
# (or "all": each in turn). Builds every library instrumented, with bounds checks kept (-assert-config Debug), in
# .build-fuzz; starts from the committed seeds in fixtures/fuzz/corpus/TARGET (the corpus it grows lives in
# out/fuzz/TARGET); stops after SECONDS (default 600). A crash writes out/fuzz/TARGET/crash-*: minimise it with
# `-minimize_crash=1`, commit it to fixtures/fuzz/regressions/TARGET/, where the tests replay it. Prints the
# executions, the rate and the coverage libFuzzer reports.
set -euo pipefail
cd "$(dirname "$0")/.."
TARGET=${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [JOBS]}
SECONDS_TO_RUN=${2:-600}
JOBS=${3:-1}
scripts/install-deps.sh
# The libraries, instrumented for coverage and AddressSanitizer with bounds checks kept, then the entry point
# (scripts/fuzz/harness.swift) linked against their objects by swiftc, as libFuzzer wants its own main.
swift build -c release --target BFFNFuzzTargets --scratch-path .build-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -assert-config -Xswiftc Debug -Xcc -fsanitize=fuzzer-no-link,address >&2
# Which modules to link comes from Package.swift: BFFNFuzzTargets and every target it depends on, directly or not
# (`swift package dump-package`), so a C kernel or library added to the package is linked without editing this.
# Regular targets give their objects (and a C target its module map and headers); system libraries give their
# module map's folder and the libraries it links.
closure=$(swift package --scratch-path .build-fuzz dump-package | jq -r '
  (.targets | map({key: .name, value: .}) | from_entries) as $t
  | def deps($n): [$n] + ([$t[$n].dependencies[]? | (.byName // .target // empty)[0] | select($t[.] != null)]
                         | map(deps(.)) | add // []);
  deps("BFFNFuzzTargets") | unique[] | "\(.) \($t[.].type)"')
objects=()
includes=()
libraries=()
while read -r m type; do
  if [ "$type" = system ]; then
    includes+=(-I "Sources/$m")
    while read -r lib; do libraries+=("-l$lib"); done < <(sed -n 's/^ *link "\(.*\)"/\1/p' "Sources/$m/module.modulemap")
  else
    objects+=(.build-fuzz/release/$m.build/*.o)
    if [ -d "Sources/$m/include" ]; then
      includes+=(-Xcc "-fmodule-map-file=.build-fuzz/release/$m.build/module.modulemap" -I "Sources/$m/include")
    fi
  fi
done <<< "$closure"
# A failed link stops here (its messages shown), rather than fuzzing with a missing or stale binary.
rm -f .build-fuzz/bffn-libfuzz
if ! link_log=$(swiftc -O -sanitize=fuzzer,address -parse-as-library -assert-config Debug -I .build-fuzz/release/Modules \
    "${includes[@]}" scripts/fuzz/harness.swift "${objects[@]}" "${libraries[@]}" -lstdc++ -o .build-fuzz/bffn-libfuzz 2>&1); then
  echo "$link_log" >&2
  exit 1
fi
echo "$link_log" | grep -v "warning: Cannot export local symbol" >&2 || true
BIN=.build-fuzz/bffn-libfuzz
targets=("$TARGET")
[ "$TARGET" = all ] && targets=(safetensors shard-index zip pickle torch-bin bfpk bfpk-manifest config reference profile tokens tokenizer sentencepiece layer-pack trace draft-vocabulary)
# Several jobs only when asked: libFuzzer's -jobs mode writes fuzz-N.log into the current folder, so two
# scripts/fuzz.sh runs with JOBS > 1 must not share one.
parallel=()
[ "$JOBS" -gt 1 ] && parallel=(-jobs="$JOBS" -workers="$JOBS")
status=0
for t in "${targets[@]}"; do
  mkdir -p "out/fuzz/$t"
  dict=()
  case "$t" in
    pickle|draft-vocabulary) dict=(-dict=fixtures/fuzz/pickle.dict) ;;
    shard-index|config|profile|tokenizer|bfpk-manifest) dict=(-dict=fixtures/fuzz/json.dict) ;;
  esac
  echo "== $t, $SECONDS_TO_RUN s, $JOBS job(s)" >&2
  if ! SWIFT_BACKTRACE=enable=no ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 BFFN_FUZZ_TARGET=$t \
      "$BIN" "${dict[@]}" -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
      -artifact_prefix="out/fuzz/$t/" -print_final_stats=1 "${parallel[@]}" \
      "out/fuzz/$t" "fixtures/fuzz/corpus/$t" 2> "out/fuzz/$t/log"; then
    echo "fuzzer $t stopped on a crash, timeout or out-of-memory: see out/fuzz/$t/log and out/fuzz/$t/crash-*" >&2
    status=1
  fi
  grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|cov:" "out/fuzz/$t/log" | tail -3 >&2 || true
done
exit $status
