#!/usr/bin/python3
"""The Mask-GRPO authors' sampling loop in Python, on a maskgrpo checkpoint (issue 18).

What a researcher runs instead of maskgrpo: one image at a time, every unmasking step a
full-sequence forward of the prompt and its CFG twin together (a [2, S, S] attention mask,
logits over the whole vocabulary, then the image-code slice), softmax, a multinomial draw,
and the confidence-ranked re-masking with annealed Gumbel noise. Plain PyTorch (Debian's
python3-torch), written here from the model's definition (Phi layout: one LayerNorm feeding
attention and MLP in parallel, NeoX rotary on the first rotary_dim dims of each head,
tanh-GELU, final LayerNorm, lm_head with bias) and the schedule of core/schedule.cc; it
imports nothing of maskgrpo's.

It loads the weights and the model config from the same safetensors file that
`maskgrpo bench --checkpoint` loads, runs the same settings as `bench`'s authors'-style row
(one-token prompts, the same row as the CFG twin, T steps, guidance g) and prints images/s.

  /usr/bin/python3 benchmarks/authors_loop.py models/shapeworld_base.safetensors \
      [--threads 2] [--images 8] [--steps 16] [--guidance 2] [--seed 0] [--codes OUT.npy]

--codes writes the codes of the first image drawn after seeding the global generator with
--seed; `maskgrpo bench --loop-codes` writes the C++ loop's codes for the same seed, so that
the two loops can be compared draw for draw (tests/authors_loop_test.sh).
"""
import argparse
import json
import math
import struct
import sys
import time

import numpy as np
import torch

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "F16": np.float16}


def read_safetensors(path):
    """(tensors, metadata) of a safetensors file; bfloat16 is widened to float32."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for a safetensors file")
    (header_len,) = struct.unpack("<Q", data[:8])
    if 8 + header_len > len(data):
        raise ValueError(f"{path}: header length {header_len} runs past the end of the file")
    header = json.loads(data[8:8 + header_len])
    metadata = header.pop("__metadata__", {})
    body = memoryview(data)[8 + header_len:]
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        raw = body[begin:end]
        if entry["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif entry["dtype"] in DTYPES:
            array = np.frombuffer(raw, dtype=DTYPES[entry["dtype"]])
        else:
            raise ValueError(f"{path}: tensor {name} has dtype {entry['dtype']}, not one this script reads")
        tensors[name] = torch.from_numpy(array.copy()).reshape(entry["shape"])
    return tensors, metadata


class Model:
    """The masked transformer's full-sequence forward, from its named weights."""

    def __init__(self, tensors, config):
        self.w = {k: v.float() for k, v in tensors.items()}
        self.c = config
        rd = config["rotary_dim"]
        if rd > 0:
            seq = config["text_len"] + config["image_len"] + 2
            inv = 1.0 / torch.pow(torch.tensor(config["rope_theta"], dtype=torch.float64),
                                  torch.arange(0, rd, 2, dtype=torch.float64) / rd)
            freqs = torch.outer(torch.arange(seq, dtype=torch.float64), inv)
            emb = torch.cat([freqs, freqs], -1)
            self.cos, self.sin = emb.cos().float(), emb.sin().float()

    def rotary(self, x):
        rd = self.c["rotary_dim"]
        if rd == 0:
            return x
        r, rest = x[..., :rd], x[..., rd:]
        half = rd // 2
        rotated = torch.cat([-r[..., half:], r[..., :half]], -1)
        return torch.cat([r * self.cos + rotated * self.sin, rest], -1)

    def attention_mask(self, text_valid):
        """[B, S, S] bool: text rows causal over valid text keys, image-span rows see all
        valid text and the whole span, every row sees itself."""
        L, S = self.c["text_len"], self.c["text_len"] + self.c["image_len"] + 2
        B = text_valid.shape[0]
        pos = torch.arange(S)
        causal = pos[:, None] >= pos[None, :]
        is_text = pos < L
        structural = torch.where(is_text[:, None], causal & is_text[None, :], torch.ones(S, S, dtype=torch.bool))
        key_valid = torch.ones(B, S, dtype=torch.bool)
        key_valid[:, :L] = text_valid
        return (structural[None] & key_valid[:, None, :]) | torch.eye(S, dtype=torch.bool)[None]

    def logits(self, ids, text_valid):
        w, c = self.w, self.c
        B, S = ids.shape
        H = c["num_heads"]
        D = c["hidden_size"] // H
        eps = c["layer_norm_eps"]
        bias = torch.zeros(B, 1, S, S).masked_fill(~self.attention_mask(text_valid)[:, None], float("-inf"))
        h = w["model.embed_tokens.weight"][ids]
        for i in range(c["num_layers"]):
            p = f"model.layers.{i}."
            x = torch.nn.functional.layer_norm(h, (h.shape[-1],), w[p + "input_layernorm.weight"],
                                               w[p + "input_layernorm.bias"], eps)

            def proj(name, t=x):
                return torch.nn.functional.linear(t, w[p + name + ".weight"], w[p + name + ".bias"])

            q = proj("self_attn.q_proj").view(B, S, H, D).transpose(1, 2)
            k = proj("self_attn.k_proj").view(B, S, H, D).transpose(1, 2)
            v = proj("self_attn.v_proj").view(B, S, H, D).transpose(1, 2)
            if c.get("qk_layernorm", False):
                q = torch.nn.functional.layer_norm(q, (D,), w[p + "self_attn.q_layernorm.weight"],
                                                   w[p + "self_attn.q_layernorm.bias"], eps)
                k = torch.nn.functional.layer_norm(k, (D,), w[p + "self_attn.k_layernorm.weight"],
                                                   w[p + "self_attn.k_layernorm.bias"], eps)
            q, k = self.rotary(q), self.rotary(k)
            scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(D)) + bias  # as the C++ orders it
            ctx = torch.matmul(torch.softmax(scores, -1), v).transpose(1, 2).reshape(B, S, H * D)
            mlp = proj("mlp.fc2", torch.nn.functional.gelu(proj("mlp.fc1"), approximate="tanh"))
            h = h + proj("self_attn.dense", ctx) + mlp
        h = torch.nn.functional.layer_norm(h, (h.shape[-1],), w["model.final_layernorm.weight"],
                                           w["model.final_layernorm.bias"], eps)
        return torch.nn.functional.linear(h, w["lm_head.weight"], w["lm_head.bias"])


