#!/usr/bin/env bash
# The quick start: installs missing system libraries, builds bffn in release mode, and runs the main job on
# the bundled default model (the published block_linear layout, as a bf16 pytorch_model.bin): check it against
# the published code's outputs, convert it to the packed format (q8), check the pack's checksums, and verify
# the pack against the source with speculative decoding; the verify report is printed. Exits non-zero when
# any step fails.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product bffn
BFFN=.build/release/bffn
MODEL=fixtures/reference/mla-blocklinear-rms-bf16-bin
OUT=${BFFN_OUT:-out/quickstart}
mkdir -p "$OUT"
echo "== bffn verify $MODEL --reference $MODEL/reference.safetensors (the engine against the published code)"
"$BFFN" verify "$MODEL" --reference "$MODEL/reference.safetensors" --speculative none
echo
echo "== bffn convert $MODEL -o $OUT/model-q8.bfpk --quant q8"
"$BFFN" convert "$MODEL" -o "$OUT/model-q8.bfpk" --quant q8 --force
echo
echo "== bffn inspect $OUT/model-q8.bfpk --check"
"$BFFN" inspect "$OUT/model-q8.bfpk" --check
echo
echo "== bffn verify $OUT/model-q8.bfpk --reference $MODEL --speculative ngram --tree 2x4"
"$BFFN" verify "$OUT/model-q8.bfpk" --reference "$MODEL" --speculative ngram --tree 2x4
