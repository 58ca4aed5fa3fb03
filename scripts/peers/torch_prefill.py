#!/usr/bin/env python3
"""Times prompt processing of a BlockFFN MLA/block_linear checkpoint (e.g. `bffn synth --preset small`) in PyTorch
on the CPU, the way the published modelling code computes it: bf16 weights and activations, every expert dense
(`block_implementation: torch`), one forward over the whole prompt. The peer figure beside `bffn bench` in README
"Measured speed". Usage: torch_prefill.py FOLDER [--threads 2] [--tokens 64,128] [--runs 3]
"""
import argparse
import json
import math
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "train"))
from safetensors_io import read_safetensors_raw  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("folder")
parser.add_argument("--threads", type=int, default=2)
parser.add_argument("--tokens", default="64,128")
parser.add_argument("--runs", type=int, default=3)
args = parser.parse_args()
torch.set_num_threads(args.threads)
cfg = json.load(open(os.path.join(args.folder, "config.json")))


def load(path):
    """The tensors of a safetensors file as bf16 torch tensors (F32/BF16 only)."""
    out = {}
    for name, (dtype, shape, buf) in read_safetensors_raw(path).items():
        if dtype == "BF16":
            t = torch.frombuffer(bytearray(buf), dtype=torch.bfloat16)
        elif dtype == "F32":
            t = torch.frombuffer(bytearray(buf), dtype=torch.float32).to(torch.bfloat16)
        else:
            raise SystemExit(f"{name}: dtype {dtype} not handled")
        out[name] = t.reshape(shape)
    return out


W = load(os.path.join(args.folder, "model.safetensors"))
H, L, NH = cfg["hidden_size"], cfg["num_hidden_layers"], cfg["num_attention_heads"]
NOPE, ROPE, VD = cfg["qk_nope_head_dim"], cfg["qk_rope_head_dim"], cfg["v_head_dim"]
KVLORA, E, DE = cfg["kv_lora_rank"], cfg["num_experts"], cfg["expert_size"]
EPS = cfg["rms_norm_eps"]


def rms(x, w, eps=EPS):
    xf = x.float()
    return (w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype))


def rope(x, pos):
    d = x.shape[-1]
    inv = 1.0 / (cfg["rope_theta"] ** (torch.arange(0, d, 2, dtype=torch.float32) / d))
    ang = pos[:, None].float() * inv[None, :]
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1).to(x.dtype), torch.cat([ang.sin(), ang.sin()], -1).to(x.dtype)
    half = d // 2
    return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin


def forward(ids, last_only):
    T = ids.shape[0]
    pos = torch.arange(T)
    h = W["model.embed_tokens.weight"][ids] * cfg["scale_emb"]
    s = cfg["scale_depth"] / math.sqrt(L)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    for l in range(L):
        p = f"model.layers.{l}."
        a = rms(h, W[p + "input_layernorm.weight"])
        q = rms(a @ W[p + "self_attn.q_a_proj.weight"].t(), W[p + "self_attn.q_a_layernorm.weight"], 1e-6) @ W[p + "self_attn.q_b_proj.weight"].t()
        q = q.view(T, NH, NOPE + ROPE).transpose(0, 1)
        c = a @ W[p + "self_attn.kv_a_proj_with_mqa.weight"].t()
        kv = (rms(c[..., :KVLORA], W[p + "self_attn.kv_a_layernorm.weight"], 1e-6) @ W[p + "self_attn.kv_b_proj.weight"].t())
        kv = kv.view(T, NH, NOPE + VD).transpose(0, 1)
        k_pe = rope(c[..., KVLORA:], pos)[None].expand(NH, T, ROPE)
        q = torch.cat([q[..., :NOPE], rope(q[..., NOPE:], pos)], -1)
        k = torch.cat([kv[..., :NOPE], k_pe], -1)
        scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(NOPE + ROPE)
        o = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1).to(h.dtype) @ kv[..., NOPE:]
        h = h + s * (o.transpose(0, 1).reshape(T, NH * VD) @ W[p + "self_attn.o_proj.weight"].t())
        b = rms(h, W[p + "post_attention_layernorm.weight"])
        r = rms(F.relu(b @ W[p + "mlp.router_proj.weight"].t()), W[p + "mlp.router_norm.weight"])
        up = F.silu(b @ W[p + "mlp.up_proj"].t()).view(T, E, DE) * r[..., None]
        h = h + s * (up.reshape(T, E * DE) @ W[p + "mlp.down_proj"].t())
    z = rms(h[-1:] if last_only else h, W["model.norm.weight"]) / (H / cfg["dim_model_base"])
    return z @ W["lm_head.weight"].t()


gen = torch.Generator().manual_seed(1)
report = {"torch": torch.__version__, "threads": args.threads, "dtype": "bfloat16", "prefill": []}
with torch.inference_mode():
    forward(torch.randint(0, cfg["vocab_size"], (8,), generator=gen), True)  # warm-up
    for T in [int(t) for t in args.tokens.split(",")]:
        ids = torch.randint(0, cfg["vocab_size"], (T,), generator=gen)
        for last_only in (True, False):
            times = []
            for _ in range(args.runs):
                t0 = time.perf_counter()
                forward(ids, last_only)
                times.append(time.perf_counter() - t0)
            med = sorted(times)[len(times) // 2]
            report["prefill"].append({"tokens": T, "last_token_logits_only": last_only, "tokens_per_second": round(T / med, 1)})
print(json.dumps(report))
