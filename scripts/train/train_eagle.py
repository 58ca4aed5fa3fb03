#!/usr/bin/env python3
"""Trains an EAGLE draft head for the bundled model (fixtures/trained) on the GPU machine, with PyTorch only, and
writes it in the published layout with PyTorch reference outputs of its draft step.

    python3 scripts/train/train_eagle.py --target fixtures/trained --data .train-data --out OUT [--minutes M] [--smoke]

The head (docs/model.md, "EAGLE draft heads", written here from the formulas): for a pair (token t[i+1], feature
f[i]), where f is the target's final-normed hidden state and e the target's embedding row times scale_emb,

    x  = fc([RMSNorm1(e[i+1]) || RMSNorm2(f[i])])            (fc.weight [H, 2H], fc.bias [H])
    x += Attention(x)  (no input norm in layer 0; GQA, rotate-half RoPE at position i, the feature's position)
    x += MLP(RMSNorm_post(x))  (down(SiLU(gate(y)) * up(y)))
    h^ = x                      (no final norm: the predicted next feature)
    draft logits = (h^ / (H / dim_model_base)) . W_lm[remap]^T   (the target's head rows of the draft vocabulary)

Training (EAGLE's recipe, arXiv 2401.15077, with a second unrolled step as EAGLE-3's training-time test does): the
target is frozen; on random 256-token crops of the training corpus, step 1 feeds the true pairs (e[i+1], f[i]) and
regresses f[i+1] (smooth L1) plus cross-entropy against the target's own next-token distribution (weight 0.1);
step 2 feeds (e[i+2], h^1[i]) at position i+1, attending to step 1's keys of positions <= i and to itself (exactly
what a depth-2 draft row sees), with the same two losses against f[i+2] and the distribution at i+2. Uniform noise
of +-0.1 is added to the true features (EAGLE). AdamW, warmup then linear decay, bf16 autocast, fixed seeds.

Writes into OUT/eagle: config.json, model.safetensors (bf16, published names), freq_2048.pkl (the 2 048 most
frequent training token ids, most frequent first, as `pickle.dump(list)` writes it), reference.safetensors and
summary.json / train-log.jsonl. The reference (float32, TF32 off, the bf16-rounded weights) holds, for three
held-out prompts and two consecutive draft steps each, with the full vocabulary and with the 2 048-id one:
the depth-1 draft log-probabilities and the dynamic tree (num_iter 3, top-k 10, tree size 32) as tokens and parents.
"""
import argparse
import json
import math
import os
import pickle
import time

import numpy as np
import torch
import torch.nn.functional as F


from safetensors_io import read_safetensors_raw, write_safetensors

p = argparse.ArgumentParser()
p.add_argument("--target", default="fixtures/trained")
p.add_argument("--data", default=".train-data")
p.add_argument("--out", required=True)
p.add_argument("--minutes", type=float, default=5.0)
p.add_argument("--steps", type=int, default=0)
p.add_argument("--smoke", action="store_true", help="20 steps: checks the whole script")
p.add_argument("--heads", type=int, default=5)
p.add_argument("--kv-heads", type=int, default=5)
p.add_argument("--head-dim", type=int, default=64)
p.add_argument("--intermediate", type=int, default=1024)
p.add_argument("--seq", type=int, default=256)
p.add_argument("--batch", type=int, default=64)
p.add_argument("--lr", type=float, default=2e-3)
p.add_argument("--seed", type=int, default=4321)
args = p.parse_args()
if args.smoke:
    args.steps, args.batch = 20, 8

torch.manual_seed(args.seed)
dev = "cuda" if torch.cuda.is_available() else "cpu"
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
out_dir = os.path.join(args.out, "eagle")
os.makedirs(out_dir, exist_ok=True)


