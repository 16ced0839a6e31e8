#!/usr/bin/python3
"""A tiny random CLIP for service tests (not a numerical reference): writes into argv[1]
  clip.safetensors  open_clip-layout weights (embed 32, vision 32 wide / 1 layer / patch 32 on
                    224x224, text 32 wide / 1 layer / 77 positions / 524 ids, GELU, 2 heads)
  bpe.txt           an open_clip-format BPE file with 524 ids (512 byte symbols, 10 merges,
                    SOT/EOT), so that any prompt tokenizes inside the model's vocabulary
"""
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clip_reference as ref  # noqa: E402

CONFIG = dict(embed_dim=32, v_width=32, v_layers=1, v_heads=2, patch=32, image=224,
              t_width=32, t_layers=1, t_heads=2, ctx=77, vocab=524, act="gelu")
MERGES = ["h e", "l l", "l o</w>", "he ll", "hell o</w>", "l d</w>", "w o", "wo r", "wor ld</w>", "' s</w>"]

if __name__ == "__main__":
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    model = ref.CLIP(CONFIG)
    ref.randomise(model, torch.Generator().manual_seed(5))
    ref.write_safetensors(os.path.join(out, "clip.safetensors"), dict(model.state_dict()))
    with open(os.path.join(out, "bpe.txt"), "w") as f:
        f.write("#version: tiny\n" + "\n".join(MERGES) + "\n")
