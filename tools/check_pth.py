#!/usr/bin/python3
"""By-hand check of `tessera convert RUN --to pth` against PyTorch (not a test: PyTorch is no
test dependency). Run it from the repository root after `npx tsc -p tsconfig.json`, with
Debian's python3-torch and python3-torchvision:

    /usr/bin/python3 tools/check_pth.py [--model resnet18] [--classes 10] [--batch 4]

It writes a Tessera run of MODEL (seeded weights, BatchNorm statistics and counters away from
their defaults; test-support/run-checkpoint.ts), then
  1. `tessera convert RUN --to pth --out model.pth`, loaded with
     `torchvision.models.MODEL(num_classes=N).load_state_dict(torch.load(f), strict=True)`,
     also with `weights_only=True`;
  2. `tessera export --checkpoint RUN --out model.onnx`, run by onnxruntime-node on one batch;
  3. compares PyTorch's eval-mode logits on the same batch with the ONNX file's, and that
     num_batches_tracked came through as int64.
Prints the max |diff| and exits 1 when it exceeds 1e-4 * max |logit| (the export check's own
tolerance).
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESSERA = [
    "node",
    os.path.join(ROOT, "bin", "tessera.js"),
]

MAKE_RUN = """
import {{ writeRunCheckpoint }} from {run_checkpoint};
writeRunCheckpoint({run}, {model}, {{ classes: Array.from({{ length: {classes} }}, (_, i) => 'c' + i), seed: 7 }});
"""

RUN_ONNX = """
import {{ readFileSync, writeFileSync }} from 'node:fs';
import {{ ort }} from {ort};
const shape = {shape};
const data = new Float32Array(readFileSync({input}).buffer.slice(0));
const session = await ort.InferenceSession.create({onnx}, {{ executionProviders: ['cpu'] }});
const out = await session.run({{ input: new ort.Tensor('float32', data, shape) }});
writeFileSync({logits}, Buffer.from(out.logits.data.buffer));
"""


def js(s):
    return repr(s).replace("\\\\", "/")


def node(script):
    subprocess.run(["node", "--input-type=module", "-e", script], check=True, cwd=ROOT)


def tessera(*args):
    r = subprocess.run(TESSERA + list(args), cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"tessera {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r.stdout


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default="resnet18", help="a torchvision model Tessera also registers")
    p.add_argument("--classes", type=int, default=10)
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--image-size", type=int, default=224)
    a = p.parse_args()

    with tempfile.TemporaryDirectory(prefix="tessera-check-pth-") as tmp:
        run = os.path.join(tmp, "run")
        dist = os.path.join(ROOT, "dist")
        node(MAKE_RUN.format(run_checkpoint=js("file://" + os.path.join(dist, "test-support", "run-checkpoint.js")), run=js(run), model=js(a.model), classes=a.classes))
        pth = os.path.join(tmp, "model.pth")
        onnx = os.path.join(tmp, "model.onnx")
        print(tessera("convert", run, "--to", "pth", "--out", pth), end="")
        print(tessera("export", "--checkpoint", run, "--out", onnx, "--image-size", str(a.image_size)), end="")

        state = torch.load(pth)
        torch.load(pth, weights_only=True)  # the restricted unpickler reads it too
        model = getattr(torchvision.models, a.model)(num_classes=a.classes)
        print("load_state_dict(strict=True):", model.load_state_dict(state, strict=True))
        counters = [k for k in state if k.endswith("num_batches_tracked")]
        assert all(state[k].dtype == torch.int64 and state[k].dim() == 0 for k in counters), "num_batches_tracked: 0-d int64"
        model.eval()

        g = torch.Generator().manual_seed(0)
        x = torch.randn(a.batch, 3, a.image_size, a.image_size, generator=g)
        with torch.no_grad():
            want = model(x).numpy()
        inp = os.path.join(tmp, "input.bin")
        out = os.path.join(tmp, "logits.bin")
        x.numpy().astype("<f4").tofile(inp)
        node(RUN_ONNX.format(ort=js("file://" + os.path.join(dist, "src", "runtime", "ort.js")), shape=list(x.shape), input=js(inp), onnx=js(onnx), logits=js(out)))
        got = np.fromfile(out, dtype="<f4").reshape(want.shape)

        diff = float(np.abs(got - want).max())
        scale = float(np.abs(want).max())
        ok = diff <= 1e-4 * scale
        print(f"{a.model}, {len(state)} tensors ({len(counters)} num_batches_tracked), batch {a.batch} at {a.image_size}: "
              f"max |diff| PyTorch vs Tessera's ONNX {diff:.3e} (max |logit| {scale:.4f}, tolerance {1e-4 * scale:.3e}) {'ok' if ok else 'FAILED'}")
        sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
