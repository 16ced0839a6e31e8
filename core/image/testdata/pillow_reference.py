#!/usr/bin/env python3
"""Reference outputs for core/image/clip_preprocess_test.cc, computed by Pillow and torch.

usage: pillow_reference.py OUT_DIR

Renders deterministic test images (shapes, gradients, bitmap text, 1-px lines and
checkerboards, a smooth+noisy "photo"), then writes into OUT_DIR a manifest.txt with one
record per line, each naming a raw little-endian file next to it:
  versions PIL_VERSION TORCH_VERSION
  image NAME W H            NAME.rgb                  uint8 [H, W, 3]
  resize NAME FILTER W H    NAME.FILTER.WxH.rgb       Pillow Image.resize((W, H), FILTER)
  clip NAME SIZE            NAME.clip.SIZE.f32        float32 [3, SIZE, SIZE]
  hps NAME SIZE AA          NAME.hps.SIZE.AA.f32      float32 [3, SIZE, SIZE]
The CLIP and HPS pipelines are written out here with PIL and torch only (torchvision is not
installed); each step names the torchvision/open_clip/HPSv2 code it stands for.
"""
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFont

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)
FILTERS = {"bicubic": Image.BICUBIC, "bilinear": Image.BILINEAR}


def shapes(w, h, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    base = np.stack([255 * xx / max(w - 1, 1), 255 * yy / max(h - 1, 1),
                     127.5 + 127.5 * np.sin((xx + yy) / 17.0)], axis=-1)
    img = Image.fromarray(base.round().astype(np.uint8), "RGB")
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x0, y0 = int(rng.integers(0, w)), int(rng.integers(0, h))
        x1, y1 = x0 + int(rng.integers(3, w // 2 + 4)), y0 + int(rng.integers(3, h // 2 + 4))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        kind = int(rng.integers(0, 4))
        if kind == 0:
            d.ellipse([x0, y0, x1, y1], fill=colour, outline=(0, 0, 0))
        elif kind == 1:
            d.rectangle([x0, y0, x1, y1], fill=colour)
        elif kind == 2:
            d.polygon([(x0, y0), (x1, y0 + 5), (x0 + 7, y1)], fill=colour, outline=(255, 255, 255))
        else:
            d.line([x0, y0, x1, y1], fill=colour, width=int(rng.integers(1, 4)))
    font = ImageFont.load_default()
    for i, text in enumerate(["Mask-GRPO 0123", "a red cube left of a blue ball", "HPSv2 CLIP"]):
        d.text((3 + 11 * i, 5 + (h // 3) * i), text, fill=(0, 0, 0) if i % 2 else (255, 255, 255), font=font)
    a = np.array(img)
    # Worst case for resamplers: 1-px and 3-px checkerboards (pure aliasing energy).
    cw, ch = max(w // 5, 4), max(h // 5, 4)
    cy, cx = np.mgrid[0:ch, 0:cw]
    a[h - ch:, :cw] = (((cy + cx) % 2) * 255)[..., None]
    a[:ch, w - cw:] = ((((cy // 3) + (cx // 3)) % 2) * 255)[..., None] * np.array([1, 0, 1], np.uint8)
    return a


def photo(w, h, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(6):
            fx, fy = rng.uniform(0.002, 0.05, 2)
            out[..., c] += rng.uniform(10, 35) * np.sin(2 * np.pi * (fx * xx + fy * yy) + rng.uniform(0, 6.3))
    out += 128
    out[yy > 0.6 * h + 8 * np.sin(xx / 23.0)] *= 0.45  # a soft "horizon" edge
    out += rng.normal(0, 14, out.shape)  # sensor-like noise
    return np.clip(out.round(), 0, 255).astype(np.uint8)


def mix(w, h, seed):
    a, b = shapes(w, h, seed).astype(np.int32), photo(w, h, seed + 1).astype(np.int32)
    return ((a + b) // 2).astype(np.uint8)


def clip_reference(img, size):
    """open_clip / torchvision: Resize(size, BICUBIC) -> CenterCrop(size) -> ToTensor -> Normalize."""
    w, h = img.size
    # torchvision _compute_resized_output_size for an int size (shortest edge).
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = size, int(size * long / short)
    nw, nh = (new_short, new_long) if w <= h else (new_long, new_short)
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BICUBIC)
    # torchvision CenterCrop.
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    img = img.crop((left, top, left + size, top + size))
    return normalize(to_tensor(np.asarray(img)))


def to_tensor(a):
    """torchvision ToTensor for uint8 HWC."""
    return torch.from_numpy(a.copy()).permute(2, 0, 1).contiguous().to(torch.float32).div(255)


def normalize(t):
    mean = torch.as_tensor(MEAN, dtype=torch.float32).view(-1, 1, 1)
    std = torch.as_tensor(STD, dtype=torch.float32).view(-1, 1, 1)
    return t.sub(mean).div(std)


def hps_reference(a, size, antialias):
    """HPSv2 image_transform(light_augmentation): ToTensor -> ResizeMaxSize(size) -> Normalize."""
    t = to_tensor(a)
    height, width = t.shape[1:]
    scale = size / float(max(height, width))
    if scale != 1.0:
        new_size = tuple(round(dim * scale) for dim in (height, width))
        # torchvision F.resize on a float tensor: interpolate, align_corners=False, no clamp.
        t = F.interpolate(t[None], size=new_size, mode="bicubic", align_corners=False, antialias=antialias)[0]
        pad_h, pad_w = size - new_size[0], size - new_size[1]
        # torchvision F.pad([left, top, right, bottom], fill=0).
        t = F.pad(t, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2], mode="constant", value=0.0)
    return normalize(t)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    images = {
        "shapes512": shapes(512, 512, 1),
        "photo512": photo(512, 512, 2),
        "mix512": mix(512, 512, 3),
        "shapes256": shapes(256, 256, 4),
        "photo256": photo(256, 256, 5),
        "shapes224": shapes(224, 224, 6),
        "shapes64": shapes(64, 64, 7),
        "photo64": photo(64, 64, 8),
        "photo300x200": photo(300, 200, 9),
        "shapes200x300": shapes(200, 300, 10),
        "mix517x333": mix(517, 333, 11),
        "shapes225x224": shapes(225, 224, 12),  # crop offset round(0.5) = 0 (half to even)
        "photo227x224": photo(227, 224, 13),    # crop offset round(1.5) = 2
    }
    extra_sizes = {
        "shapes512": [(100, 37), (512, 224), (224, 512), (600, 150), (700, 613)],
        "photo512": [(333, 111), (1, 1)],
        "shapes64": [(300, 97), (64, 200), (512, 512)],
        "photo300x200": [(336, 224), (31, 400)],
        "mix517x333": [(347, 224), (224, 144)],
    }
    lines = ["versions %s %s" % (Image.__version__, torch.__version__)]
    for name, a in images.items():
        h, w = a.shape[:2]
        a.tofile(os.path.join(out, name + ".rgb"))
        lines.append("image %s %d %d" % (name, w, h))
        pil = Image.fromarray(a, "RGB")
        for fname, f in FILTERS.items():
            for (rw, rh) in [(224, 224)] + extra_sizes.get(name, []):
                r = np.asarray(pil.resize((rw, rh), f))
                r.tofile(os.path.join(out, "%s.%s.%dx%d.rgb" % (name, fname, rw, rh)))
                lines.append("resize %s %s %d %d" % (name, fname, rw, rh))
        clip = clip_reference(pil, 224).numpy().astype("<f4")
        clip.tofile(os.path.join(out, "%s.clip.224.f32" % name))
        lines.append("clip %s 224" % name)
        for aa in (0, 1):
            hps = hps_reference(a, 224, bool(aa)).numpy().astype("<f4")
            hps.tofile(os.path.join(out, "%s.hps.224.%d.f32" % (name, aa)))
            lines.append("hps %s 224 %d" % (name, aa))
    with open(os.path.join(out, "manifest.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
