#!/usr/bin/python3
"""Writes torch.save checkpoints, damaged variants and their expected contents for
core/checkpoint/torch_pickle_test.cc.

Usage: make_torch_checkpoints.py OUT_DIR

Writes into OUT_DIR:
  <name>.pt        checkpoints (see main())
  expected.bin     every expected tensor value, concatenated: float64 for floating dtypes
                   (exact for fp16/bf16/fp32), int64 for integer and bool dtypes
  manifest.json    {"files": {file: {"tensors": {name: {"dtype": "torch.float32",
                   "shape": [..], "offset": byte offset in expected.bin, "kind": "f64"|"i64"}},
                   "metadata": {...}}}, "shared": [[file, name_a, name_b], ...]}
The C++ test reads only these files, never Python objects.
"""
import collections
import copy
import json
import os
import pickle
import struct
import sys
import zipfile
import zlib

import torch
from torch import nn


class Small(nn.Module):
    """Linear, LayerNorm, Embedding and an int64 buffer, as the brief's state dict."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 3)
        self.norm = nn.LayerNorm(3)
        self.embed = nn.Embedding(5, 4)
        self.register_buffer("steps", torch.tensor([1, -2, 3 ** 30], dtype=torch.int64))
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.randn(p.shape))


class Custom:
    """An arbitrary class: loading it would run Python code, so it must be refused."""

    def __init__(self):
        self.x = 1


class Manifest:
    def __init__(self, out_dir):
        self.out_dir = out_dir
        self.blob = bytearray()
        self.files = {}
        self.shared = []

    def expect(self, file, tensors, metadata=None):
        entry = {"tensors": {}, "metadata": metadata or {}}
        for name, t in tensors.items():
            t = t.detach()
            if t.is_floating_point():
                kind, values = "f64", t.to(torch.float64).contiguous().numpy().astype("<f8")
            else:
                kind, values = "i64", t.to(torch.int64).contiguous().numpy().astype("<i8")
            entry["tensors"][name] = {"dtype": str(t.dtype), "shape": list(t.shape),
                                      "offset": len(self.blob), "kind": kind}
            self.blob += values.tobytes()
        self.files[file] = entry

    def write(self):
        with open(os.path.join(self.out_dir, "expected.bin"), "wb") as f:
            f.write(self.blob)
        with open(os.path.join(self.out_dir, "manifest.json"), "w") as f:
            json.dump({"files": self.files, "shared": self.shared}, f, indent=1)


def read_entries(path):
    with zipfile.ZipFile(path) as z:
        return [(i.filename, z.read(i.filename)) for i in z.infolist()]


def write_stored_zip(path, entries, compression=zipfile.ZIP_STORED):
    """Rewrites entries with Python's zipfile (valid CRCs, no alignment padding)."""
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for name, data in entries:
            z.writestr(name, data)


def write_zip64(path, entries):
    """Writes STORED entries with every size/offset in ZIP64 extra fields (32-bit slots
    saturated), a ZIP64 end record and locator, and torch-like 64-byte data alignment.
    This is what a >4 GB torch.save looks like, without writing 4 GB."""
    out, central = bytearray(), bytearray()
    for name, data in entries:
        n = name.encode()
        offset = len(out)
        crc = zlib.crc32(data)
        z64_local = struct.pack("<HHQQ", 1, 16, len(data), len(data))
        header_len = 30 + len(n) + len(z64_local) + 4
        pad = (-(offset + header_len)) % 64
        extra = z64_local + struct.pack("<HH", 0x4246, pad) + b"Z" * pad  # torch's "FB" pad field
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc,
                           0xFFFFFFFF, 0xFFFFFFFF, len(n), len(extra)) + n + extra
        assert len(out) % 64 == 0
        out += data
        z64_central = struct.pack("<HHQQQ", 1, 24, len(data), len(data), offset)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc,
                               0xFFFFFFFF, 0xFFFFFFFF, len(n), len(z64_central), 0, 0, 0, 0,
                               0xFFFFFFFF) + n + z64_central
    cd_offset = len(out)
    out += central
    z64_end = len(out)
    out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(entries), len(entries),
                       len(central), cd_offset)
    out += struct.pack("<IIQI", 0x07064B50, 0, z64_end, 1)
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF,
                       0xFFFFFFFF, 0xFFFFFFFF, 0)
    with open(path, "wb") as f:
        f.write(out)
    # Python's own reader must agree that the archive is valid.
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None
        assert [(i.filename, z.read(i)) for i in z.infolist()] == list(entries)


class FakeStorage:
    def __init__(self, key, numel):
        self.key, self.numel = key, numel


class FakeTensor:
    """Pickles as torch does (_rebuild_tensor_v2 over a persistent storage id), with
    whatever offset/size/stride the test wants, including invalid ones."""

    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, size, stride, False, collections.OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class CraftPickler(pickle.Pickler):
    def persistent_id(self, obj):
        if isinstance(obj, FakeStorage):
            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def write_crafted(path, obj, storages, byteorder="little"):
    import io
    buf = io.BytesIO()
    CraftPickler(buf, protocol=2).dump(obj)
    entries = [("archive/data.pkl", buf.getvalue()), ("archive/byteorder", byteorder.encode())]
    entries += [("archive/data/" + k, v) for k, v in storages.items()]
    entries.append(("archive/version", b"3\n"))
    write_stored_zip(path, entries)


