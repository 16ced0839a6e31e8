#!/usr/bin/python3
"""A tiny Show-o world in the published file layouts (tests only; Debian's python3-torch).

Writes into argv[1]:
  showo/      config.json + pytorch_model.bin (torch.save of the `showo.`-prefixed state dict of
              showo_reference.py's model resized to this vocabulary: 266 text ids with
              <|endoftext|> = 265, Show-o's 10 special tokens at 266..275, 16 image codes at
              276..291, mask 292, 12 text positions, 4x4 image)
  magvit/     pytorch_model.bin: a MAGVIT-v2 checkpoint (decoder.*, quantize.*, a dummy
              encoder.* tensor) with z_channels 4 (16 LFQ codes), ch 32, ch_mult [1, 2]:
              4x4 codes -> 8x8 pixels
  tokenizer/  vocab.json + merges.txt of a byte-level BPE vocabulary: GPT-2's 256 byte
              symbols, 9 merges and <|endoftext|>
  prompts.jsonl  GenEval-style lines in that vocabulary
  expected.safetensors  codes [2, 16] and the uint8 images [2, 8, 8, 3] MAGVIT gives for them
"""
import collections
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import magvit_reference as magvit  # noqa: E402
import showo_reference as showo    # noqa: E402

def bytes_to_unicode():
    """GPT-2's printable stand-ins for the 256 byte values (openai/gpt-2 encoder.py)."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    out, n = {}, 0
    for b in range(256):
        if b in keep:
            out[b] = chr(b)
        else:
            out[b] = chr(256 + n)
            n += 1
    return out


VOCAB = list(bytes_to_unicode().values()) + ["\u0120a", "\u0120p", "ph", "ot", "\u0120ph", "pho", "\u0120b",
                                             "\u0120c", "\u0120d", "<|endoftext|>"]
MERGES = ["\u0120 a", "\u0120 p", "p h", "o t", "\u0120 ph", "ph o", "\u0120 b", "\u0120 c", "\u0120 d"]
PROMPTS = [
    {"tag": "single_object", "include": [{"class": "cat", "count": 1}], "prompt": "a photo"},
    {"tag": "single_object", "include": [{"class": "dog", "count": 1}], "prompt": "a photo b"},
    {"tag": "single_object", "include": [{"class": "bed", "count": 1}], "prompt": "a photo c"},
    {"tag": "two_object", "include": [{"class": "cat", "count": 1}, {"class": "dog", "count": 1}],
     "prompt": "a photo d"},
    {"tag": "two_object", "include": [{"class": "cat", "count": 1}, {"class": "bed", "count": 1}],
     "prompt": "a photo e"},
    {"tag": "position", "include": [{"class": "cat", "count": 1},
                                    {"class": "dog", "count": 1, "position": ["left of", 0]}],
     "prompt": "a photo a b"},
]


def main():
    out = sys.argv[1]
    for sub in ("showo", "magvit", "tokenizer"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    # showo_reference's tiny model, resized to this vocabulary (its functions read these globals).
    showo.LLM_VOCAB = len(VOCAB)
    showo.VOCAB = showo.LLM_VOCAB + showo.SPECIALS + showo.CODEBOOK + 1
    showo.PAD, showo.SOI, showo.EOI, showo.T2I = showo.LLM_VOCAB, showo.LLM_VOCAB + 1, showo.LLM_VOCAB + 2, showo.LLM_VOCAB + 5
    showo.EOT = showo.LLM_VOCAB - 1
    showo.OFFSET = showo.LLM_VOCAB + showo.SPECIALS
    showo.MASK = showo.VOCAB - 1
    assert VOCAB[showo.EOT] == "<|endoftext|>"
    with open(os.path.join(out, "tokenizer", "vocab.json"), "w", encoding="utf-8") as f:
        json.dump({tok: i for i, tok in enumerate(VOCAB)}, f, ensure_ascii=True)  # \\u escapes, as published
    with open(os.path.join(out, "tokenizer", "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "\n".join(MERGES) + "\n")
    with open(os.path.join(out, "prompts.jsonl"), "w") as f:
        for p in PROMPTS:
            f.write(json.dumps(p) + "\n")

    gen = torch.Generator().manual_seed(1234)
    state = showo.make_state(gen)
    config = {"_class_name": "Showo", "w_clip_vit": False, "vocab_size": showo.VOCAB,
              "llm_vocab_size": showo.LLM_VOCAB, "llm_model_path": "microsoft/phi-1_5",
              "codebook_size": showo.CODEBOOK, "num_vq_tokens": showo.N_IMAGE, "load_from_showo": False,
              "mask_token_id": showo.MASK}
    with open(os.path.join(out, "showo", "config.json"), "w") as f:
        json.dump(config, f)
    torch.save(state, os.path.join(out, "showo", "pytorch_model.bin"))

    bits = 4
    decoder = magvit.VQGANDecoder(32, [1, 2], [1, 1], bits, 3)
    torch.manual_seed(7)
    magvit.randomize(decoder, torch.Generator().manual_seed(7))
    embedding, power = magvit.lfq_codebook(bits)
    vq = collections.OrderedDict(("decoder." + k, v.detach().clone()) for k, v in decoder.state_dict().items())
    vq["quantize.embedding"] = embedding
    vq["quantize.power_vals"] = power
    vq["encoder.conv_in.weight"] = torch.zeros(32, 3, 3, 3)  # the encoder side is ignored by the loader
    torch.save(vq, os.path.join(out, "magvit", "pytorch_model.bin"))

    codes = torch.tensor([[(i * 5 + 3) % 16 for i in range(16)], [15 - (i % 16) for i in range(16)]])
    with torch.no_grad():
        pixels = magvit.to_uint8(decoder(magvit.codes_to_latent(embedding, codes)))
    showo.write_safetensors(os.path.join(out, "expected.safetensors"),
                            {"codes": codes, "images": pixels.to(torch.int64)})


if __name__ == "__main__":
    main()
