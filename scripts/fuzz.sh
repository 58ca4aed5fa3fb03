#!/usr/bin/env bash
# Fuzzes the safetensors header, zip reader, pickle interpreter, .bfpk header/manifest and JSON parser with
# bffn-fuzz, one process per core, for SECONDS (default 600). A crash leaves its input in out/fuzz-N/current.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-600}
scripts/install-deps.sh
swift build -c release --product bffn-fuzz
swift build -c release --product bffn
mkdir -p out
.build/release/bffn convert fixtures/reference/mla-blocklinear-rms-bf16-bin -o out/seed.bfpk --align 64 --force >/dev/null
SEEDS=(fixtures/reference/mla-block-rms-bf16/model.safetensors
       fixtures/reference/mla-blocklinear-rms-bf16-bin/pytorch_model.bin
       fixtures/torch/variants/variants.bin fixtures/torch/variants/module_state_dict.bin
       fixtures/torch/variants/plain_dict.bin fixtures/reference/mla-block-rms-bf16/config.json out/seed.bfpk)
pids=()
for n in $(seq 1 "$(nproc)"); do
  mkdir -p "out/fuzz-$n"
  .build/release/bffn-fuzz "$SECONDS_TO_RUN" "$n" "out/fuzz-$n" "${SEEDS[@]}" > "out/fuzz-$n/log" 2>&1 &
  pids+=($!)
done
status=0
for i in "${!pids[@]}"; do
  if ! wait "${pids[$i]}"; then echo "fuzzer $((i + 1)) crashed: reproducer in out/fuzz-$((i + 1))/current" >&2; status=1; fi
  cat "out/fuzz-$((i + 1))/log"
done
exit $status
