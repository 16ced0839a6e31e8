#!/usr/bin/python3
"""Writes the fuzz targets' seed corpora (fuzz/corpus/<target>/), small valid inputs of each
format, made by independent writers: python3-torch's torch.save (zip and legacy formats),
numpy's .npy writer, Pillow's PNG writer, protoc --encode for the service requests, and the
repository's own configs. Run again after changing a format:

    /usr/bin/python3 fuzz/make_seeds.py

The files are committed, so a fuzzing run needs none of these tools."""
import io
import json
import os
import struct
import subprocess
import sys

import numpy as np
import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "fuzz", "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def safetensors_bytes(tensors, metadata=None):
    """The safetensors layout written out by hand: u64 header length, JSON header, data."""
    header, blobs, offset = {}, [], 0
    dtypes = {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16", torch.int64: "I64",
              torch.int32: "I32", torch.uint8: "U8", torch.bool: "BOOL", torch.float64: "F64", torch.int16: "I16"}
    for name, t in tensors.items():
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": dtypes[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    if metadata:
        header["__metadata__"] = metadata
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def torch_save(obj, legacy):
    buf = io.BytesIO()
    torch.save(obj, buf, _use_new_zipfile_serialization=not legacy)
    return buf.getvalue()


def crc32c(data):
    """CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), bit by bit."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc ^ 0xFFFFFFFF


def protoc_encode(message, text):
    proto_dir = os.path.join(ROOT, "proto")
    files = ["maskgrpo/common.proto", "maskgrpo/learner.proto", "maskgrpo/reward.proto"]
    out = subprocess.run(["protoc", "-I", proto_dir, "--encode=maskgrpo.v1." + message] + files,
                         input=text.encode(), capture_output=True, check=True)
    return out.stdout


def learner_calls_seeds():
    """learner_calls_fuzz.cc: byte 0 picks Lease (0), WeightsSource (1) or WeightsHeld (2)."""
    put("learner_calls", "lease.bin", b"\x00" + protoc_encode("LeaseRequest", 'worker_id: "w0" max_leases: 4'))
    put("learner_calls", "lease_long_poll.bin",
        b"\x00" + protoc_encode("LeaseRequest", 'worker_id: "w1" max_leases: 64 wait_ms: 2000'))
    put("learner_calls", "lease_bad.bin", b"\x00" + protoc_encode("LeaseRequest", 'worker_id: "w0" max_leases: 0'))
    # A worker reporting the leases it holds (its others are released), and a bad report.
    put("learner_calls", "lease_held.bin", b"\x00" + protoc_encode(
        "LeaseRequest", 'worker_id: "w0" max_leases: 2 reports_held_leases: true held_lease_ids: "x-1"'))
    put("learner_calls", "lease_held_empty_id.bin", b"\x00" + protoc_encode(
        "LeaseRequest", 'worker_id: "w0" max_leases: 2 reports_held_leases: true held_lease_ids: ""'))
    # A worker process's instance token (a second instance under the same id takes it over).
    put("learner_calls", "lease_instance.bin", b"\x00" + protoc_encode(
        "LeaseRequest", 'worker_id: "w0" max_leases: 1 reports_held_leases: true worker_instance: "a"'))
    put("learner_calls", "lease_long_id.bin",
        b"\x00" + protoc_encode("LeaseRequest", 'worker_id: "%s" max_leases: 1' % ("w" * 257)))
    put("learner_calls", "held_long_address.bin", b"\x02" + protoc_encode(
        "WeightsHeldRequest", 'worker_id: "w3" version: 0 relay_address: "%s:1"' % ("h" * 300)))
    put("learner_calls", "held_relay.bin",
        b"\x02" + protoc_encode("WeightsHeldRequest", 'worker_id: "w0" version: 0 relay_address: "10.0.0.7:50061"'))
    put("learner_calls", "source.bin", b"\x01" + protoc_encode("WeightsSourceRequest", 'worker_id: "w1" version: 0'))
    put("learner_calls", "source_failed.bin", b"\x01" + protoc_encode(
        "WeightsSourceRequest", 'worker_id: "w2" version: 0 failed_source: "10.0.0.7:50061"'))


def main():
    learner_calls_seeds()
    torch.manual_seed(0)
    # JSON
    put("json", "object.json", '{"a": [1, 2.5e-3, -0, true, null], "b": {"c": "\\u00e9\\ud83d\\ude00"}}')
    put("json", "config.json", json.dumps({"model_type": "clip", "vision_config": {"image_size": 224, "layers": [1, 2]}}))
    put("json", "numbers.json", "[0, -1, 1e308, 1.5E-300, 123456789012345678]")
    # Tokenizer text
    for i, text in enumerate(["a photo of a red square", "Two blue circles above a yellow triangle.",
                              "naïve café — 東京 😀 <|endoftext|> [PAD] <|soi|>", "  spaces\tand\nnewlines  ",
                              "don't we'll it's 1234567 !!!"]):
        put("gpt2_bpe", "text%d.txt" % i, text)
        put("clip_bpe", "text%d.txt" % i, bytes([77]) + text.encode())
    # Tokenizer files: selector byte, then the file(s) split at NUL.
    vocab = {"h": 0, "e": 1, "l": 2, "o": 3, "he": 4, "ll": 5, "Ġ": 6, "<|endoftext|>": 7}
    put("tokenizer_files", "gpt2.bin", b"\x00" + json.dumps(vocab).encode() + b"\x00#version: 0.2\nh e\nl l\n")
    put("tokenizer_files", "added.bin", b"\x01" + json.dumps({"<|soi|>": 256, "[PAD]": 257}).encode())
    put("tokenizer_files", "added_tokenizer_json.bin",
        b"\x01" + json.dumps({"added_tokens": [{"id": 256, "content": "<|soi|>", "special": True}]}).encode())
    put("tokenizer_files", "open_clip.bin", b"\x02#version: test\nh e\nl l\nhe ll\nhell o</w>\n")
    hf = {"h": 0, "e": 1, "he": 2, "o</w>": 3, "<|startoftext|>": 4, "<|endoftext|>": 5}
    put("tokenizer_files", "hf_clip.bin", b"\x03" + json.dumps(hf).encode() + b"\x00#version: 0.2\nh e\n")
    # safetensors
    put("safetensors", "mixed.safetensors", safetensors_bytes(
        {"w": torch.randn(2, 3), "h": torch.randn(4).half(), "b": torch.randn(2).bfloat16(),
         "i": torch.arange(3), "m": torch.tensor([True, False]), "e": torch.zeros(0, 2)},
        {"format": "pt", "step": "3"}))
    put("safetensors", "one.safetensors", safetensors_bytes({"x": torch.tensor([1.0])}))
    # .npy
    for name, arr in {"f32": np.arange(6, dtype="<f4").reshape(2, 3), "i64": np.arange(4, dtype="<i8"),
                      "u8": np.zeros((2, 2, 3), dtype="u1"), "scalar": np.array(1.5, dtype="<f8"),
                      "bool": np.array([True, False])}.items():
        buf = io.BytesIO()
        np.save(buf, arr)
        put("npy", name + ".npy", buf.getvalue())
    # torch.save, both formats; the first byte is the harness's options byte.
    shared = torch.randn(4, 4)
    objects = {
        "state_dict": {"a.weight": torch.randn(2, 3), "a.bias": torch.zeros(2).half(), "step": torch.tensor(3)},
        "nested": {"state_dict": {"w": torch.randn(3).bfloat16(), "v": shared[1], "t": shared.t()}, "epoch": 7,
                   "name": "x"},
        "list": [torch.arange(3), (torch.ones(1, dtype=torch.uint8), 2.5)],
        "param": {"p": torch.nn.Parameter(torch.randn(2))},
    }
    for name, obj in objects.items():
        for legacy in (False, True):
            options = 3 if name == "nested" else 0
            put("torch_checkpoint", "%s_%s.pt" % (name, "legacy" if legacy else "zip"),
                bytes([options]) + torch_save(obj, legacy))
    # PNG, through Pillow's writer
    rng = np.random.default_rng(0)
    for name, mode, shape in [("rgb", "RGB", (5, 7, 3)), ("rgba", "RGBA", (3, 4, 4)), ("gray", "L", (6, 2)),
                              ("la", "LA", (2, 2, 2))]:
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 256, shape, dtype=np.uint8), mode).save(buf, "PNG")
        put("png", name + ".png", buf.getvalue())
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 4, (8, 8), dtype=np.uint8), "L").convert("P").save(buf, "PNG")
    put("png", "palette.png", buf.getvalue())
    # Configs: the repository's own, with the harness's selector byte.
    kinds = {"train.textproto": 0, "learner.textproto": 1, "rollout_worker.textproto": 2,
             "reward_server.textproto": 3, "launch.textproto": 4}
    for name, kind in kinds.items():
        with open(os.path.join(ROOT, "configs", name), "rb") as f:
            put("config", name, bytes([kind]) + f.read())
    put("config", "bad_value.textproto", b"\x00updates: -3\n")
    # Service requests, through protoc.
    g, n, t = 4, 64, 4
    toks = " ".join("tokens: %d" % ((i * 37) % 200) for i in range(g * n))
    reveal = " ".join("reveal_step: %d" % (i % t) for i in range(g * n))
    probs = " ".join("min_revealed_prob: %.3f" % (0.2 + 0.05 * (i % 5)) for i in range(g * t))
    lp1 = " ".join("logp_candidate1: %.3f" % (-1.0 - 0.1 * i) for i in range(g * t))
    lp2 = " ".join("logp_candidate2: %.3f" % (-2.0 - 0.1 * i) for i in range(g * t))
    group = "group { group_size: %d image_tokens: %d steps: %d %s %s %s %s %s }" % (g, n, t, toks, reveal, probs, lp1, lp2)
    rewards = " ".join("rewards: %s" % r for r in (0.1, 0.5, 0.9, 0.3))
    comp = 'reward_components { key: "shapeworld_dense" value { values: 0.1 values: 0.5 values: 0.9 values: 0.3 } }'
    put("submit", "valid.bin", protoc_encode("SubmitRequest", 'lease_id: "@\\000" worker_id: "w" policy_version: 0 %s %s %s'
                                             % (group, rewards, comp)))
    put("submit", "equal_rewards.bin", protoc_encode(
        "SubmitRequest", 'lease_id: "@\\001" worker_id: "w" %s %s' % (group, " ".join(["rewards: 0.5"] * g))))
    put("submit", "unknown_lease.bin", protoc_encode("SubmitRequest", 'lease_id: "nope" %s %s' % (group, rewards)))
    # Lease replies as the learner sends them (learner_service.cc), small enough to be sampled.
    sampling = "sampling { steps: %d guidance: %s temperature: 1.0 gumbel_tau0: 1.0 }"
    put("lease_reply", "one_lease.bin", protoc_encode(
        "LeaseReply", 'policy_version: 2 group_size: 2 %s leases { lease_id: "a" prompt { text: "a photo of a red square" %s }'
        ' deadline_unix_ms: 1 sampling_seed: 5 }' % (sampling % (4, "2.0"), 'spec { tag: "single_object" include {'
                                                        ' class_name: "square" count: 1 color: "red" } }')))
    put("lease_reply", "two_leases_noise_edge.bin", protoc_encode(
        "LeaseReply", 'group_size: 4 %s candidate1_noise_edge: true record_full: true'
        ' leases { lease_id: "a" prompt { text: "a photo of two circles" } sampling_seed: 9 }'
        ' leases { lease_id: "b" prompt { text: "a photo of a triangle left of a diamond" } }' % (sampling % (2, "0.0"))))
    put("lease_reply", "unknown_word.bin", protoc_encode(
        "LeaseReply", 'group_size: 2 %s leases { prompt { text: "a photo of a dog" } }' % (sampling % (2, "2.0"))))
    put("lease_reply", "huge_guidance.bin", protoc_encode(
        "LeaseReply", 'group_size: 2 %s leases { prompt { text: "a photo of a red square" } }' % (sampling % (2, "1e300"))))
    put("lease_reply", "large_group.bin", protoc_encode(
        "LeaseReply", 'group_size: 64 %s leases { prompt { text: "a photo of a red square" } }' % (sampling % (16, "5.0"))))
    # Weights streams: frames of (2-byte little-endian length, one WeightsChunk), version 3,
    # cut as the learner cuts them (weights_stream.cc), each tensor with its CRC-32C.
    def chunk(text):
        b = protoc_encode("WeightsChunk", text)
        return struct.pack("<H", len(b)) + b

    def esc(b):
        return "".join("\\%03o" % x for x in b)

    a = np.arange(6, dtype="<f4").tobytes()  # F32 [2, 3]
    bf = bytes(range(8))                      # BF16 [4]
    stream = (chunk('version: 3 tensor_count: 2 model_config: "{}" tensor_name: "a" dtype: "F32" shape: 2 shape: 3'
                    ' tensor_bytes: 24 crc32c: %d offset: 0 data: "%s"' % (crc32c(a), esc(a[:16])))
              + chunk('version: 3 offset: 16 data: "%s"' % esc(a[16:]))
              + chunk('version: 3 tensor_name: "b" dtype: "BF16" shape: 4 tensor_bytes: 8 crc32c: %d offset: 0'
                      ' data: "%s"' % (crc32c(bf), esc(bf))))
    put("weights_stream", "two_tensors.bin", stream)
    put("weights_stream", "trained_only.bin", chunk(
        'version: 3 tensor_count: 1 frozen_fingerprint: 77 trained_only: true tensor_name: "b" dtype: "BF16" shape: 4'
        ' tensor_bytes: 8 crc32c: %d offset: 0 data: "%s"' % (crc32c(bf), esc(bf))))
    put("weights_stream", "empty_tensor.bin", (
        chunk('version: 3 tensor_count: 2 tensor_name: "e" dtype: "F32" shape: 0 shape: 5 tensor_bytes: 0 crc32c: 0'
              ' offset: 0')
        + chunk('version: 3 tensor_name: "b" dtype: "BF16" shape: 4 tensor_bytes: 8 crc32c: %d offset: 0 data: "%s"'
                % (crc32c(bf), esc(bf)))))
    put("weights_stream", "bad_crc.bin", chunk(
        'version: 3 tensor_count: 1 tensor_name: "b" dtype: "BF16" shape: 4 tensor_bytes: 8 crc32c: 1 offset: 0'
        ' data: "%s"' % esc(bf)))
    rgb = bytes(rng.integers(0, 256, 64 * 64 * 3, dtype=np.uint8))
    esc = "".join("\\%03o" % b for b in rgb)
    spec = 'spec { tag: "single_object" include { class_name: "square" count: 1 color: "red" } }'
    put("score_request", "one_item.bin", protoc_encode(
        "ScoreRequest", 'items { image { height: 64 width: 64 rgb: "%s" } prompt { text: "a photo of a red square" %s } }'
        % (esc, spec)))
    black = "\\000" * (64 * 64 * 3)
    spec2 = ('spec { tag: "position" include { class_name: "circle" count: 1 } '
             'include { class_name: "triangle" count: 1 relation: "left of" relation_ref: 0 } }')
    put("score_request", "two_items.bin", protoc_encode(
        "ScoreRequest", 'items { image { height: 64 width: 64 rgb: "%s" } prompt { text: "a triangle left of a circle" %s } } '
        'items { image { height: 64 width: 64 rgb: "%s" } prompt { text: "a photo of a red square" %s } }'
        % (black, spec2, esc, spec)))
    print("seed corpora written under", CORPUS)


if __name__ == "__main__":
    sys.exit(main())
