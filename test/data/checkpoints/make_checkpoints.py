#!/usr/bin/python3
"""Dev-only generator of the PyTorch checkpoints under test/data/checkpoints/.

NOT a test or CI dependency: the generated files and expected.json are committed, and the
TypeScript tests (test/checkpoints.test.ts) read them without Python or torch. Rerun only to
change the test data, with a Python that has torch (written against torch 1.13):

    /usr/bin/python3 test/data/checkpoints/make_checkpoints.py

Benign files (each loaded back here with torch.load to prove torch reads them):
  lenet_f16.pt          torch.save(LeNet().half().state_dict()), zip format, weights rounded to
                        multiples of 2**-8 and the archive re-packed with deflate so that it stays
                        under 100 KB (62006 float16 values are 124 KB stored); keys load into
                        Tessera's cifar_lenet
  tiny_legacy.pt        a small conv/BatchNorm/linear model, _use_new_zipfile_serialization=False
  wrapped_module.pt     {'epoch': 3, 'state_dict': DataParallel(model).state_dict() (keys
                        'module.*'), 'optimizer': SGD state, ...}, pickle protocol 5, saved to a
                        buffer (archive prefix 'archive/')
  dtypes.pt             views (transposed, sliced, expanded, shared storage with an offset), a 0-d
                        and an empty tensor, float16 / bfloat16 / float64 / int64 / int32 / uint8 /
                        bool, pickle protocol 4

Hostile files (never loaded here; each asks the unpickler to run `touch /tmp/tessera-pwned`):
  hostile_os_system.pt      zip like torch.save, REDUCE of os.system after a real tensor
  hostile_posix_system.pt   what torch.save of such an object really writes on Linux (posix.system)
  hostile_eval.pkl          a raw pickle (protocol 4, STACK_GLOBAL) calling builtins.eval
  hostile_popen.pt          legacy format (pickle protocol 4) whose main pickle calls subprocess.Popen

expected.json records, per benign file and tensor, the dtype, shape, a float64 sum and sampled
elements (flat row-major index -> value) so the tests can check contents exactly.
"""
import collections
import io
import json
import math
import os
import pickle
import zipfile

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
PWNED = '/tmp/tessera-pwned'
MAX_BYTES = 100 * 1024


class LeNet(nn.Module):
    """pytorch-cifar's models/lenet.py, verbatim."""

    def __init__(self):
        super(LeNet, self).__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = F.max_pool2d(out, 2)
        out = F.relu(self.conv2(out))
        out = F.max_pool2d(out, 2)
        out = out.view(out.size(0), -1)
        out = F.relu(self.fc1(out))
        out = F.relu(self.fc2(out))
        out = self.fc3(out)
        return out


def tiny_model():
    torch.manual_seed(1)
    m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 2 * 2, 3))
    m.train()
    m(torch.randn(2, 3, 4, 4))  # update the BatchNorm statistics and num_batches_tracked
    return m


