#!/usr/bin/env bash
# The quick start: installs missing system libraries, builds bffn in release mode, and runs the main job on the
# bundled default model, fixtures/trained (a BlockFFN trained for real: docs/training.md):
#   1. the engine against the training-side PyTorch outputs;
#   2. convert to q8 (carrying the bundled EAGLE draft head) and, after calibrating on training-split text, to the
#      default q4 recipe with those statistics (experts q4k, attention and embedding q8, head q6k; the tokenizer files
#      travel inside each pack), and check the q4 pack's checksums;
#   3. verify both packs against the source on held-out prompts and held-out text (KL divergence, top-1,
#      perplexity ratio, the sparsity table with the paper's objectives);
#   4. generate text from a text prompt with the q8 pack, speculatively, its EAGLE head drafting.
# Exits non-zero when any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
mapfile -t BUILD_FLAGS < <(scripts/build-flags.sh)
swift build -c release --product bffn ${BUILD_FLAGS[@]+"${BUILD_FLAGS[@]}"}
BFFN=.build/release/bffn
MODEL=fixtures/trained
OUT=${BFFN_OUT:-out/quickstart}
mkdir -p "$OUT"
step() { echo; echo "== bffn $*"; "$BFFN" "$@"; }
step verify "$MODEL" --reference "$MODEL/reference.safetensors" --speculative none
step convert "$MODEL" -o "$OUT/model-q8.bfpk" --quant q8 --draft "$MODEL/eagle" --force
# The default q4 recipe (experts q4k, attention and embedding q8, head q6k), its scales chosen by the
# importance-weighted search with activation statistics from training-split text (never the held-out text).
step calibrate "$MODEL" --text "$MODEL/calibration.txt" -o "$OUT/stats.safetensors" --force
step convert "$MODEL" -o "$OUT/model-q4.bfpk" --quant q4 --imatrix "$OUT/stats.safetensors" --force
step inspect "$OUT/model-q4.bfpk" --check
# q8: speculative check with the carried EAGLE head's full tree (acceptance and CLS_spec); q4: prompt lookup.
step verify "$OUT/model-q8.bfpk" --reference "$MODEL" --prompts "$MODEL/prompts.txt" --text "$MODEL/heldout.txt" \
  --context 256 --speculative eagle --fixed-draft
step verify "$OUT/model-q4.bfpk" --reference "$MODEL" --prompts "$MODEL/prompts.txt" --text "$MODEL/heldout.txt" \
  --context 256 --speculative ngram --tree 2x4
step generate "$OUT/model-q8.bfpk" --prompt "The list type is" --max-new-tokens 64 --speculative eagle
