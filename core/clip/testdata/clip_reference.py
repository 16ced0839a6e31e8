#!/usr/bin/env python3
"""Independent reference for core/clip/clip_model.cc (run by clip_model_test.cc at test time).

Builds small CLIP models from ordinary torch.nn modules with open_clip's module and attribute
names (docs/showo-stack.md section 4.1: VisionTransformer / TextTransformer /
ResidualAttentionBlock built on nn.MultiheadAttention, as open_clip and HPSv2 do), so that
state_dict() gives the published key names. Written from the spec, not from the C++.

Writes into argv[1], for each config NAME in CONFIGS:
  clip_NAME_openclip.safetensors  the open_clip state dict (safetensors written by hand)
  clip_NAME_openclip.pt           the same, torch.save(state_dict)
  clip_NAME_hpsv2.pt              the same wrapped as HPSv2 ships it: {'state_dict': sd}
  clip_NAME_hf.safetensors        the same weights under Hugging Face CLIPModel names
                                  (mapping of transformers' convert_clip_original_pytorch_to_hf)
                                  plus the position_ids buffers older HF checkpoints hold
  clip_NAME_expected.safetensors  pixels, tokens, image_emb, text_emb, logit_scale, scores
                                  (per pair), logits (image x text); computed in float64
and for the LAION aesthetic head (section 4.5):
  aesthetic.pth / aesthetic.safetensors / aesthetic_expected.safetensors
"""
import json
import math
import struct
import sys
from collections import OrderedDict

import numpy as np
import torch
from torch import nn

SAFE_DTYPES = {torch.float32: "F32", torch.float64: "F64", torch.float16: "F16", torch.int64: "I64"}

# Sizes are deliberately all different (widths, embed_dim, heads, lengths) so that a
# transposed or swapped tensor cannot go unnoticed.
CONFIGS = {
    "gelu": dict(embed_dim=40, v_width=64, v_layers=2, v_heads=4, patch=8, image=32,
                 t_width=48, t_layers=2, t_heads=4, ctx=16, vocab=100, act="gelu"),
    "quickgelu": dict(embed_dim=24, v_width=32, v_layers=3, v_heads=2, patch=4, image=16,
                      t_width=64, t_layers=2, t_heads=8, ctx=12, vocab=90, act="quick_gelu"),
}


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class ResidualAttentionBlock(nn.Module):
    def __init__(self, width, heads, act):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)  # eps 1e-5
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([
            ("c_fc", nn.Linear(width, 4 * width)),
            ("gelu", QuickGELU() if act == "quick_gelu" else nn.GELU()),
            ("c_proj", nn.Linear(4 * width, width)),
        ]))

    def forward(self, x, attn_mask=None):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=attn_mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, act):
        super().__init__()
        self.resblocks = nn.ModuleList([ResidualAttentionBlock(width, heads, act) for _ in range(layers)])

    def forward(self, x, attn_mask=None):
        for r in self.resblocks:
            x = r(x, attn_mask)
        return x


