#!/bin/bash
# llama.cpp and bffn on this machine in one run, alternating, 2 threads (README "Measured speed").
# Usage: side_by_side.sh LLAMA_BIN_DIR GGUF_DIR SMALL_DIR SMALL_Q4.bfpk SMALL_Q8.bfpk [BFFN]
#   LLAMA_BIN_DIR: llama.cpp's build/bin (llama-bench); GGUF_DIR: dense-{Q4_0,Q8_0,f16}.gguf from make_dense_gguf.py
#   and llama-quantize; SMALL_DIR: `bffn synth --preset small` (its workload.txt and bf16 weights).
set -u
L=$1 G=$2 S=$3 Q4=$4 Q8=$5 BFFN=${6:-.build/release/bffn}
for round in 1 2; do
  for q in Q4_0 Q8_0 f16; do
    echo "== round $round llama.cpp $q"
    LD_LIBRARY_PATH=$L "$L/llama-bench" -m "$G/dense-$q.gguf" -t 2 -p 64 -n 32 -r 3 2>/dev/null | grep -E "pp64|tg32"
  done
  for pack in "$Q4 int8" "$Q8 int8" "$S bf16" "$Q4 float" "$Q8 float" "$S float"; do
    set -- $pack
    echo "== round $round bffn $1 --activations $2"
    "$BFFN" bench "$1" --workload "$S/workload.txt" --threads 2 --activations "$2" 2>&1 | grep -E "^threads|prompt for|one call|ratio"
  done
done
