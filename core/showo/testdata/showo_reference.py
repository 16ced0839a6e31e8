#!/usr/bin/python3
"""Independent reference for Show-o's transformer (tests only; Debian's python3-torch).

Writes, into the directory given as argv[1]:
  fp32/  a tiny Show-o checkpoint directory in the published layout: config.json (Show-o's
         registered fields) and pytorch_model.safetensors with the `showo.` prefix,
  bf16/  the same weights stored in bfloat16 (a 16-bit published file),
  bin/   the same weights as pytorch_model.bin written by torch.save (an OrderedDict),
  expected.safetensors: input_ids [2, S] (a conditional row with left pads and the
         unconditional row), logits [2, S, V] (float32) and cfg_image_logits [1, N, K],
         plus logits_bf16 for the bf16 directory.

Written from showo-stack.md (sections 1.4, 2.3-2.5), in plain torch: Phi's parallel block
with q/k LayerNorm per head before the partial NeoX rotary embedding, eager attention
with float32 scores and Show-o's float mask (0 or iinfo(int64).min), tanh-GELU MLP,
final LayerNorm, lm_head with bias. Nothing here is generated from the C++ code.
"""
import collections
import json
import math
import os
import struct
import sys

import numpy as np
import torch

LLM_VOCAB = 20          # text vocabulary incl. <|endoftext|> (id 19 here)
SPECIALS = 10           # [PAD], <|soi|>, <|eoi|>, <|sov|>, <|eov|>, <|t2i|>, ...
CODEBOOK = 16
VOCAB = LLM_VOCAB + SPECIALS + CODEBOOK + 1   # + mask
PAD, SOI, EOI, T2I = LLM_VOCAB, LLM_VOCAB + 1, LLM_VOCAB + 2, LLM_VOCAB + 5
EOT = LLM_VOCAB - 1
OFFSET = LLM_VOCAB + SPECIALS
MASK = VOCAB - 1
HIDDEN, HEADS, LAYERS, MLP = 32, 2, 2, 64
HEAD_DIM = HIDDEN // HEADS
ROT = HEAD_DIM // 2     # partial_rotary_factor 0.5
TEXT_LEN = 12           # max_seq_length 11 + 1
N_IMAGE = 16            # 4x4 tokens
EPS = 1e-5


def make_state(gen):
    s = collections.OrderedDict()
    def lin(name, out_f, in_f):
        s[name + ".weight"] = torch.randn(out_f, in_f, generator=gen) / math.sqrt(in_f)
        s[name + ".bias"] = torch.randn(out_f, generator=gen) * 0.1
    def ln(name, dim):
        s[name + ".weight"] = 1.0 + 0.2 * torch.randn(dim, generator=gen)
        s[name + ".bias"] = 0.1 * torch.randn(dim, generator=gen)
    s["showo.model.embed_tokens.weight"] = torch.randn(VOCAB, HIDDEN, generator=gen)
    for i in range(LAYERS):
        p = f"showo.model.layers.{i}."
        ln(p + "input_layernorm", HIDDEN)
        for proj in ("q_proj", "k_proj", "v_proj", "dense"):
            lin(p + "self_attn." + proj, HIDDEN, HIDDEN)
        ln(p + "self_attn.q_layernorm", HEAD_DIM)
        ln(p + "self_attn.k_layernorm", HEAD_DIM)
        lin(p + "mlp.fc1", MLP, HIDDEN)
        lin(p + "mlp.fc2", HIDDEN, MLP)
    ln("showo.model.final_layernorm", HIDDEN)
    lin("showo.lm_head", VOCAB, HIDDEN)
    return s


def omni_mask(ids):
    """Show-o's create_attention_mask_predict_next(rm_pad_in_image=True), from the spec."""
    n, length = ids.shape
    is_pad, is_soi, is_eoi = ids == PAD, ids == SOI, ids == EOI
    in_image = (is_soi.cumsum(1) > is_eoi.cumsum(1)) | is_soi | is_eoi
    allowed = torch.tril(torch.ones(length, length, dtype=torch.bool)).repeat(n, 1, 1)
    for b in range(n):
        pads = torch.nonzero(is_pad[b]).flatten()
        if len(pads):
            last = int(pads.max())
            allowed[b, last + 1:, : last + 1] = False
        rows = torch.nonzero(in_image[b]).flatten()
        allowed[b, rows, :] = ~is_pad[b]
    blocked = float(torch.iinfo(torch.int64).min)
    return torch.where(allowed, 0.0, blocked).unsqueeze(1)  # [n, 1, L, L] float32


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


