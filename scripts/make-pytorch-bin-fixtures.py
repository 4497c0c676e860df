"""Makes tests/fixtures/pytorch-bin/: `pytorch_model.bin` files as torch.save writes them, and
malicious or unsupported ones that the reader must refuse (tests/unit/pytorch-bin.test.ts).

Dev-time only (needs torch; made with torch 2.13.0+cpu):
    python3 scripts/make-pytorch-bin-fixtures.py
"""

import collections
import json
import os
import pickle
import struct
import zipfile

import torch

ROOT = os.path.join(os.path.dirname(__file__), "..", "tests", "fixtures")
OUT = os.path.join(ROOT, "pytorch-bin")
DTYPES = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}


def read_safetensors(path):
    """The tensors of a safetensors file (read by hand: the safetensors package is not needed)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    data = raw[8 + n :]
    out = collections.OrderedDict()
    for name, e in sorted(header.items()):
        if name == "__metadata__":
            continue
        begin, end = e["data_offsets"]
        buf = bytearray(data[begin:end])
        out[name] = torch.frombuffer(buf, dtype=DTYPES[e["dtype"]]).reshape(e["shape"]).clone()
    return out


def gpt2_tiny_a():
    """gpt2-tiny-a's weights as a GPT-2 pytorch_model.bin has them: `transformer.` prefix, the
    tied `lm_head.weight` sharing the embedding's storage, and an integer buffer."""
    sd = collections.OrderedDict()
    for name, t in read_safetensors(os.path.join(ROOT, "gpt2-tiny-a", "model.safetensors")).items():
        sd["transformer." + name] = t
    sd["lm_head.weight"] = sd["transformer.wte.weight"]
    sd["transformer.position_ids"] = torch.arange(32).unsqueeze(0)
    torch.save(sd, os.path.join(OUT, "gpt2-tiny-a.bin"))


def views():
    """Every layout the reader handles: a strided view, an offset view, F16, BF16, F64, nested
    dicts, a Parameter, and an OrderedDict's `_metadata`."""
    a = torch.arange(6, dtype=torch.float32).reshape(2, 3)
    sd = collections.OrderedDict()
    sd["a"] = a
    sd["a_t"] = a.t()  # stride (1, 3): not contiguous
    sd["a_row1"] = a[1]  # storage offset 3
    sd["half"] = torch.tensor([0.5, -2.0, 65504.0], dtype=torch.float16)
    sd["bf16"] = torch.tensor([1.5, -3.0, 1e30], dtype=torch.bfloat16)
    sd["double"] = torch.tensor([[0.25, 1e-3]], dtype=torch.float64)
    sd["param"] = torch.nn.Parameter(torch.tensor([7.0]))
    sd["scalar"] = torch.tensor(2.5)
    sd["nested"] = {"w": torch.tensor([1.0, 2.0])}
    sd["epoch"] = 3
    sd._metadata = collections.OrderedDict({"": {"version": 1}})
    path = os.path.join(OUT, "views.bin")
    torch.save(sd, path)
    # The same archive with every entry deflated.
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(
        os.path.join(OUT, "views-deflate.bin"), "w", zipfile.ZIP_DEFLATED
    ) as dst:
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))


def write_pickle_archive(name, pkl):
    """A zip laid out as torch.save's, holding the given pickle bytes."""
    with zipfile.ZipFile(os.path.join(OUT, name), "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        z.writestr("archive/byteorder", "little")
        z.writestr("archive/data/0", b"\0" * 16)


class CallsOsSystem:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


class CallsEval:
    def __reduce__(self):
        return (eval, ("1+1",))


def malicious():
    write_pickle_archive("evil-os-system.bin", pickle.dumps({"w": CallsOsSystem()}, protocol=2))
    write_pickle_archive("evil-eval.bin", pickle.dumps({"w": CallsEval()}, protocol=4))
    # An allowed name used as a function it is not: calling a storage class.
    write_pickle_archive("evil-call-storage.bin", b"\x80\x02ctorch\nFloatStorage\n)R.")
    # INST builds an arbitrary object without a GLOBAL opcode.
    write_pickle_archive("evil-inst.bin", b"(X\x0a\x00\x00\x00echo pwnedios\nsystem\n.")
    torch.save({"w": torch.ones(2)}, os.path.join(OUT, "legacy.bin"), _use_new_zipfile_serialization=False)


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    gpt2_tiny_a()
    views()
    malicious()
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)))
