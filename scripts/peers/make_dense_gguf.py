#!/usr/bin/env python3
"""Writes a dense LLaMA GGUF (F16, seeded random weights) of synth Small's width for llama.cpp's llama-bench.

The peer comparison in README "Measured speed" runs llama.cpp on a dense model of the same vocabulary (122 753),
width (768) and depth (16 layers) as `bffn synth --preset small`; llama-quantize then makes the Q8_0 and Q4_0
files. Usage: make_dense_gguf.py GGUF_PY_DIR OUT.gguf [--ffn 2048]
(GGUF_PY_DIR: the gguf-py folder of the llama.cpp source, e.g. the one the llama-cpp-python sdist vendors.)
"""
import argparse
import sys

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("gguf_py")
parser.add_argument("out")
parser.add_argument("--vocab", type=int, default=122753)
parser.add_argument("--width", type=int, default=768)
parser.add_argument("--layers", type=int, default=16)
parser.add_argument("--heads", type=int, default=6)
parser.add_argument("--ffn", type=int, default=2048)
args = parser.parse_args()
sys.path.insert(0, args.gguf_py)
import gguf  # noqa: E402

rng = np.random.default_rng(1)
H, V, F = args.width, args.vocab, args.ffn


def weight(rows, cols):
    return (rng.standard_normal((rows, cols), dtype=np.float32) / np.sqrt(cols)).astype(np.float16)


w = gguf.GGUFWriter(args.out, "llama")
w.add_name("dense-llama-synth-small-shape")
w.add_context_length(2048)
w.add_embedding_length(H)
w.add_block_count(args.layers)
w.add_feed_forward_length(F)
w.add_head_count(args.heads)
w.add_head_count_kv(args.heads)
w.add_rope_dimension_count(H // args.heads)
w.add_layer_norm_rms_eps(1e-5)
w.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
w.add_tokenizer_model("llama")
w.add_token_list([f"<t{i}>".encode() for i in range(V)])
w.add_token_scores([0.0] * V)
w.add_token_types([gguf.TokenType.NORMAL] * V)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_tensor("token_embd.weight", weight(V, H))
for i in range(args.layers):
    p = f"blk.{i}."
    w.add_tensor(p + "attn_norm.weight", np.ones(H, dtype=np.float32))
    for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
        w.add_tensor(p + name + ".weight", weight(H, H))
    w.add_tensor(p + "ffn_norm.weight", np.ones(H, dtype=np.float32))
    w.add_tensor(p + "ffn_gate.weight", weight(F, H))
    w.add_tensor(p + "ffn_up.weight", weight(F, H))
    w.add_tensor(p + "ffn_down.weight", weight(H, F))
w.add_tensor("output_norm.weight", np.ones(H, dtype=np.float32))
w.add_tensor("output.weight", weight(V, H))
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
