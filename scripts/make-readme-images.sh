#!/usr/bin/env bash
# Regenerates the two routing pictures the README shows, from the bundled trained model (fixtures/trained) on its
# own prompts (fixtures/trained/prompts.txt, what `bffn plot` reads when no prompts are given), the heatmap's
# columns labelled with the tokens (deterministic: the same build gives the same PNG bytes).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
mapfile -t BUILD_FLAGS < <(scripts/build-flags.sh)
swift build -c release --product bffn ${BUILD_FLAGS[@]+"${BUILD_FLAGS[@]}"}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
.build/release/bffn plot fixtures/trained -o "$OUT" --quiet
mkdir -p docs/images
cp "$OUT/heatmap-layer-00.png" docs/images/bundled-heatmap-layer-00.png
cp "$OUT/chunk-sparsity.png" docs/images/bundled-chunk-sparsity.png
echo "wrote docs/images/bundled-heatmap-layer-00.png and docs/images/bundled-chunk-sparsity.png"