def forward(s, ids):
    n, length = ids.shape
    h = s["model.embed_tokens.weight"][ids]
    pos = torch.arange(length, dtype=torch.float32)           # pads are counted
    inv_freq = 1.0 / (10000 ** (torch.arange(0, ROT, 2, dtype=torch.float32) / ROT))
    freqs = torch.outer(pos, inv_freq)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos(), emb.sin()
    mask = omni_mask(ids)
    F = torch.nn.functional
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        x = F.layer_norm(h, (HIDDEN,), s[p + "input_layernorm.weight"], s[p + "input_layernorm.bias"], EPS)
        def proj(name, t):
            return F.linear(t, s[p + name + ".weight"], s[p + name + ".bias"])
        q = proj("self_attn.q_proj", x).view(n, length, HEADS, HEAD_DIM).transpose(1, 2)
        k = proj("self_attn.k_proj", x).view(n, length, HEADS, HEAD_DIM).transpose(1, 2)
        v = proj("self_attn.v_proj", x).view(n, length, HEADS, HEAD_DIM).transpose(1, 2)
        q = F.layer_norm(q, (HEAD_DIM,), s[p + "self_attn.q_layernorm.weight"], s[p + "self_attn.q_layernorm.bias"], EPS)
        k = F.layer_norm(k, (HEAD_DIM,), s[p + "self_attn.k_layernorm.weight"], s[p + "self_attn.k_layernorm.bias"], EPS)
        q_rot, q_pass = q[..., :ROT], q[..., ROT:]
        k_rot, k_pass = k[..., :ROT], k[..., ROT:]
        q = torch.cat((q_rot * cos + rotate_half(q_rot) * sin, q_pass), dim=-1)
        k = torch.cat((k_rot * cos + rotate_half(k_rot) * sin, k_pass), dim=-1)
        w = torch.matmul(q.float(), k.float().transpose(2, 3)) / math.sqrt(HEAD_DIM) + mask
        w = torch.softmax(w, dim=-1)
        a = torch.matmul(w, v).transpose(1, 2).reshape(n, length, HIDDEN)
        attn_out = proj("self_attn.dense", a)
        mlp_out = proj("mlp.fc2", F.gelu(proj("mlp.fc1", x), approximate="tanh"))
        h = h + attn_out + mlp_out
    h = F.layer_norm(h, (HIDDEN,), s["model.final_layernorm.weight"], s["model.final_layernorm.bias"], EPS)
    return F.linear(h, s["lm_head.weight"], s["lm_head.bias"]).float()


def t2i_row(text_ids, image):
    """t2i_gen_prompt: [PAD]*, <|t2i|>, BOS, text, EOS left-padded to TEXT_LEN; soi, image, eoi."""
    text = text_ids if text_ids else [EOT]
    if text[0] != EOT:
        text = [EOT] + text
    temp = [T2I] + text + [EOT]
    assert len(temp) <= TEXT_LEN
    temp = [PAD] * (TEXT_LEN - len(temp)) + temp
    return temp + [SOI] + image + [EOI]


SAFE_DTYPES = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64"}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        t = t.contiguous()
        if t.dtype == torch.bfloat16:   # numpy has no bfloat16: take the raw 16-bit patterns
            raw = t.view(torch.int16).numpy().tobytes()
        else:
            raw = t.numpy().tobytes()
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


def main():
    out = sys.argv[1]
    gen = torch.Generator().manual_seed(1234)
    state = make_state(gen)
    config = {"_class_name": "Showo", "w_clip_vit": False, "vocab_size": VOCAB, "llm_vocab_size": LLM_VOCAB,
              "llm_model_path": "microsoft/phi-1_5", "codebook_size": CODEBOOK, "num_vq_tokens": N_IMAGE,
              "load_from_showo": False, "mask_token_id": MASK}
    for sub in ("fp32", "bf16", "bin"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        with open(os.path.join(out, sub, "config.json"), "w") as f:
            json.dump(config, f)
    write_safetensors(os.path.join(out, "fp32", "pytorch_model.safetensors"), state)
    bf16 = collections.OrderedDict((k, v.to(torch.bfloat16)) for k, v in state.items())
    write_safetensors(os.path.join(out, "bf16", "pytorch_model.safetensors"), bf16)
    torch.save(state, os.path.join(out, "bin", "pytorch_model.bin"))

    # A partly unmasked image state, a prompt with left pads, and the unconditional row.
    image = [OFFSET + (i * 5) % CODEBOOK if i % 3 else MASK for i in range(N_IMAGE)]
    cond = t2i_row([3, 7, 11, 2], image)
    uncond = t2i_row([], image)
    ids = torch.tensor([cond, uncond], dtype=torch.int64)
    bare = {k[len("showo."):]: v for k, v in state.items()}
    logits = forward(bare, ids)
    bare16 = {k: v.to(torch.bfloat16).float() for k, v in bare.items()}
    logits16 = forward(bare16, ids)
    # Show-o's CFG: (1 + g) * cond - g * uncond on the image span, image-code columns only.
    g = 1.75
    img = logits[:, TEXT_LEN + 1: TEXT_LEN + 1 + N_IMAGE, OFFSET:MASK]
    cfg = (1 + g) * img[0:1] - g * img[1:2]
    write_safetensors(os.path.join(out, "expected.safetensors"),
                      {"input_ids": ids, "logits": logits, "logits_bf16": logits16, "cfg_image_logits": cfg},
                      {"guidance": str(g), "text_len": str(TEXT_LEN)})


if __name__ == "__main__":
    main()
