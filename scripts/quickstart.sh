#!/usr/bin/env bash
# The quick start: installs missing system libraries, builds bffn in release mode, and runs the main job on
# the bundled default model (the published block_linear layout, as a bf16 pytorch_model.bin): inspect it,
# convert it to the packed format (lossless, then q8), check every checksum of the packs, and compare greedy
# continuations of the source and the packs. (`bffn verify` joins this job when it lands.)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product bffn
BFFN=.build/release/bffn
MODEL=fixtures/reference/mla-blocklinear-rms-bf16-bin
OUT=${BFFN_OUT:-out/quickstart}
mkdir -p "$OUT"
PROMPT=61,1,43,7,41,61,1,43
echo "== bffn inspect $MODEL --check"
"$BFFN" inspect "$MODEL" --check
echo "== bffn convert $MODEL -o $OUT/model.bfpk (source dtype: lossless)"
"$BFFN" convert "$MODEL" -o "$OUT/model.bfpk" --force
echo "== bffn convert $MODEL -o $OUT/model-q8.bfpk --quant q8"
"$BFFN" convert "$MODEL" -o "$OUT/model-q8.bfpk" --quant q8 --force
echo "== bffn inspect $OUT/model-q8.bfpk --check"
"$BFFN" inspect "$OUT/model-q8.bfpk" --check
echo "== greedy continuations of prompt $PROMPT"
SRC=$("$BFFN" generate "$MODEL" --prompt-ids "$PROMPT" --max-new-tokens 16 2>/dev/null)
LOSSLESS=$("$BFFN" generate "$OUT/model.bfpk" --prompt-ids "$PROMPT" --max-new-tokens 16 2>/dev/null)
Q8=$("$BFFN" generate "$OUT/model-q8.bfpk" --prompt-ids "$PROMPT" --max-new-tokens 16 2>/dev/null)
echo "source          $SRC"
echo "pack (lossless) $LOSSLESS"
echo "pack (q8)       $Q8"
if [ "$SRC" != "$LOSSLESS" ]; then echo "FAIL: the lossless pack's greedy continuation differs from the source" >&2; exit 1; fi
echo "OK: the lossless pack reproduces the source exactly"
