#!/usr/bin/python3
"""Random-weight CLIP checkpoints of the published shapes, for benchmarks (not tests).

Usage: /usr/bin/python3 benchmarks/make_random_clip.py {ViT-L-14|ViT-H-14} OUT.safetensors
Builds the open_clip-layout model of core/clip/testdata/clip_reference.py at ViT-L/14
(OpenAI, QuickGELU) or ViT-H/14 (laion, GELU) size with random weights and writes it as
safetensors (float32: 1.7 GB / 3.9 GB).
"""
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core", "clip", "testdata"))
import clip_reference as ref  # noqa: E402

SHAPES = {
    "ViT-L-14": dict(embed_dim=768, v_width=1024, v_layers=24, v_heads=16, patch=14, image=224,
                     t_width=768, t_layers=12, t_heads=12, ctx=77, vocab=49408, act="quick_gelu"),
    "ViT-H-14": dict(embed_dim=1024, v_width=1280, v_layers=32, v_heads=16, patch=14, image=224,
                     t_width=1024, t_layers=24, t_heads=16, ctx=77, vocab=49408, act="gelu"),
}

if __name__ == "__main__":
    arch, out = sys.argv[1], sys.argv[2]
    torch.manual_seed(0)
    with torch.no_grad():
        model = ref.CLIP(SHAPES[arch])
        for p in model.parameters():
            p.normal_(0.0, 0.02)
    ref.write_safetensors(out, dict(model.state_dict()))
    print("wrote", out, sum(p.numel() for p in model.parameters()), "parameters")