class Evil:
    """Pickles as a call of `fn(*args)`; unpickling it with pickle.load would run it."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)


# ---- expected values ------------------------------------------------------------------------

HOST_DTYPE = {
    torch.float32: 'float32', torch.float16: 'float32', torch.bfloat16: 'float32',
    torch.float64: 'float64', torch.int64: 'int64', torch.int32: 'int32',
    torch.uint8: 'uint8', torch.bool: 'bool',
}
SOURCE_DTYPE = {
    torch.float32: 'float32', torch.float16: 'float16', torch.bfloat16: 'bfloat16',
    torch.float64: 'float64', torch.int64: 'int64', torch.int32: 'int32',
    torch.uint8: 'uint8', torch.bool: 'bool',
}


def json_number(v):
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        # int64 values beyond 2**53 do not survive a JSON number in JavaScript
        return v if abs(v) <= 2 ** 53 else str(v)
    if math.isnan(v):
        return 'nan'
    if math.isinf(v):
        return 'inf' if v > 0 else '-inf'
    return v


def describe(t):
    flat = t.detach().reshape(-1)
    if t.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    values = flat.tolist()
    n = len(values)
    if n <= 64:
        idx = list(range(n))
    else:
        idx = sorted(set(list(range(5)) + list(range(n - 5, n)) + list(range(0, n, max(1, n // 16)))))
    floats = [float(v) for v in values]
    total = math.fsum(floats) if all(math.isfinite(v) for v in floats) else None
    return {
        'dtype': HOST_DTYPE[t.dtype],
        'sourceDtype': SOURCE_DTYPE[t.dtype],
        'shape': list(t.shape),
        'sum': total,
        'samples': [[i, json_number(values[i])] for i in idx],
    }


def describe_all(sd):
    return {k: describe(v) for k, v in sd.items()}


# ---- writers --------------------------------------------------------------------------------

def path(name):
    return os.path.join(HERE, name)


def save_torch(obj, name, **kw):
    torch.save(obj, path(name), **kw)


def repack_deflate(name):
    """Rewrites a torch zip checkpoint with deflated entries, same names in the same order."""
    with zipfile.ZipFile(path(name)) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path(name), 'w', compression=zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        for n, data in entries:
            z.writestr(n, data)


def patch_zip_pickle(name, old, new):
    """Replaces bytes inside the archive's data.pkl (stored entries, like torch writes them)."""
    with zipfile.ZipFile(path(name)) as z:
        entries = [(i.filename, z.read(i.filename)) for i in z.infolist()]
    with zipfile.ZipFile(path(name), 'w', compression=zipfile.ZIP_STORED) as z:
        for n, data in entries:
            if n.endswith('/data.pkl'):
                assert old in data, (name, old)
                data = data.replace(old, new)
            z.writestr(n, data)


