#!/usr/bin/python3
"""Independent reference for the C++ MAGVIT-v2 decoder (core/showo/magvit.cc).

Written from docs/showo-stack.md section 3 as ordinary torch.nn modules with Show-o's
attribute names (models/common_modules.py, models/modeling_magvitv2.py), so that
`state_dict()` yields the published checkpoint layout. It builds a SMALL decoder with random
weights (fixed seed), which still contains every block type (nin_shortcut, upsample, the
mid attention), and writes into OUT_DIR:

  magvit_small_fp32.safetensors  decoder.* + quantize.* + dummy encoder.* / quant_conv.*, fp32
  magvit_small_fp16.safetensors  the same weights stored as fp16
  magvit_small_expected.safetensors
      codes            [B, N] int64 input codes
      latent           [B, 13, h, w] LFQ latent (embedding[codes] as in get_codebook_entry)
      output_fp32      [B, 3, H, W] decoder output with the fp32 weights
      image_uint8      [B, H, W, 3] Show-o's conversion of output_fp32 (truncation)
      output_fp16      [B, 3, H, W] fp32 decoder run on the fp16 weights widened to fp32
    metadata: the small config as JSON.

Debian has no `safetensors` package, so the format is written by hand: u64 LE header length,
a JSON header {name: {dtype, shape, data_offsets}}, then raw little-endian C-order data.

Usage: /usr/bin/python3 magvit_reference.py OUT_DIR
       /usr/bin/python3 magvit_reference.py --count-default   (prints the published param count)
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

SMALL = dict(ch=32, ch_mult=[1, 1, 2], num_res_blocks=[2, 1, 2], z_channels=13, out_ch=3)
SEED = 1234
BATCH = 2
LATENT = 4  # 4x4 codes -> 16x16 image with three levels


def normalize(c):
    return nn.GroupNorm(num_groups=32, num_channels=c, eps=1e-6, affine=True)


def swish(x):
    return x * torch.sigmoid(x)


class ResnetBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.norm1 = normalize(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.norm2 = normalize(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        if cin != cout:
            self.nin_shortcut = nn.Conv2d(cin, cout, 1, 1, 0)
        self.cin, self.cout = cin, cout

    def forward(self, x):
        h = self.conv1(swish(self.norm1(x)))
        h = self.conv2(swish(self.norm2(h)))  # dropout 0
        if self.cin != self.cout:
            x = self.nin_shortcut(x)
        return x + h


class AttnBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.norm = normalize(c)
        self.q = nn.Conv2d(c, c, 1)
        self.k = nn.Conv2d(c, c, 1)
        self.v = nn.Conv2d(c, c, 1)
        self.proj_out = nn.Conv2d(c, c, 1)

    def forward(self, x):
        h = self.norm(x)
        q, k, v = self.q(h), self.k(h), self.v(h)
        b, c, hh, ww = q.shape
        # Written as einsum rather than Show-o's bmm/permute, on purpose: same maths, other code path.
        q = q.reshape(b, c, hh * ww)
        k = k.reshape(b, c, hh * ww)
        v = v.reshape(b, c, hh * ww)
        scores = torch.einsum("bci,bcj->bij", q, k) / math.sqrt(c)
        probs = scores.softmax(dim=-1)  # over keys j
        out = torch.einsum("bij,bcj->bci", probs, v).reshape(b, c, hh, ww)
        return x + self.proj_out(out)


class Upsample(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, 1, 1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class VQGANDecoder(nn.Module):
    def __init__(self, ch, ch_mult, num_res_blocks, z_channels, out_ch):
        super().__init__()
        self.num_res_blocks = num_res_blocks
        n = len(ch_mult)
        block_in = ch * ch_mult[-1]
        self.post_quant_conv = nn.Conv2d(z_channels, z_channels, 1)
        self.conv_in = nn.Conv2d(z_channels, block_in, 3, 1, 1)
        self.mid = nn.Module()
        self.mid.block_1 = ResnetBlock(block_in, block_in)
        self.mid.attn_1 = AttnBlock(block_in)
        self.mid.block_2 = ResnetBlock(block_in, block_in)
        ups = [None] * n
        for level in reversed(range(n)):
            up = nn.Module()
            up.block = nn.ModuleList()
            up.attn = nn.ModuleList()  # empty in Show-o: no resolution equals attn_resolutions=[5]
            block_out = ch * ch_mult[level]
            for _ in range(num_res_blocks[level]):
                up.block.append(ResnetBlock(block_in, block_out))
                block_in = block_out
            if level != 0:
                up.upsample = Upsample(block_in)
            ups[level] = up
        self.up = nn.ModuleList(ups)  # indexed by level
        self.norm_out = normalize(block_in)
        self.conv_out = nn.Conv2d(block_in, out_ch, 3, 1, 1)

    def forward(self, z):
        h = self.conv_in(self.post_quant_conv(z))
        h = self.mid.block_2(self.mid.attn_1(self.mid.block_1(h)))
        for level in reversed(range(len(self.up))):
            for blk in self.up[level].block:
                h = blk(h)
            if level != 0:
                h = self.up[level].upsample(h)
        return self.conv_out(swish(self.norm_out(h)))


def lfq_codebook(bits):
    idx = torch.arange(2 ** bits)
    binary = (idx.unsqueeze(1) >> torch.arange(bits - 1, -1, -1)) & 1  # channel 0 = MSB
    return binary.float() * 2 - 1, 2 ** torch.arange(bits - 1, -1, -1)


def codes_to_latent(embedding, codes):
    b, n = codes.shape
    h = w = int(math.isqrt(n))
    return embedding[codes.reshape(-1)].view(b, h, w, -1).permute(0, 3, 1, 2).contiguous()


def to_uint8(x):
    # Show-o inference_t2i.py: clamp((x+1)/2, 0, 1) * 255 -> permute -> numpy astype(uint8).
    img = torch.clamp((x + 1.0) / 2.0, min=0.0, max=1.0) * 255.0
    return torch.from_numpy(img.permute(0, 2, 3, 1).numpy().astype(np.uint8))


_DTYPES = {torch.float32: ("F32", "<f4"), torch.float16: ("F16", "<f2"),
           torch.int64: ("I64", "<i8"), torch.uint8: ("U8", "u1")}


def write_safetensors(path, tensors, metadata=None):
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous().cpu()
        code, npdt = _DTYPES[t.dtype]
        data = t.numpy().astype(npdt, copy=False).tobytes(order="C")
        header[name] = {"dtype": code, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    hdr = json.dumps(header, separators=(",", ":")).encode()
    hdr += b" " * ((8 - len(hdr) % 8) % 8)  # align the data to 8 bytes (allowed by the format)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)))
        f.write(hdr)
        for blob in blobs:
            f.write(blob)


def randomize(module, gen):
    """Non-trivial GroupNorm affine values, so that swapped weight/bias would be caught."""
    with torch.no_grad():
        for name, p in module.named_parameters():
            if ".norm" in "." + name or name.startswith("norm"):
                if name.endswith("weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=gen))
                else:
                    p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias"):
                p.copy_(0.05 * torch.randn(p.shape, generator=gen))


def main():
    if len(sys.argv) == 2 and sys.argv[1] == "--count-default":
        d = VQGANDecoder(128, [1, 1, 2, 2, 4], [4, 4, 3, 4, 3], 13, 3)
        print(sum(p.numel() for p in d.parameters()))
        return
    if len(sys.argv) != 2:
        sys.exit("usage: magvit_reference.py OUT_DIR")
    out_dir = sys.argv[1]
    os.makedirs(out_dir, exist_ok=True)
    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(SEED)

    dec = VQGANDecoder(**SMALL).eval()
    randomize(dec, gen)
    embedding, power_vals = lfq_codebook(SMALL["z_channels"])
    codes = torch.randint(0, 2 ** SMALL["z_channels"], (BATCH, LATENT * LATENT), generator=gen)
    codes[0, 0], codes[0, 1], codes[1, 0] = 0, 2 ** SMALL["z_channels"] - 1, 4096  # the edge codes
    latent = codes_to_latent(embedding, codes)

    with torch.no_grad():
        # Scale conv_out so the output spans about [-1.5, 1.5]: the clamp and most uint8 values are used.
        std = dec(latent).std().item()
        dec.conv_out.weight.mul_(0.6 / std)
        dec.conv_out.bias.mul_(0.6 / std)
        out32 = dec(latent)

    state = {"decoder." + k: v for k, v in dec.state_dict().items()}
    state["quantize.embedding"] = embedding
    state["quantize.power_vals"] = power_vals
    # Encoder-side tensors the C++ loader must ignore.
    state["encoder.conv_in.weight"] = torch.randn(32, 3, 3, 3, generator=gen)
    state["encoder.quant_conv.weight"] = torch.randn(13, 13, 1, 1, generator=gen)
    state["quant_conv.weight"] = torch.randn(13, 13, 1, 1, generator=gen)
    state["quant_conv.bias"] = torch.randn(13, generator=gen)

    half = {k: (v.half() if v.is_floating_point() and k.startswith("decoder.") else v) for k, v in state.items()}
    dec16 = VQGANDecoder(**SMALL).eval()
    dec16.load_state_dict({k[len("decoder."):]: v.float() for k, v in half.items() if k.startswith("decoder.")},
                          strict=True)
    with torch.no_grad():
        out16 = dec16(latent)

    meta = {"config": json.dumps(SMALL), "seed": str(SEED)}
    write_safetensors(os.path.join(out_dir, "magvit_small_fp32.safetensors"), state, meta)
    write_safetensors(os.path.join(out_dir, "magvit_small_fp16.safetensors"), half, meta)
    write_safetensors(os.path.join(out_dir, "magvit_small_expected.safetensors"),
                      {"codes": codes, "latent": latent, "output_fp32": out32,
                       "image_uint8": to_uint8(out32), "output_fp16": out16}, meta)
    print("wrote %d decoder tensors, output range [%.3f, %.3f]" %
          (sum(k.startswith("decoder.") for k in state), out32.min().item(), out32.max().item()))


if __name__ == "__main__":
    main()
