#!/usr/bin/env bash
# The quick start: installs missing system libraries, builds bffn in release mode, and runs the main job
# on the bundled default model (the published block_linear layout, as pytorch_model.bin): inspect it and
# read every tensor with CRC checks. Convert and verify join this job as they land.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product bffn
BFFN=.build/release/bffn
MODEL=fixtures/reference/mla-blocklinear-rms-bf16-bin
echo "== bffn inspect $MODEL --tensors --check"
"$BFFN" inspect "$MODEL" --tensors --check
