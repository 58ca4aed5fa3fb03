#!/usr/bin/env python3
"""Trains the bundled BlockFFN model (fixtures/trained) on the GPU machine, with PyTorch only.

    python3 scripts/train/train_blockffn.py --data .train-data --out OUT [--steps N | --minutes M] [--smoke]

The model is exactly what bffn's engine computes (docs/model.md, "The forward pass"): MiniCPM embedding scale,
depth-scaled residuals, MLA attention with rotate-half RoPE and 1e-6 latent norms, BlockFFN experts in the
published `block_linear` layout (up [E*de, H], down [H, E*de], non-gated SiLU), the ReLU router followed by an
RMSNorm with weight, the final norm and the head divided by H / dim_model_base. It is written here from the
formulas, not taken from the published code.

Objectives (docs/training.md gives the formulas and their sources): language-modelling cross-entropy, plus the
paper's activation locality loss (alpha 100, weight 2e-3) and chunk sparsification loss (chunk length 8 here;
initial weight 5e-2 ramped by the paper's adaptive factor scheduler, capped at 4x), averaged over layers.
AdamW (beta 0.9/0.95, weight decay 0.1), warmup-stable-decay learning rate, bf16 autocast, fixed seeds, and a
data order drawn from a seeded generator.

Writes into OUT: config.json, model.safetensors (bf16, published names), generation_config.json,
reference.safetensors (float32 forward of the bf16 weights on held-out prompts: input_ids [B, T], logits,
greedy_ids, router_l{i} and the pre-ReLU router_logits_l{i}), objectives.json (the two losses per layer on those
prompts, computed from those float32 router logits with the training functions, in float32), and
train-log.jsonl / summary.json.
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from safetensors_io import write_safetensors

p = argparse.ArgumentParser()
p.add_argument("--data", default=".train-data")
p.add_argument("--out", required=True)
p.add_argument("--steps", type=int, default=0, help="training steps (0: as many as --minutes allows, measured)")
p.add_argument("--minutes", type=float, default=6.0)
p.add_argument("--smoke", action="store_true", help="a tiny model and 20 steps: checks the whole script")
p.add_argument("--hidden", type=int, default=320)
p.add_argument("--layers", type=int, default=7)
p.add_argument("--experts", type=int, default=32)
p.add_argument("--expert-size", type=int, default=64)
p.add_argument("--heads", type=int, default=5)
p.add_argument("--seq", type=int, default=256)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--lr", type=float, default=3e-3)
p.add_argument("--lambda-al", type=float, default=2e-3)
p.add_argument("--lambda-cs", type=float, default=5e-2)
p.add_argument("--cs-max-factor", type=float, default=4.0)
p.add_argument("--cs-chunk", type=int, default=8)
p.add_argument("--seed", type=int, default=1234)
args = p.parse_args()
if args.smoke:
    args.hidden, args.layers, args.experts, args.expert_size, args.heads, args.batch, args.steps = 64, 2, 8, 16, 2, 8, 20

torch.manual_seed(args.seed)
np.random.seed(args.seed)
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
os.makedirs(args.out, exist_ok=True)

meta = json.load(open(os.path.join(args.data, "meta.json")))
V = meta["vocab_size"]
train = torch.from_numpy(np.fromfile(os.path.join(args.data, "train.bin"), dtype="<u2").astype(np.int64))
held = torch.from_numpy(np.fromfile(os.path.join(args.data, "heldout.bin"), dtype="<u2").astype(np.int64))

H, L, E, DE, NH = args.hidden, args.layers, args.experts, args.expert_size, args.heads
HD = H // NH                       # value head dim: the HF MLA module uses H / heads
NOPE, ROPE = HD, HD // 2           # query/key: nope + rope per head
QLORA, KVLORA = H // 2, H * 2 // 5
CFG = {
    "architectures": ["MiniCPMForCausalLM"], "attention_bias": False, "attention_dropout": 0.0, "attention_type": "mla",
    "block_implementation": "torch", "bos_token_id": 1, "dim_model_base": 256, "eos_token_id": 2, "expert_size": DE,
    "ffn_gated": False, "ffn_type": "block_linear", "hidden_act": "silu", "hidden_size": H, "initializer_range": 0.1,
    "intermediate_size": E * DE, "kv_lora_rank": KVLORA, "max_position_embeddings": 512, "model_type": "minicpm",
    "norm_after_router": "rms", "norm_scale": 1.0, "num_attention_heads": NH, "num_experts": E, "num_hidden_layers": L,
    "num_key_value_heads": NH, "pretraining_tp": 1, "q_lora_rank": QLORA, "qk_nope_head_dim": NOPE,
    "qk_rope_head_dim": ROPE, "rms_norm_eps": 1e-5, "rope_scaling": None, "rope_theta": 10000.0, "router_act": "relu",
    "scale_depth": 1.4, "scale_emb": 12, "tie_word_embeddings": False, "torch_dtype": "bfloat16", "use_cache": True,
    "v_head_dim": HD, "vocab_size": V,
}
EPS = CFG["rms_norm_eps"]


def rms(x, w, eps):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope(x, pos):
    d = x.shape[-1]
    inv = 1.0 / (CFG["rope_theta"] ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d))
    ang = pos[:, None].float() * inv[None, :]
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    half = d // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos.to(x.dtype) + rot * sin.to(x.dtype)


class Layer(torch.nn.Module):
    def __init__(self):
        super().__init__()
        P = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)
        O = lambda n: torch.nn.Parameter(torch.ones(n))
        self.input_layernorm, self.post_attention_layernorm = O(H), O(H)
        self.q_a_proj, self.q_a_layernorm, self.q_b_proj = P(QLORA, H), O(QLORA), P(NH * (NOPE + ROPE), QLORA)
        self.kv_a_proj_with_mqa, self.kv_a_layernorm = P(KVLORA + ROPE, H), O(KVLORA)
        self.kv_b_proj, self.o_proj = P(NH * (NOPE + HD), KVLORA), P(H, NH * HD)
        self.router_proj, self.router_norm = P(E, H), O(E)
        self.up_proj, self.down_proj = P(E * DE, H), P(H, E * DE)

    def attention(self, a, pos):
        B, T, _ = a.shape
        q = rms(a @ self.q_a_proj.t(), self.q_a_layernorm, 1e-6) @ self.q_b_proj.t()
        q = q.view(B, T, NH, NOPE + ROPE).transpose(1, 2)
        c = a @ self.kv_a_proj_with_mqa.t()
        kv = (rms(c[..., :KVLORA], self.kv_a_layernorm, 1e-6) @ self.kv_b_proj.t()).view(B, T, NH, NOPE + HD).transpose(1, 2)
        k_pe = rope(c[..., KVLORA:], pos)[:, None].expand(B, NH, T, ROPE)
        q = torch.cat([q[..., :NOPE], rope(q[..., NOPE:], pos)], -1)
        k = torch.cat([kv[..., :NOPE], k_pe], -1)
        v = kv[..., NOPE:]
        scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(NOPE + ROPE)
        mask = torch.ones(T, T, dtype=torch.bool, device=a.device).tril()
        weights = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1).to(v.dtype)
        o = weights @ v
        return o.transpose(1, 2).reshape(B, T, NH * HD) @ self.o_proj.t()

    def ffn(self, b):
        r0 = b @ self.router_proj.t()                       # A0, the pre-ReLU router logits
        r1 = F.relu(r0)
        r = rms(r1, self.router_norm, EPS)
        up = F.silu(b @ self.up_proj.t()).view(*b.shape[:-1], E, DE) * r[..., None]
        return up.reshape(*b.shape[:-1], E * DE) @ self.down_proj.t(), r0, r


class Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = torch.nn.Parameter(torch.randn(V, H) * 0.02)
        self.layers = torch.nn.ModuleList([Layer() for _ in range(L)])
        self.norm = torch.nn.Parameter(torch.ones(H))
        self.lm_head = torch.nn.Parameter(torch.randn(V, H) * 0.02)

    def forward(self, ids):
        B, T = ids.shape
        pos = torch.arange(T, device=ids.device)
        h = self.embed_tokens[ids] * CFG["scale_emb"]
        s = CFG["scale_depth"] / math.sqrt(L)
        logits_r0, scores = [], []
        for layer in self.layers:
            h = h + s * layer.attention(rms(h, layer.input_layernorm, EPS), pos)
            y, r0, r = layer.ffn(rms(h, layer.post_attention_layernorm, EPS))
            h = h + s * y
            logits_r0.append(r0)
            scores.append(r)
        z = rms(h, self.norm, EPS) / (H / CFG["dim_model_base"])
        return z @ self.lm_head.t(), logits_r0, scores


def locality_loss(r0, alpha=100.0):
    """BCE with logits between alpha*A0 of token t-1 and the soft target sigmoid(alpha*A0) of token t."""
    x, y = alpha * r0[:, :-1].float(), torch.sigmoid(alpha * r0[:, 1:].float())
    return F.binary_cross_entropy_with_logits(x, y)


def sparsification_loss(r0, chunk):
    """p = weight-free RMS-normalised ReLU scores / (their sum + 1e-5); P = 1 - exp(sum over the chunk of
    log(1 - p + 1e-5)); the mean over chunks and experts."""
    a = F.relu(r0.float())
    s = a * torch.rsqrt(a.pow(2).mean(-1, keepdim=True) + EPS)
    p = s / (s.sum(-1, keepdim=True) + 1e-5)
    B, T, _ = p.shape
    p = p[:, : T // chunk * chunk].reshape(B, T // chunk, chunk, E)
    return (1 - torch.exp(torch.log(1 - p + 1e-5).sum(2))).mean()


model = Model().to(dev)
n_params = sum(x.numel() for x in model.parameters())
decay = [x for n, x in model.named_parameters() if x.dim() >= 2]
no_decay = [x for n, x in model.named_parameters() if x.dim() < 2]
opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                        lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
gen = torch.Generator().manual_seed(args.seed)


def batch(data, n, seq):
    starts = torch.randint(0, len(data) - seq - 1, (n,), generator=gen)
    x = torch.stack([data[s:s + seq + 1] for s in starts.tolist()])
    return x.to(dev)


def step_fn(x, lam_cs):
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
        logits, r0s, _ = model(x[:, :-1])
        lm = F.cross_entropy(logits.float().reshape(-1, V), x[:, 1:].reshape(-1))
    al = torch.stack([locality_loss(r) for r in r0s]).mean()
    cs = torch.stack([sparsification_loss(r, args.cs_chunk) for r in r0s]).mean()
    loss = lm + args.lambda_al * al + lam_cs * cs
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    opt.step()
    return lm.item(), al.item(), cs.item()


# Steps: given, or measured: time 10 steps and fill --minutes.
log = open(os.path.join(args.out, "train-log.jsonl"), "w")
t_start = time.time()
steps = args.steps
if steps == 0:
    state = {k: v.clone() for k, v in model.state_dict().items()}
    opt_state = opt.state_dict()
    x = batch(train, args.batch, args.seq)
    step_fn(x, args.lambda_cs)
    if dev == "cuda":
        torch.cuda.synchronize()
    t0 = time.time()
    for _ in range(10):
        step_fn(x, args.lambda_cs)
    if dev == "cuda":
        torch.cuda.synchronize()
    per_step = (time.time() - t0) / 10
    steps = max(50, int(args.minutes * 60 / per_step))
    model.load_state_dict(state)
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    gen = torch.Generator().manual_seed(args.seed)
    print(f"measured {per_step * 1000:.1f} ms per step: {steps} steps", flush=True)

warm, decay_from = max(1, steps // 50), int(steps * 0.8)
lam_cs, n_st, n_adj = args.lambda_cs, max(steps // 10, 10), max(steps // 100, 5)
cs_window, prev_window = [], None
for step in range(steps):
    lr = args.lr * min(1.0, (step + 1) / warm)
    if step >= decay_from:
        lr = args.lr * (0.1 + 0.9 * (steps - step) / (steps - decay_from))
    for g in opt.param_groups:
        g["lr"] = lr
    lm, al, cs = step_fn(batch(train, args.batch, args.seq), lam_cs)
    # The paper's adaptive factor (App. B): after n_st steps, every n_adj steps multiply lambda_cs by
    # gamma = mean L_cs of this window / of the previous one when gamma <= 1, else by max(1.025, gamma); cap.
    cs_window.append(cs)
    if step >= n_st and len(cs_window) >= n_adj:
        mean = sum(cs_window) / len(cs_window)
        if prev_window is not None:
            gamma = mean / prev_window
            lam_cs = min(lam_cs * (gamma if gamma <= 1 else max(1.025, gamma)), args.lambda_cs * args.cs_max_factor)
        prev_window, cs_window = mean, []
    elif step < n_st and len(cs_window) >= n_adj:
        cs_window = []
    if step % 50 == 0 or step == steps - 1:
        rec = {"step": step, "lr": lr, "lm_loss": lm, "locality_loss": al, "sparsification_loss": cs, "lambda_cs": lam_cs,
               "seconds": time.time() - t_start}
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if step % 500 == 0 or step == steps - 1:
            print(json.dumps(rec), flush=True)
train_seconds = time.time() - t_start

# Round to bf16: what is shipped; everything below uses the rounded weights in float32.
with torch.no_grad():
    for x in model.parameters():
        x.copy_(x.to(torch.bfloat16).float())
model.eval()


@torch.no_grad()
def evaluate(data, seq=256, windows=256):
    """Held-out: mean NLL over every position of consecutive windows, TLS and CLS_8 of the router scores."""
    nll, count, active, tokens, cls_sum, cls_n = 0.0, 0, 0, 0, 0.0, 0
    n = min(windows, (len(data) - 1) // seq)
    for w in range(0, n, 16):
        xs = torch.stack([data[i * seq:(i + 1) * seq + 1] for i in range(w, min(n, w + 16))]).to(dev)
        logits, _, scores = model(xs[:, :-1])
        nll += F.cross_entropy(logits.float().reshape(-1, V), xs[:, 1:].reshape(-1), reduction="sum").item()
        count += xs[:, 1:].numel()
        for r in scores:
            act = r > 0
            active += act.sum().item()
            tokens += act.shape[0] * act.shape[1]
            B, T, _ = act.shape
            chunks = act[:, : T // 8 * 8].reshape(B, T // 8, 8, E).any(2)
            cls_sum += (1 - chunks.float().mean(-1)).sum().item()
            cls_n += chunks.shape[0] * chunks.shape[1]
    return nll / count, 1 - active / (tokens * E), cls_sum / cls_n, count


mean_nll, tls, cls8, scored = evaluate(held)
bytes_per_token = meta["heldout_bytes"] / meta["heldout_tokens"]
bpb = mean_nll / math.log(2) / bytes_per_token
counts = torch.bincount(train, minlength=V).double() + 1
unigram = -(torch.log(counts / counts.sum())[held[1:]]).mean().item()
unigram_bpb = unigram / math.log(2) / bytes_per_token


def bf16(t):
    return ("BF16", (t.detach().float().cpu().contiguous().view(torch.int32) >> 16).to(torch.int16).numpy())


weights = {"model.embed_tokens.weight": bf16(model.embed_tokens)}
for i, layer in enumerate(model.layers):
    pre = f"model.layers.{i}."
    for n in ["q_a_proj", "q_a_layernorm", "q_b_proj", "kv_a_proj_with_mqa", "kv_a_layernorm", "kv_b_proj", "o_proj"]:
        weights[pre + "self_attn." + n + ".weight"] = bf16(getattr(layer, n))
    weights[pre + "mlp.up_proj"] = bf16(layer.up_proj)
    weights[pre + "mlp.down_proj"] = bf16(layer.down_proj)
    weights[pre + "mlp.router_proj.weight"] = bf16(layer.router_proj)
    weights[pre + "mlp.router_norm.weight"] = bf16(layer.router_norm)
    weights[pre + "input_layernorm.weight"] = bf16(layer.input_layernorm)
    weights[pre + "post_attention_layernorm.weight"] = bf16(layer.post_attention_layernorm)
weights["model.norm.weight"] = bf16(model.norm)
weights["lm_head.weight"] = bf16(model.lm_head)
write_safetensors(os.path.join(args.out, "model.safetensors"), weights)
with open(os.path.join(args.out, "config.json"), "w") as f:
    json.dump(CFG, f, indent=2)
    f.write("\n")

# Reference outputs: the float32 forward of the bf16 weights on held-out prompts (3 prompts of 32 tokens, from
# three held-out positions), every position's logits and router scores, 16 greedy tokens each.
model.float()
torch.backends.cuda.matmul.allow_tf32 = False
B, T, N = 3, 32, 16
starts = [1000, 40000, 90000] if not args.smoke else [10, 200, 400]
prompts = torch.stack([held[s:s + T] for s in starts]).to(dev)
with torch.no_grad():
    logits, r0s, scores = model(prompts)
    seq = prompts.clone()
    for _ in range(N):
        nxt = model(seq)[0][:, -1].argmax(-1, keepdim=True)
        seq = torch.cat([seq, nxt], 1)
ref = {"input_ids": ("I64", prompts.cpu().numpy().astype("<i8")), "logits": ("F32", logits.float().cpu().numpy().astype("<f4")),
       "greedy_ids": ("I64", seq[:, T:].cpu().numpy().astype("<i8"))}
for i, (r0, r) in enumerate(zip(r0s, scores)):
    ref[f"router_l{i}"] = ("F32", r.float().cpu().numpy().astype("<f4"))
    ref[f"router_logits_l{i}"] = ("F32", r0.float().cpu().numpy().astype("<f4"))
write_safetensors(os.path.join(args.out, "reference.safetensors"), ref)

# The objectives on the reference prompts with the training functions (float32; each prompt one sequence).
objectives = {"alpha": 100.0, "chunk": args.cs_chunk, "layers": []}
for r0 in r0s:
    r = r0.double()
    objectives["layers"].append({"activation_locality_loss": locality_loss(r).item(),
                                 "chunk_sparsification_loss": sparsification_loss(r, args.cs_chunk).item()})
for key in ["activation_locality_loss", "chunk_sparsification_loss"]:
    objectives[key] = sum(l[key] for l in objectives["layers"]) / len(objectives["layers"])
json.dump(objectives, open(os.path.join(args.out, "objectives.json"), "w"), indent=1)

summary = {"parameters": n_params, "steps": steps, "train_seconds": train_seconds, "tokens_seen": steps * args.batch * args.seq,
           "final_lm_loss": lm, "heldout_nll": mean_nll, "heldout_bits_per_byte": bpb, "unigram_bits_per_byte": unigram_bpb,
           "heldout_tokens_scored": scored, "token_level_sparsity": tls, "chunk_level_sparsity_8": cls8, "final_lambda_cs": lam_cs,
           "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu", "torch": torch.__version__, "args": vars(args)}
json.dump(summary, open(os.path.join(args.out, "summary.json"), "w"), indent=1)
print(json.dumps(summary), flush=True)
