#!/usr/bin/env python3
"""The skill-card BlockFFN layer fixture: a PyTorch reference made with the educational layer of the BlockFFN
skill card, exactly as that card writes it (router_linear without bias -> ReLU -> nn.RMSNorm(num_experts) ->
sigmoid(sharpness * .) as gates; experts fc1 (with bias) -> SiLU -> dropout -> fc2 (with bias); the gated sum of
every expert's output; LayerNorm(output + x)).

    python3 scripts/train/make_skill_card_layer.py OUT

Writes OUT/pytorch_model.bin (the layer's state_dict, torch.save), OUT/config.json (the sizes and
`sharpness`), and OUT/layer-reference.safetensors: `hidden_states` [B, T, H] in, `outputs` [B, T, H] and
`gates` [B, T, E] out (the layer's two return values, eval mode: dropout off), and `router_scores` [B, T, E]
(the RMS-normalised ReLU scores before the sigmoid). Float32 throughout; seed 7.
"""
import json
import os
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


# --- the skill card's layer, as the card writes it ------------------------------------------------------------------
class BlockFFNRouter(nn.Module):
    def __init__(self, hidden_dim, num_experts, sharpness=1.0):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.num_experts = num_experts
        self.sharpness = sharpness
        self.router_linear = nn.Linear(hidden_dim, num_experts, bias=False)
        self.rms_norm = nn.RMSNorm(num_experts)

    def forward(self, x):
        scores = self.router_linear(x)
        scores = F.relu(scores)
        scores = self.rms_norm(scores)
        probs = torch.sigmoid(self.sharpness * scores)
        return probs, scores


class BlockFFNExpert(nn.Module):
    def __init__(self, hidden_dim, expert_dim, dropout=0.1):
        super().__init__()
        self.fc1 = nn.Linear(hidden_dim, expert_dim)
        self.fc2 = nn.Linear(expert_dim, hidden_dim)
        self.dropout = nn.Dropout(dropout)
        self.activation = nn.SiLU()

    def forward(self, x):
        x = self.fc1(x)
        x = self.activation(x)
        x = self.dropout(x)
        x = self.fc2(x)
        return x


class BlockFFNLayer(nn.Module):
    def __init__(self, hidden_dim, num_experts, expert_dim, chunk_length=8, sharpness=1.0):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.num_experts = num_experts
        self.chunk_length = chunk_length
        self.router = BlockFFNRouter(hidden_dim, num_experts, sharpness)
        self.experts = nn.ModuleList([BlockFFNExpert(hidden_dim, expert_dim) for _ in range(num_experts)])
        self.norm = nn.LayerNorm(hidden_dim)

    def forward(self, x):
        probs, _ = self.router(x)
        expert_outputs = torch.stack([expert(x) for expert in self.experts], dim=2)
        gated = probs.unsqueeze(-1) * expert_outputs
        output = gated.sum(dim=2)
        output = self.norm(output + x)
        return output, probs
# ------------------------------------------------------------------------------------------------------------------


def write_safetensors(path, tensors):
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        raw = t.detach().float().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


out = sys.argv[1]
os.makedirs(out, exist_ok=True)
torch.manual_seed(7)
H, E, DE, SHARPNESS, B, T = 64, 8, 32, 2.0, 2, 16
layer = BlockFFNLayer(H, E, DE, sharpness=SHARPNESS).eval()
with torch.no_grad():
    # Non-trivial norm weights (the defaults are ones and zeros).
    layer.router.rms_norm.weight.copy_(1 + 0.1 * torch.randn(E))
    layer.norm.weight.copy_(1 + 0.1 * torch.randn(H))
    layer.norm.bias.copy_(0.1 * torch.randn(H))
    x = torch.randn(B, T, H)
    outputs, gates = layer(x)
    _, scores = layer.router(x)
torch.save(layer.state_dict(), os.path.join(out, "pytorch_model.bin"))
with open(os.path.join(out, "config.json"), "w") as f:
    json.dump({"model_type": "blockffn_skill_card_layer", "hidden_dim": H, "num_experts": E, "expert_dim": DE,
               "sharpness": SHARPNESS}, f, indent=2)
    f.write("\n")
write_safetensors(os.path.join(out, "layer-reference.safetensors"),
                  {"hidden_states": x, "outputs": outputs, "gates": gates, "router_scores": scores})
print("relu-level sparsity", float((scores == 0).float().mean()), "gates min", float(gates.min()), "torch", torch.__version__)