def read_safetensors(path):
    out = {}
    for name, (dtype, shape, buf) in read_safetensors_raw(path).items():
        if dtype == "BF16":
            v = (np.frombuffer(buf, dtype="<u2").astype(np.uint32) << 16).view(np.float32)
        elif dtype == "F32":
            v = np.frombuffer(buf, dtype="<f4")
        elif dtype == "I64":
            v = np.frombuffer(buf, dtype="<i8")
        else:
            raise ValueError(f"{path}: {name}: dtype {dtype}")
        out[name] = torch.from_numpy(v.reshape(shape).copy())
    return out


CFG = json.load(open(os.path.join(args.target, "config.json")))
W = {k: v.to(dev) for k, v in read_safetensors(os.path.join(args.target, "model.safetensors")).items()}
H, L, V, NH = CFG["hidden_size"], CFG["num_hidden_layers"], CFG["vocab_size"], CFG["num_attention_heads"]
E, DE, EPS = CFG["num_experts"], CFG["expert_size"], CFG["rms_norm_eps"]
NOPE, ROPE, VD = CFG["qk_nope_head_dim"], CFG["qk_rope_head_dim"], CFG["v_head_dim"]
KVLORA = CFG["kv_lora_rank"]
HEAD_SCALE = H / CFG["dim_model_base"]


def rms(x, w, eps=EPS):
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rope(x, pos, theta=10000.0):
    d = x.shape[-1]
    inv = 1.0 / (theta ** (torch.arange(0, d, 2, device=x.device, dtype=torch.float32) / d))
    ang = pos[..., None].float() * inv
    cos, sin = torch.cat([ang.cos(), ang.cos()], -1), torch.cat([ang.sin(), ang.sin()], -1)
    half = d // 2
    rot = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos.to(x.dtype) + rot * sin.to(x.dtype)


def target_forward(ids):
    """The bundled model's forward (what bffn's engine computes): final-normed features [B, T, H] and logits."""
    B, T = ids.shape
    pos = torch.arange(T, device=ids.device)
    h = W["model.embed_tokens.weight"][ids] * CFG["scale_emb"]
    s = CFG["scale_depth"] / math.sqrt(L)
    mask = torch.ones(T, T, dtype=torch.bool, device=ids.device).tril()
    for i in range(L):
        w = lambda n: W[f"model.layers.{i}.{n}"]
        a = rms(h, w("input_layernorm.weight"))
        q = rms(a @ w("self_attn.q_a_proj.weight").t(), w("self_attn.q_a_layernorm.weight"), 1e-6) @ w("self_attn.q_b_proj.weight").t()
        q = q.view(B, T, NH, NOPE + ROPE).transpose(1, 2)
        c = a @ w("self_attn.kv_a_proj_with_mqa.weight").t()
        kv = (rms(c[..., :KVLORA], w("self_attn.kv_a_layernorm.weight"), 1e-6) @ w("self_attn.kv_b_proj.weight").t())
        kv = kv.view(B, T, NH, NOPE + VD).transpose(1, 2)
        k_pe = rope(c[..., KVLORA:], pos)[:, None].expand(B, NH, T, ROPE)
        q = torch.cat([q[..., :NOPE], rope(q[..., NOPE:], pos)], -1)
        k = torch.cat([kv[..., :NOPE], k_pe], -1)
        scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(NOPE + ROPE)
        att = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1).to(kv.dtype) @ kv[..., NOPE:]
        h = h + s * (att.transpose(1, 2).reshape(B, T, NH * VD) @ w("self_attn.o_proj.weight").t())
        b = rms(h, w("post_attention_layernorm.weight"))
        r = rms(F.relu(b @ w("mlp.router_proj.weight").t()), w("mlp.router_norm.weight"))
        up = F.silu(b @ w("mlp.up_proj").t()).view(B, T, E, DE) * r[..., None]
        h = h + s * (up.reshape(B, T, E * DE) @ w("mlp.down_proj").t())
    f = rms(h, W["model.norm.weight"])
    return f, (f / HEAD_SCALE) @ W["lm_head.weight"].t()


# Check this forward against the committed PyTorch reference of the target before relying on it.
ref_t = read_safetensors(os.path.join(args.target, "reference.safetensors"))
with torch.no_grad():
    _, lg = target_forward(ref_t["input_ids"].to(dev))
