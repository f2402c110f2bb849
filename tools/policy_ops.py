#!/usr/bin/python3
"""Writes test/data/policy-ops.safetensors: torchvision 0.14's `_apply_op` (the call every policy
makes for one op at one magnitude) on a 20x28 crop of ../shared/fixtures/augment_ops.safetensors'
image.4, for every op of RandAugment's space (and Invert) at two magnitudes each (bin 9, and bin
30 negated for the signed ops), nearest interpolation, fill [10, 20, 30]. Keys: `image` and
`<op>.<magnitude>`; the metadata `calls` lists them. test/policies.test.ts compares
src/augment/policies.ts `applyPolicyOp` with them exactly.

Run: /usr/bin/python3 tools/policy_ops.py   (from the project root; ../shared beside it)
"""
import json
import struct

import torch
from torchvision.transforms import InterpolationMode
from torchvision.transforms import autoaugment as aa

FILL = [10.0, 20.0, 30.0]


def load_u8(path, key):
    """One U8 tensor of a safetensors file (the python safetensors package is not installed)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        entry = header[key]
        assert entry["dtype"] == "U8"
        start, end = entry["data_offsets"]
        f.seek(8 + n + start)
        data = f.read(end - start)
    return torch.frombuffer(bytearray(data), dtype=torch.uint8).reshape(entry["shape"])


def save_u8(path, tensors, metadata):
    header = {"__metadata__": metadata}
    blobs = []
    offset = 0
    for key, t in tensors.items():
        raw = t.contiguous().numpy().tobytes()
        header[key] = {"dtype": "U8", "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def main():
    image = load_u8("../shared/fixtures/augment_ops.safetensors", "image.4")[:, 10:30, 20:48].contiguous()
    space = aa.RandAugment(num_magnitude_bins=31)._augmentation_space(31, (image.shape[1], image.shape[2]))
    space["Invert"] = (torch.tensor(0.0), False)
    out = {"image": image}
    calls = []
    for name, (bins, signed) in space.items():
        picks = [float(bins[9].item()), -float(bins[30].item()) if signed else float(bins[30].item())] if bins.ndim > 0 else [0.0]
        for m in picks:
            key = f"{name}.{m!r}"
            out[key] = aa._apply_op(image, name, m, interpolation=InterpolationMode.NEAREST, fill=FILL).contiguous()
            calls.append({"key": key, "op": name, "magnitude": m})
    save_u8("test/data/policy-ops.safetensors", out, metadata={"calls": json.dumps(calls), "fill": json.dumps(FILL), "interpolation": "nearest"})


if __name__ == "__main__":
    main()
