#!/usr/bin/env bash
# Fuzzes the safetensors header, zip reader, pickle interpreter, .bfpk header/manifest (and loading and running a
# pack that validates), reference files, device profiles, token-sequence files and the JSON parser with
# bffn-fuzz, one process per core, for SECONDS (default 600). A crash leaves its input in out/fuzz-N/current.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_TO_RUN=${1:-600}
scripts/install-deps.sh
swift build -c release --product bffn-fuzz
swift build -c release --product bffn
mkdir -p out
.build/release/bffn convert fixtures/reference/mla-blocklinear-rms-bf16-bin -o out/seed.bfpk --align 64 --force >/dev/null
printf '{"name": "seed", "quantization": {"experts": "q4", "attention": "q8"}, "q4_group_size": 32, "alignment": 4096,\n "resident_budget_bytes": 1000000, "bandwidth_gb_per_s": 51.2, "max_chunk_tokens": 8}\n' > out/seed-profile.json
printf '# prompts\n1,2,3,4\n5, 6, 7\n\n90,91\n' > out/seed-prompts.txt
SEEDS=(fixtures/reference/mla-block-rms-bf16/model.safetensors
       fixtures/reference/mla-blocklinear-rms-bf16-bin/pytorch_model.bin
       fixtures/torch/variants/variants.bin fixtures/torch/variants/module_state_dict.bin
       fixtures/torch/variants/plain_dict.bin fixtures/reference/mla-block-rms-bf16/config.json out/seed.bfpk
       fixtures/reference/mla-block-rms-bf16/reference.safetensors out/seed-profile.json out/seed-prompts.txt)
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
