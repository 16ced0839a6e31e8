#!/usr/bin/python3
"""Exports a TorchScript reward for tests: the mean brightness of each image.

The reward server's `torchscript` scorer calls forward(images [B, 3, H, W] float in [0, 1],
prompts List[str]) -> [B]. A real reward model (a CLIP score, an aesthetic predictor) is
exported the same way: a Module whose forward has this signature, torch.jit.script'ed and
saved. Usage: /usr/bin/python3 brightness_reward.py OUT.pt
"""
import sys
from typing import List

import torch


class Brightness(torch.nn.Module):
    def forward(self, images: torch.Tensor, prompts: List[str]) -> torch.Tensor:
        return images.mean(dim=[1, 2, 3])


if __name__ == "__main__":
    torch.jit.script(Brightness()).save(sys.argv[1])