def main():
    out = sys.argv[1]
    p = lambda name: os.path.join(out, name)
    torch.manual_seed(0)
    m = Manifest(out)

    # State dicts in three precisions (an OrderedDict carrying _metadata).
    model = Small()
    for file, dtype in [("model_fp32.pt", torch.float32), ("model_fp16.pt", torch.float16),
                        ("model_bf16.pt", torch.bfloat16)]:
        sd = copy.deepcopy(model).to(dtype).state_dict()
        assert isinstance(sd, collections.OrderedDict) and hasattr(sd, "_metadata")
        torch.save(sd, p(file))
        m.expect(file, sd)

    # Views: a transposed (non-contiguous) tensor, two slices of one storage at different
    # offsets, a strided slice, and the whole storage.
    base = torch.randn(3, 4)
    flat = torch.arange(100, 112, dtype=torch.float32)
    views = {"t": base.t(), "a": flat[2:6], "b": flat[4:10], "strided": flat[::3], "whole": flat}
    assert not views["t"].is_contiguous()
    assert views["a"].storage().data_ptr() == views["b"].storage().data_ptr()
    torch.save(views, p("views.pt"))
    m.expect("views.pt", views)
    m.shared += [["views.pt", "a", "b"], ["views.pt", "a", "whole"]]

    # Nested: a training-checkpoint-like dict with non-tensor leaves and a list.
    layers = [torch.randn(2), torch.randn(1, 2)]
    nested = {"state_dict": model.state_dict(), "epoch": 3, "name": "small", "lr": 0.5,
              "flag": True, "nothing": None, "layers": layers}
    torch.save(nested, p("nested.pt"))
    flat_nested = {"state_dict." + k: v for k, v in model.state_dict().items()}
    flat_nested.update({"layers.0": layers[0], "layers.1": layers[1]})
    m.expect("nested.pt", flat_nested, {"epoch": "3", "name": "small", "lr": "0.5",
                                        "flag": "True", "nothing": "None"})

    # 0-dim and empty tensors, and the other dtypes safetensors writes.
    scalars = {"scalar": torch.tensor(2.5), "long_scalar": torch.tensor(-7),
               "empty": torch.zeros(0, 3), "f64": torch.randn(2, 2, dtype=torch.float64),
               "i32": torch.tensor([-5, 6], dtype=torch.int32),
               "i16": torch.tensor([[-300], [301]], dtype=torch.int16),
               "u8": torch.tensor([0, 200, 255], dtype=torch.uint8),
               "bool": torch.tensor([True, False, True])}
    torch.save(scalars, p("scalars.pt"))
    m.expect("scalars.pt", scalars)
    int8 = {"i8": torch.tensor([-128, 5, 127], dtype=torch.int8)}
    torch.save(int8, p("int8.pt"))
    m.expect("int8.pt", int8)

    # nn.Parameter values (_rebuild_parameter).
    params = model.state_dict(keep_vars=True)
    assert isinstance(params["linear.weight"], nn.Parameter)
    torch.save(params, p("params.pt"))
    m.expect("params.pt", params)

    # The legacy (pre-1.6) format.
    torch.save(model.state_dict(), p("legacy.pt"), _use_new_zipfile_serialization=False)
    m.expect("legacy.pt", model.state_dict())
    torch.save(views, p("legacy_views.pt"), _use_new_zipfile_serialization=False)
    m.expect("legacy_views.pt", views)
    m.shared += [["legacy_views.pt", "a", "b"]]
    torch.save(scalars, p("legacy_scalars.pt"), _use_new_zipfile_serialization=False)
    m.expect("legacy_scalars.pt", scalars)

    # ZIP64: the fp32 state dict rewritten with ZIP64 records everywhere.
    write_zip64(p("zip64.pt"), read_entries(p("model_fp32.pt")))
    m.expect("zip64.pt", model.state_dict())

    # A hand-crafted archive that is valid (so the crafted damage below fails only for
    # the damage), with archive name "archive".
    ten = FakeStorage("0", 10)
    ten_bytes = torch.arange(10, dtype=torch.float32).numpy().tobytes()
    write_crafted(p("crafted_ok.pt"), {"x": FakeTensor(ten, 2, (2, 3), (3, 1))}, {"0": ten_bytes})
    m.expect("crafted_ok.pt", {"x": torch.arange(10, dtype=torch.float32)[2:8].reshape(2, 3)})

    # Damage.
    write_crafted(p("oob_view.pt"), {"x": FakeTensor(ten, 2, (3, 3), (3, 1))}, {"0": ten_bytes})
    write_crafted(p("huge_expand.pt"), {"x": FakeTensor(ten, 0, (1 << 20, 1 << 20), (0, 0))},
                  {"0": ten_bytes})
    write_crafted(p("big_endian.pt"), {"x": FakeTensor(ten, 0, (10,), (1,))}, {"0": ten_bytes},
                  byteorder="big")
    entries = read_entries(p("model_fp32.pt"))
    # A storage record 4 bytes shorter than its persistent id's numel says.
    key = next(n for n, d in entries if "/data/" in n and len(d) >= 8)
    write_stored_zip(p("short_storage.pt"), [(n, d[:-4] if n == key else d) for n, d in entries])
    # An invalid opcode right after PROTO, with a valid CRC.
    write_stored_zip(p("bad_opcode.pt"), [(n, d[:2] + b"\xff" + d[2:] if n.endswith("/data.pkl") else d)
                                          for n, d in entries])
    write_stored_zip(p("compressed.pt"), entries, zipfile.ZIP_DEFLATED)
    torch.save({"w": torch.ones(2), "obj": Custom()}, p("unknown_global.pt"))
    with open(p("not_a_zip.txt"), "w") as f:
        f.write("this is not a checkpoint\n" * 4)
    m.write()


if __name__ == "__main__":
    main()