class VisionTransformer(nn.Module):
    def __init__(self, c):
        super().__init__()
        w = c["v_width"]
        grid = c["image"] // c["patch"]
        self.conv1 = nn.Conv2d(3, w, kernel_size=c["patch"], stride=c["patch"], bias=False)
        self.class_embedding = nn.Parameter(torch.randn(w))
        self.positional_embedding = nn.Parameter(torch.randn(grid * grid + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, c["v_layers"], c["v_heads"], c["act"])
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(torch.randn(w, c["embed_dim"]))

    def forward(self, x):
        x = self.conv1(x)                                   # [B, W, g, g]
        x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # [B, g*g, W]
        cls = self.class_embedding.to(x.dtype).expand(x.shape[0], 1, -1)
        x = torch.cat([cls, x], dim=1) + self.positional_embedding
        x = self.transformer(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.proj            # pool_type 'tok'


class CLIP(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.visual = VisionTransformer(c)
        w = c["t_width"]
        self.token_embedding = nn.Embedding(c["vocab"], w)
        self.positional_embedding = nn.Parameter(torch.randn(c["ctx"], w))
        self.transformer = Transformer(w, c["t_layers"], c["t_heads"], c["act"])
        self.ln_final = nn.LayerNorm(w)
        self.text_projection = nn.Parameter(torch.randn(w, c["embed_dim"]))
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        mask = torch.empty(c["ctx"], c["ctx"]).fill_(float("-inf")).triu_(1)
        self.register_buffer("attn_mask", mask, persistent=False)

    def encode_image(self, pixels):
        return self.visual(pixels)

    def encode_text(self, text):
        n = text.shape[1]
        x = self.token_embedding(text) + self.positional_embedding[:n]
        x = self.transformer(x, attn_mask=self.attn_mask[:n, :n].to(x.dtype))
        x = self.ln_final(x)
        x = x[torch.arange(x.shape[0]), text.argmax(dim=-1)]  # EOT is the largest id
        return x @ self.text_projection


def randomise(model, gen):
    """Every tensor random (nn.MultiheadAttention zero-initialises its biases and LayerNorm
    starts at 1/0, which would hide a swapped bias or a skipped norm)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                p.fill_(4.1 + 0.3 * torch.rand((), generator=gen).item())
            elif p.dim() == 1 and ("ln" in name or "norm" in name) and name.endswith("weight"):
                p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
            elif p.dim() == 1:
                p.copy_(0.2 * torch.randn(p.shape, generator=gen))
            elif name.endswith("proj") or name.endswith("projection"):  # [W, E] used as x @ W
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[0]))
            elif "embedding" in name:
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            else:  # Linear [out, in], conv [out, in, k, k]
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))


def to_hf(sd, c):
    """open_clip -> Hugging Face CLIPModel names (convert_clip_original_pytorch_to_hf.py)."""
    out = OrderedDict()

    def blocks(src, dst, layers):
        for i in range(layers):
            s, d = f"{src}.{i}.", f"{dst}.{i}."
            out[d + "layer_norm1.weight"] = sd[s + "ln_1.weight"]
            out[d + "layer_norm1.bias"] = sd[s + "ln_1.bias"]
            q, k, v = sd[s + "attn.in_proj_weight"].chunk(3, dim=0)
            qb, kb, vb = sd[s + "attn.in_proj_bias"].chunk(3, dim=0)
            for n, w, b in (("q", q, qb), ("k", k, kb), ("v", v, vb)):
                out[d + f"self_attn.{n}_proj.weight"] = w.clone()
                out[d + f"self_attn.{n}_proj.bias"] = b.clone()
            out[d + "self_attn.out_proj.weight"] = sd[s + "attn.out_proj.weight"]
            out[d + "self_attn.out_proj.bias"] = sd[s + "attn.out_proj.bias"]
            out[d + "layer_norm2.weight"] = sd[s + "ln_2.weight"]
            out[d + "layer_norm2.bias"] = sd[s + "ln_2.bias"]
            out[d + "mlp.fc1.weight"] = sd[s + "mlp.c_fc.weight"]
            out[d + "mlp.fc1.bias"] = sd[s + "mlp.c_fc.bias"]
            out[d + "mlp.fc2.weight"] = sd[s + "mlp.c_proj.weight"]
            out[d + "mlp.fc2.bias"] = sd[s + "mlp.c_proj.bias"]

    v = "vision_model."
    out[v + "embeddings.patch_embedding.weight"] = sd["visual.conv1.weight"]
    out[v + "embeddings.class_embedding"] = sd["visual.class_embedding"]
    out[v + "embeddings.position_embedding.weight"] = sd["visual.positional_embedding"]
    out[v + "embeddings.position_ids"] = torch.arange(sd["visual.positional_embedding"].shape[0])[None]
    for a, b in (("ln_pre", "pre_layrnorm"), ("ln_post", "post_layernorm")):
        out[f"{v}{b}.weight"] = sd[f"visual.{a}.weight"]
        out[f"{v}{b}.bias"] = sd[f"visual.{a}.bias"]
    blocks("visual.transformer.resblocks", v + "encoder.layers", c["v_layers"])
    out["visual_projection.weight"] = sd["visual.proj"].t().contiguous()
    t = "text_model."
    out[t + "embeddings.token_embedding.weight"] = sd["token_embedding.weight"]
    out[t + "embeddings.position_embedding.weight"] = sd["positional_embedding"]
    out[t + "embeddings.position_ids"] = torch.arange(c["ctx"])[None]
    blocks("transformer.resblocks", t + "encoder.layers", c["t_layers"])
    out[t + "final_layer_norm.weight"] = sd["ln_final.weight"]
    out[t + "final_layer_norm.bias"] = sd["ln_final.bias"]
    out["text_projection.weight"] = sd["text_projection"].t().contiguous()
    out["logit_scale"] = sd["logit_scale"]
    return out


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.detach().contiguous().numpy().tobytes()
        header[name] = {"dtype": SAFE_DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def make_tokens(c, gen, batch):
    """Rows [SOT, words..., EOT, 0...] as open_clip's tokenizer lays them out (SOT/EOT are the
    two largest ids); one row fills the whole context."""
    sot, eot = c["vocab"] - 2, c["vocab"] - 1
    rows = torch.zeros(batch, c["ctx"], dtype=torch.int64)
    lengths = [3, c["ctx"], 7, 5][:batch]
    for i, n in enumerate(lengths):
        rows[i, 0] = sot
        rows[i, 1:n - 1] = torch.randint(1, sot, (n - 2,), generator=gen)
        rows[i, n - 1] = eot
    return rows


def clip_case(out, name, c, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = CLIP(c).eval()
    randomise(model, gen)
    sd = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
    write_safetensors(f"{out}/clip_{name}_openclip.safetensors", sd)
    torch.save(sd, f"{out}/clip_{name}_openclip.pt")
    torch.save({"state_dict": sd, "epoch": 3}, f"{out}/clip_{name}_hpsv2.pt")
    write_safetensors(f"{out}/clip_{name}_hf.safetensors", to_hf(sd, c))

    batch = 4
    pixels = torch.randn(batch, 3, c["image"], c["image"], generator=gen)
    tokens = make_tokens(c, gen, batch)
    m64 = model.double()
    with torch.no_grad():
        img = m64.encode_image(pixels.double())
        txt = m64.encode_text(tokens)
        i_n = img / img.norm(dim=-1, keepdim=True)
        t_n = txt / txt.norm(dim=-1, keepdim=True)
        scale = m64.logit_scale.exp()
        logits = scale * i_n @ t_n.T                       # logits_per_image
        scores = scale * (i_n * t_n).sum(-1)               # the Mask-GRPO reward per pair
    write_safetensors(f"{out}/clip_{name}_expected.safetensors", OrderedDict(
        pixels=pixels, tokens=tokens, image_emb=img, text_emb=txt,
        logit_scale=m64.logit_scale.detach().reshape(()), scores=scores, logits=logits))


def aesthetic_case(out, seed):
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    # improved-aesthetic-predictor simple_inference.py MLP; the ReLUs are commented out there.
    layers = nn.Sequential(nn.Linear(768, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
                           nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1))
    head = nn.Module()
    head.layers = layers
    with torch.no_grad():
        for p in head.parameters():
            if p.dim() == 1:
                p.copy_(0.3 * torch.randn(p.shape, generator=gen))
    head.eval()
    sd = OrderedDict((k, v.detach().clone()) for k, v in head.state_dict().items())
    torch.save(sd, f"{out}/aesthetic.pth")
    write_safetensors(f"{out}/aesthetic.safetensors", sd)
    emb = 3.0 * torch.randn(5, 768, generator=gen)
    emb[4] = 0  # simple_inference's normalized(): a zero norm is divided by 1
    a = emb.double().numpy()
    l2 = np.atleast_1d(np.linalg.norm(a, 2, -1))
    l2[l2 == 0] = 1
    normed = torch.from_numpy(a / np.expand_dims(l2, -1))
    with torch.no_grad():
        scores = head.double().layers(normed).squeeze(-1)
    write_safetensors(f"{out}/aesthetic_expected.safetensors",
                      OrderedDict(embeddings=emb, normalized=normed, scores=scores))


def main():
    out = sys.argv[1]
    for i, (name, c) in enumerate(CONFIGS.items()):
        clip_case(out, name, c, 1000 + i)
    aesthetic_case(out, 77)
    print("ok")


if __name__ == "__main__":
    main()