def masked_after_step(n, steps, t, masked_before):
    """Positions still masked after step t (Show-o's cosine schedule, in float32)."""
    if t >= steps - 1:
        return 0
    ratio = np.float32((t + 1) / steps)
    mask_ratio = np.float32(math.cos(ratio * np.float32(math.pi * 0.5)))
    target = int(math.floor(np.float32(n) * mask_ratio))
    return max(1, min(masked_before - 1, target))


def gumbel_temperature(tau0, steps, t):
    tau = tau0
    for i in range(t + 1):
        tau *= 1.0 - (i + 1) / steps
    return tau


def sample_one(model, text, valid, steps, guidance, gen):
    """One image's codes [N] by the authors' loop."""
    c = model.c
    N, K, off = c["image_len"], c["num_image_codes"], c["image_token_offset"]
    begin = c["text_len"] + 1
    codes = torch.full((1, N), -1, dtype=torch.long)
    masked_before = N
    for t in range(steps):
        image = torch.where(codes < 0, torch.tensor(c["mask_id"]), codes + off)
        span = torch.cat([torch.tensor([[c["soi_id"]]]), image, torch.tensor([[c["eoi_id"]]])], 1)
        ids = torch.cat([text, span.expand(text.shape[0], -1)], 1)
        logits = model.logits(ids, valid)[:, begin:begin + N, off:off + K]
        if guidance != 0.0:
            logits = (1.0 + guidance) * logits[0:1] - guidance * logits[1:2]
        probs = torch.softmax(logits, -1)[0]
        sampled = torch.multinomial(probs, 1, True, generator=gen).squeeze(-1)
        logp_y = probs.gather(-1, sampled[:, None]).squeeze(-1).log()
        masked = codes[0] < 0
        keep = masked_after_step(N, steps, t, masked_before)
        remaining = torch.zeros_like(masked)
        if keep > 0:
            u = torch.rand(N, generator=gen).clamp(1e-20, 1.0 - 1e-7)
            conf = torch.where(masked, logp_y - gumbel_temperature(1.0, steps, t) * torch.log(-torch.log(u)),
                               torch.tensor(float("inf")))
            remaining.scatter_(0, torch.topk(conf, keep, -1, False)[1], True)
        codes[0] = torch.where(masked & ~remaining, sampled, codes[0])
        masked_before = keep
    return codes[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--steps", type=int, default=16)
    ap.add_argument("--guidance", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--codes", help="write the first image's codes here (.npy, int64)")
    a = ap.parse_args()
    if a.threads <= 0 or a.images <= 0 or a.steps <= 0:
        sys.exit("authors_loop: --threads, --images and --steps must be > 0")
    torch.set_num_threads(a.threads)
    try:
        tensors, metadata = read_safetensors(a.checkpoint)
        config = json.loads(metadata["maskgrpo.model_config"])
    except (OSError, ValueError, KeyError) as e:
        sys.exit(f"authors_loop: cannot read {a.checkpoint}: {e}")
    model = Model(tensors, config)
    L = config["text_len"]
    text = torch.full((1, L), config["pad_id"], dtype=torch.long)
    text[0, 0] = 1  # bench's one-token prompt; the CFG twin is the same row, as in bench
    rows = torch.cat([text, text]) if a.guidance != 0.0 else text
    valid = rows != config["pad_id"]
    gen = torch.Generator().manual_seed(a.seed)
    with torch.no_grad():
        first = sample_one(model, rows, valid, a.steps, a.guidance, gen)  # also the warm-up
        if a.codes:
            np.save(a.codes, first.numpy())
        t0 = time.perf_counter()
        for _ in range(a.images):
            sample_one(model, rows, valid, a.steps, a.guidance, gen)
        seconds = (time.perf_counter() - t0) / a.images
    print(f"python authors'-style loop: {1.0 / seconds:.2f} images/s ({a.images} images one at a time, "
          f"{a.steps} steps, guidance {a.guidance:g}, {a.threads} threads, torch {torch.__version__})")


if __name__ == "__main__":
    main()