target_error = (lg.float().cpu() - ref_t["logits"]).abs().max().item()
print(f"target forward vs reference.safetensors: max |logit error| {target_error:.2e}", flush=True)
assert target_error < 1e-3, target_error

EH, EKV, EHD, EI = args.heads, args.kv_heads, args.head_dim, args.intermediate
ECFG = {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": H, "num_hidden_layers": 1,
        "intermediate_size": EI, "num_attention_heads": EH, "num_key_value_heads": EKV, "head_dim": EHD,
        "rms_norm_eps": EPS, "rope_theta": 10000.0, "vocab_size": V, "max_position_embeddings": CFG["max_position_embeddings"],
        "hidden_act": "silu", "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2}


class Eagle(torch.nn.Module):
    def __init__(self):
        super().__init__()
        P = lambda *s: torch.nn.Parameter(torch.randn(*s) * 0.02)
        O = lambda n: torch.nn.Parameter(torch.ones(n))
        self.fc_weight, self.fc_bias = P(H, 2 * H), torch.nn.Parameter(torch.zeros(H))
        self.input_norm1, self.input_norm2 = O(H), O(H)
        self.q_proj, self.k_proj, self.v_proj = P(EH * EHD, H), P(EKV * EHD, H), P(EKV * EHD, H)
        self.o_proj = P(H, EH * EHD)
        self.input_layernorm, self.post_attention_layernorm = O(H), O(H)   # input_layernorm: unused in layer 0
        self.gate_proj, self.up_proj, self.down_proj = P(EI, H), P(EI, H), P(H, EI)

    def qkv(self, emb, feat, pos):
        """The fc input mix and this layer's q, k, v ([.., heads, T, hd], RoPE applied)."""
        x = torch.cat([rms(emb, self.input_norm1), rms(feat, self.input_norm2)], -1) @ self.fc_weight.t() + self.fc_bias
        sh = x.shape[:-1]
        q = (x @ self.q_proj.t()).view(*sh, EH, EHD).transpose(-2, -3)
        k = (x @ self.k_proj.t()).view(*sh, EKV, EHD).transpose(-2, -3)
        v = (x @ self.v_proj.t()).view(*sh, EKV, EHD).transpose(-2, -3)
        return x, rope(q, pos), rope(k, pos), v

    def finish(self, x, q, k, v, mask):
        """Attention of q over (k, v) under mask [Tq, Tk], then o_proj, the MLP and the residual adds."""
        rep = EH // EKV
        k, v = k.repeat_interleave(rep, -3), v.repeat_interleave(rep, -3)
        scores = (q @ k.transpose(-1, -2)).float() / math.sqrt(EHD)
        att = torch.softmax(scores.masked_fill(~mask, float("-inf")), -1).to(v.dtype) @ v
        x = x + att.transpose(-2, -3).reshape(*x.shape[:-1], EH * EHD) @ self.o_proj.t()
        y = rms(x, self.post_attention_layernorm)
        return x + (F.silu(y @ self.gate_proj.t()) * (y @ self.up_proj.t())) @ self.down_proj.t()

    def draft_logits(self, hhat, rows=None):
        head = W["lm_head.weight"] if rows is None else W["lm_head.weight"][rows]
        return (hhat / HEAD_SCALE) @ head.t()


eagle = Eagle().to(dev)
n_params = sum(x.numel() for x in eagle.parameters())
opt = torch.optim.AdamW(eagle.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
meta = json.load(open(os.path.join(args.data, "meta.json")))
assert meta["vocab_size"] == V
train = torch.from_numpy(np.fromfile(os.path.join(args.data, "train.bin"), dtype="<u2").astype(np.int64))
held = torch.from_numpy(np.fromfile(os.path.join(args.data, "heldout.bin"), dtype="<u2").astype(np.int64))
gen = torch.Generator().manual_seed(args.seed)


def batch(data, n, seq):
    starts = torch.randint(0, len(data) - seq - 2, (n,), generator=gen)
    return torch.stack([data[s:s + seq + 2] for s in starts.tolist()]).to(dev)


def losses(x, noise):
    """Step 1 and step 2 losses and top-1 agreements on a batch x [B, T + 2]."""
    T = x.shape[1] - 2
    with torch.no_grad():
        f, tl = target_forward(x)                      # features and logits of positions 0 ... T + 1
        tp = torch.softmax(tl.float(), -1)
    pos = torch.arange(T, device=x.device)
    emb = W["model.embed_tokens.weight"][x] * CFG["scale_emb"]
    feat = f[:, :T] + (torch.rand_like(f[:, :T]) * 0.2 - 0.1) * noise
    x1, q1, k1, v1 = eagle.qkv(emb[:, 1:T + 1], feat, pos)
    causal = torch.ones(T, T, dtype=torch.bool, device=x.device).tril()
    h1 = eagle.finish(x1, q1, k1, v1, causal)
    # Step 2 at position i + 1: (e[i+2], h1[i]); keys: step 1's of positions <= i, then its own.
    x2, q2, k2, v2 = eagle.qkv(emb[:, 2:T + 2], h1, pos + 1)
    mask2 = torch.cat([torch.ones(T, T, dtype=torch.bool, device=x.device).tril(), torch.eye(T, dtype=torch.bool, device=x.device)], 1)
    h2 = eagle.finish(x2, q2, torch.cat([k1, k2], -2), torch.cat([v1, v2], -2), mask2)
    out = []
    for hh, shift in ((h1, 1), (h2, 2)):
        reg = F.smooth_l1_loss(hh.float(), f[:, shift:T + shift].float())
        logp = torch.log_softmax(eagle.draft_logits(hh).float(), -1)
        ce = -(tp[:, shift:T + shift] * logp).sum(-1).mean()
        agree = (logp.argmax(-1) == tp[:, shift:T + shift].argmax(-1)).float().mean()
        out.append((reg, ce, agree))
    return out


def step_fn(x):
    with torch.autocast(device_type="cuda", dtype=torch.bfloat16, enabled=dev == "cuda"):
        (r1, c1, a1), (r2, c2, a2) = losses(x, 1.0)
        loss = r1 + 0.1 * c1 + 0.5 * (r2 + 0.1 * c2)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(eagle.parameters(), 1.0)
    opt.step()
    return r1.item(), c1.item(), a1.item(), a2.item()


log = open(os.path.join(out_dir, "train-log.jsonl"), "w")
steps = args.steps
if steps == 0:
    state = {k: v.clone() for k, v in eagle.state_dict().items()}
    xb = batch(train, args.batch, args.seq)
    step_fn(xb)
    if dev == "cuda":
        torch.cuda.synchronize()
    t0 = time.time()
    for _ in range(5):
        step_fn(xb)
    if dev == "cuda":
        torch.cuda.synchronize()
    per_step = (time.time() - t0) / 5
    steps = max(50, int(args.minutes * 60 / per_step))
    eagle.load_state_dict(state)
    opt = torch.optim.AdamW(eagle.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed)
    print(f"measured {per_step * 1000:.1f} ms per step: {steps} steps", flush=True)

t_start = time.time()
warm = max(1, steps // 50)
for step in range(steps):
    lr = args.lr * min(1.0, (step + 1) / warm) * (1.0 if step < warm else max(0.05, (steps - step) / (steps - warm)))
    for g in opt.param_groups:
        g["lr"] = lr
    r1, c1, a1, a2 = step_fn(batch(train, args.batch, args.seq))
    if step % 50 == 0 or step == steps - 1:
        rec = {"step": step, "lr": lr, "feature_loss": r1, "ce": c1, "top1_step1": a1, "top1_step2": a2, "seconds": time.time() - t_start}
        log.write(json.dumps(rec) + "\n")
        log.flush()
        if step % 500 == 0 or step == steps - 1:
            print(json.dumps(rec), flush=True)
train_seconds = time.time() - t_start

# Round to bf16 (what is shipped); everything below uses the rounded weights in float32.
with torch.no_grad():
    for x in eagle.parameters():
        x.copy_(x.to(torch.bfloat16).float())
eagle.eval()

with torch.no_grad():
    a1s, a2s = [], []
    for w in range(0, 32 if not args.smoke else 2, 8):
        xs = torch.stack([held[i * 256:(i + 1) * 256 + 2] for i in range(w, w + 8)]).to(dev)
        (_, _, a1), (_, _, a2) = losses(xs, 0.0)
        a1s.append(a1.item())
        a2s.append(a2.item())
heldout_top1 = [sum(a1s) / len(a1s), sum(a2s) / len(a2s)]


def bf16(t):
    return ("BF16", (t.detach().float().cpu().contiguous().view(torch.int32) >> 16).to(torch.int16).numpy())


pre = "layers.0."
tensors = {"fc.weight": bf16(eagle.fc_weight), "fc.bias": bf16(eagle.fc_bias),
           "input_norm1.weight": bf16(eagle.input_norm1), "input_norm2.weight": bf16(eagle.input_norm2)}
for n in ["q_proj", "k_proj", "v_proj", "o_proj"]:
    tensors[pre + "self_attn." + n + ".weight"] = bf16(getattr(eagle, n))
tensors[pre + "input_layernorm.weight"] = bf16(eagle.input_layernorm)
tensors[pre + "post_attention_layernorm.weight"] = bf16(eagle.post_attention_layernorm)
for n in ["gate_proj", "up_proj", "down_proj"]:
    tensors[pre + "mlp." + n + ".weight"] = bf16(getattr(eagle, n))
write_safetensors(os.path.join(out_dir, "model.safetensors"), tensors)
with open(os.path.join(out_dir, "config.json"), "w") as f:
    json.dump(ECFG, f, indent=2)
    f.write("\n")
counts = torch.bincount(train, minlength=V)
freq = sorted(range(V), key=lambda t: (-int(counts[t]), t))[:2048]
with open(os.path.join(out_dir, "freq_2048.pkl"), "wb") as f:
    pickle.dump(freq, f)


# Reference draft steps (float32 on the device, TF32 off): the published dynamic tree, written from its description.
def stable_top(values, k):
    """The k largest values, descending, ties to the lower index."""
    order = sorted(range(values.shape[0]), key=lambda i: (-float(values[i]), i))[:k]
    return order


@torch.no_grad()
def draft_tree(seq, remap, topk=10, num_iter=3, tree_size=32):
    """seq: committed tokens + the root (last). Returns depth-1 log-probs [Vd], tree tokens and parents."""
    n = len(seq) - 1                                   # pairs (seq[i+1], f[i]), i = 0 ... n - 1
    ids = torch.tensor([seq], device=dev)
    f, _ = target_forward(ids[:, :n])
    emb = W["model.embed_tokens.weight"][ids[0]] * CFG["scale_emb"]
    pos = torch.arange(n, device=dev)
    x, q, k, v = eagle.qkv(emb[1:n + 1], f[0], pos)
    causal = torch.ones(n, n, dtype=torch.bool, device=dev).tril()
    h = eagle.finish(x, q, k, v, causal)
    rows = torch.tensor(remap, device=dev)

    def logp(hh):
        return torch.log_softmax(eagle.draft_logits(hh, rows).float(), -1)

    lp1 = logp(h[-1])
    history = []                                       # (score, draft-vocab token, parent history index, depth)
    for t in stable_top(lp1, topk):
        history.append((float(lp1[t]), t, -1, 1))
    # Expanded rows: history index, the parent's output feature, the row's ancestor keys/values (draft rows only).
    expanded = [(i, h[-1], []) for i in range(topk)]
    for d in range(2, num_iter + 1):
        p_pos = torch.tensor([n - 1 + d - 1], device=dev)       # the position of the feature they extend
        cands = []
        outs = {}
        for r, (hi, feat, anc) in enumerate(expanded):
            tok = remap[history[hi][1]]
            xe, qe, ke, ve = eagle.qkv((W["model.embed_tokens.weight"][tok] * CFG["scale_emb"])[None], feat[None], p_pos)
            kk = torch.cat([k] + [a[0] for a in anc] + [ke], -2)
            vv = torch.cat([v] + [a[1] for a in anc] + [ve], -2)
            mask = torch.ones(1, kk.shape[-2], dtype=torch.bool, device=dev)
            he = eagle.finish(xe, qe, kk, vv, mask)[0]
            outs[r] = (he, anc + [(ke, ve)])
            lp = logp(he)
            for j, t in enumerate(stable_top(lp, topk)):
                cands.append((history[hi][0] + float(lp[t]), t, hi, d, r))
        base = len(history)
        for c in cands:
            history.append(c[:4])
        if d < num_iter:
            best = sorted(range(len(cands)), key=lambda i: (-cands[i][0], i))[:topk]
            expanded = [(base + i, outs[cands[i][4]][0], outs[cands[i][4]][1]) for i in best]
    chosen = sorted(range(len(history)), key=lambda i: (-history[i][0], i))[:tree_size - 1]
    node_of = {hi: j for j, hi in enumerate(chosen)}
    tokens = [remap[history[hi][1]] for hi in chosen]
    parents = [-1 if history[hi][2] < 0 else node_of[history[hi][2]] for hi in chosen]
    return lp1.cpu(), tokens, parents


@torch.no_grad()
def greedy(seq, count):
    s = list(seq)
    for _ in range(count):
        _, lg = target_forward(torch.tensor([s], device=dev))
        s.append(int(lg[0, -1].argmax()))
    return s


reference = {}
prompts = ref_t["input_ids"].tolist()
identity = list(range(V))
for b, prompt in enumerate(prompts if not args.smoke else prompts[:1]):
    g = greedy(prompt, 8)                                 # prompt + 8 greedy tokens
    for vname, remap in (("full", identity), ("v2048", freq)):
        seq = g[:len(prompt) + 1]                           # step 1: the root is the first greedy token
        for step in (1, 2):
            lp1, tokens, parents = draft_tree(seq, remap)
            # The accepted path: the deepest node whose tokens equal greedy decoding after the root.
            accepted, node = 0, -1
            while True:
                nxt = g[len(seq) + accepted] if len(seq) + accepted < len(g) else None
                child = [j for j in range(len(tokens)) if parents[j] == node and tokens[j] == nxt]
                if not child:
                    break
                node, accepted = child[0], accepted + 1
            key = f"p{b}_{vname}_s{step}"
            reference[key + "_input_ids"] = ("I64", np.array(seq, dtype="<i8"))
            reference[key + "_depth1_logprobs"] = ("F32", lp1.numpy().astype("<f4"))
            reference[key + "_tree_tokens"] = ("I64", np.array(tokens, dtype="<i8"))
            reference[key + "_tree_parents"] = ("I64", np.array(parents, dtype="<i8"))
            reference[key + "_accepted"] = ("I64", np.array([accepted], dtype="<i8"))
            print(f"{key}: tree of {len(tokens)}, accepted {accepted}", flush=True)
            seq = g[:len(seq) + accepted + 1]               # the accepted drafts and the bonus token
write_safetensors(os.path.join(out_dir, "reference.safetensors"), reference)

summary = {"parameters": n_params, "steps": steps, "train_seconds": train_seconds, "tokens_seen": steps * args.batch * args.seq,
           "heldout_top1_agreement_step1": heldout_top1[0], "heldout_top1_agreement_step2": heldout_top1[1],
           "target_forward_error": target_error, "device": torch.cuda.get_device_name() if dev == "cuda" else "cpu",
           "torch": torch.__version__, "args": vars(args)}
json.dump(summary, open(os.path.join(out_dir, "summary.json"), "w"), indent=1)
print(json.dumps(summary), flush=True)