def main():
    assert not os.path.exists(PWNED), f'{PWNED} exists before generating; remove it first'
    expected = {}

    # LeNet, float16, deflated zip -------------------------------------------------------------
    torch.manual_seed(0)
    lenet = LeNet()
    with torch.no_grad():
        for p in lenet.parameters():
            p.copy_(torch.round(p * 256) / 256)
    sd = lenet.half().state_dict()
    save_torch(sd, 'lenet_f16.pt')
    repack_deflate('lenet_f16.pt')
    expected['lenet_f16.pt'] = {'format': 'zip', 'container': None, 'strippedPrefix': None, 'tensors': describe_all(sd)}

    # legacy format ------------------------------------------------------------------------------
    tiny = tiny_model()
    sd = tiny.state_dict()
    save_torch(sd, 'tiny_legacy.pt', _use_new_zipfile_serialization=False)
    expected['tiny_legacy.pt'] = {'format': 'legacy', 'container': None, 'strippedPrefix': None, 'tensors': describe_all(sd)}

    # a training checkpoint: DataParallel keys inside {'epoch', 'state_dict', 'optimizer', ...} ---
    tiny = tiny_model()
    dp = nn.DataParallel(tiny)
    opt = torch.optim.SGD(dp.parameters(), lr=0.1, momentum=0.9)
    dp(torch.randn(2, 3, 4, 4)).sum().backward()
    opt.step()
    sd = dp.state_dict()
    assert all(k.startswith('module.') for k in sd)
    buf = io.BytesIO()
    torch.save({'epoch': 3, 'arch': 'tiny', 'best_acc1': 91.25, 'state_dict': sd, 'optimizer': opt.state_dict()},
               buf, pickle_protocol=5)
    with open(path('wrapped_module.pt'), 'wb') as f:
        f.write(buf.getvalue())
    expected['wrapped_module.pt'] = {
        'format': 'zip', 'container': 'state_dict', 'strippedPrefix': 'module.',
        'tensors': {k[len('module.'):]: v for k, v in describe_all(sd).items()},
    }

    # views and dtypes -----------------------------------------------------------------------------
    torch.manual_seed(2)
    grid = torch.arange(24, dtype=torch.float32).reshape(4, 6) / 4
    shared = torch.arange(10, dtype=torch.float64) * 1.5
    half = torch.tensor([1.0, -2.5, 65504.0, 6.0e-8, -0.0, float('inf'), 0.333], dtype=torch.float16)
    tensors = collections.OrderedDict([
        ('transposed', torch.arange(12, dtype=torch.float32).reshape(3, 4).t()),
        ('sliced', grid[1:, ::2]),
        ('expanded', torch.tensor([1.0, 2.0, 3.0]).expand(2, 3)),
        ('shared_base', shared),
        ('shared_view', shared[3:7]),
        ('half', half),
        ('half_matrix_t', (torch.randn(3, 5) * 4).half().t()),
        ('bf16', torch.tensor([1.0, -2.5, 3.140625, 1e-3, 3.0e38], dtype=torch.bfloat16)),
        ('double', torch.randn(2, 3, dtype=torch.float64)),
        ('long', torch.tensor([0, -5, 2 ** 62 + 1, -(2 ** 63), 2 ** 53 + 1], dtype=torch.int64)),
        ('int', torch.tensor([[1, -2], [2 ** 31 - 1, -(2 ** 31)]], dtype=torch.int32)),
        ('byte', torch.tensor([0, 7, 255], dtype=torch.uint8)),
        ('bool', torch.tensor([True, False, True, True])),
        ('scalar', torch.tensor(7)),
        ('empty', torch.zeros(0, 3)),
    ])
    assert not tensors['transposed'].is_contiguous() and not tensors['sliced'].is_contiguous()
    assert tensors['shared_view'].storage_offset() == 3 and tensors['expanded'].stride() == (0, 1)
    save_torch(tensors, 'dtypes.pt', pickle_protocol=4)
    expected['dtypes.pt'] = {'format': 'zip', 'container': None, 'strippedPrefix': None, 'tensors': describe_all(tensors)}

    # hostile --------------------------------------------------------------------------------------
    weight = torch.ones(2, 2)
    touch = f'touch {PWNED}'
    save_torch({'fc.weight': weight, 'payload': Evil(os.system, touch)}, 'hostile_posix_system.pt')
    save_torch({'fc.weight': weight, 'payload': Evil(os.system, touch)}, 'hostile_os_system.pt')
    patch_zip_pickle('hostile_os_system.pt', b'cposix\nsystem\n', b'cos\nsystem\n')
    with open(path('hostile_eval.pkl'), 'wb') as f:
        f.write(pickle.dumps({'fc.weight': [1.0], 'payload': Evil(eval, f"__import__('os').system('{touch}')")}, protocol=4))
    import subprocess
    # protocol 4: protocol 2 would rename subprocess.Popen to Python 2's commands.Popen
    save_torch({'fc.weight': weight, 'payload': Evil(subprocess.Popen, ['touch', PWNED])}, 'hostile_popen.pt',
               _use_new_zipfile_serialization=False, pickle_protocol=4)
    expected_hostile = {
        'hostile_os_system.pt': 'os.system',
        'hostile_posix_system.pt': 'posix.system',
        'hostile_eval.pkl': 'builtins.eval',
        'hostile_popen.pt': 'subprocess.Popen',
    }
    for name, glob in expected_hostile.items():
        module, attr = glob.split('.')
        with open(path(name), 'rb') as f:
            data = f.read()
        if data.startswith(b'PK'):
            with zipfile.ZipFile(path(name)) as z:
                data = z.read([n for n in z.namelist() if n.endswith('/data.pkl')][0])
        needle_global = f'c{module}\n{attr}\n'.encode()
        needle_stack = module.encode() in data and attr.encode() in data
        assert needle_global in data or needle_stack, (name, glob)

    # check: torch reads every benign file back to the recorded values ----------------------------
    for name, exp in expected.items():
        loaded = torch.load(path(name))
        if exp['container']:
            loaded = loaded[exp['container']]
        if exp['strippedPrefix']:
            loaded = {k[len(exp['strippedPrefix']):]: v for k, v in loaded.items()}
        got = describe_all(loaded)
        assert json.dumps(got, sort_keys=True) == json.dumps(exp['tensors'], sort_keys=True), name
    assert not os.path.exists(PWNED)

    expected['hostile'] = expected_hostile
    with open(path('expected.json'), 'w') as f:
        json.dump(expected, f, indent=1, sort_keys=False, allow_nan=False)
        f.write('\n')
    for name in sorted(os.listdir(HERE)):
        size = os.path.getsize(path(name))
        print(f'{name:28s} {size:7d} bytes')
        assert size < MAX_BYTES, f'{name} is {size} bytes, over the {MAX_BYTES}-byte budget'


if __name__ == '__main__':
    main()
