#!/usr/bin/env python3
"""Writes a multi-GB BlockFFN-shaped checkpoint for reader speed measurements (not a test fixture).

Shapes follow the published XLarge model (H 1792, 35 layers, MLA 14 heads, 56 experts x 128, V 122753, bf16,
about 3.3 GB). Writes OUTDIR/st/model.safetensors and OUTDIR/bin/pytorch_model.bin (the torch.save zip
layout, pickled with stand-in classes named like torch's, so no torch is needed), each with config.json.
Weights are a repeated random block: the readers' speed does not depend on the values.

Usage: python3 scripts/make_large_checkpoint.py OUTDIR [LAYERS]
"""
import json
import os
import struct
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torchless_save import save  # noqa: E402

H, NH, E, DE, V = 1792, 14, 56, 128, 122753
QL, KVL, NOPE, ROPE = 768, 256, 128, 64


def shapes(layers):
    out = [("model.embed_tokens.weight", (V, H))]
    for l in range(layers):
        p = f"model.layers.{l}."
        out += [(p + "input_layernorm.weight", (H,)),
                (p + "self_attn.q_a_proj.weight", (QL, H)), (p + "self_attn.q_a_layernorm.weight", (QL,)),
                (p + "self_attn.q_b_proj.weight", (NH * (NOPE + ROPE), QL)),
                (p + "self_attn.kv_a_proj_with_mqa.weight", (KVL + ROPE, H)),
                (p + "self_attn.kv_a_layernorm.weight", (KVL,)),
                (p + "self_attn.kv_b_proj.weight", (NH * (NOPE + H // NH), KVL)),
                (p + "self_attn.o_proj.weight", (H, H)), (p + "post_attention_layernorm.weight", (H,)),
                (p + "mlp.router_proj.weight", (E, H)), (p + "mlp.router_norm.weight", (E,)),
                (p + "mlp.up_proj", (E * DE, H)), (p + "mlp.down_proj", (H, E * DE))]
    return out + [("model.norm.weight", (H,)), ("lm_head.weight", (V, H))]


BLOCK = np.random.default_rng(1).integers(0x3c00, 0x3d00, size=1 << 22, dtype=np.uint16).tobytes()


def payload(nbytes):
    reps = nbytes // len(BLOCK) + 1
    return (BLOCK * reps)[:nbytes] if reps > 1 else BLOCK[:nbytes]


def config(layers):
    return {"architectures": ["MiniCPMForCausalLM"], "attention_type": "mla", "ffn_type": "block_linear",
            "hidden_size": H, "num_hidden_layers": layers, "num_attention_heads": NH, "num_key_value_heads": NH,
            "num_experts": E, "expert_size": DE, "vocab_size": V, "q_lora_rank": QL, "kv_lora_rank": KVL,
            "qk_nope_head_dim": NOPE, "qk_rope_head_dim": ROPE, "v_head_dim": 128, "norm_after_router": "rms",
            "rms_norm_eps": 1e-5, "scale_emb": 12, "dim_model_base": 256, "scale_depth": 1.4,
            "tie_word_embeddings": False, "rope_theta": 10000.0, "torch_dtype": "bfloat16"}


def write_safetensors(path, tensors):
    header, off = {}, 0
    for name, shape in tensors:
        n = int(np.prod(shape)) * 2
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [off, off + n]}
        off += n
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h)
        for name, shape in tensors:
            f.write(payload(int(np.prod(shape)) * 2))


def write_bin(path, tensors):
    save(path, [(name, "BF16", shape, payload(int(np.prod(shape)) * 2)) for name, shape in tensors], folder="pytorch_model")


def main():
    out = sys.argv[1]
    layers = int(sys.argv[2]) if len(sys.argv) > 2 else 35
    t = shapes(layers)
    for sub, writer, name in [("st", write_safetensors, "model.safetensors"), ("bin", write_bin, "pytorch_model.bin")]:
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        writer(os.path.join(out, sub, name), t)
        with open(os.path.join(out, sub, "config.json"), "w") as f:
            json.dump(config(layers), f, indent=2)
        print(os.path.join(out, sub, name), os.path.getsize(os.path.join(out, sub, name)))


if __name__ == "__main__":
    main()
