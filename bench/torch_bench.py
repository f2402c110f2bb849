#!/usr/bin/python3
"""PyTorch reference timing for `npm run bench` (bench/train_bench.ts) and `tessera bench`.

Run with Debian's system Python (torch 1.13 and torchvision 0.14 live there):

    /usr/bin/python3 bench/torch_bench.py --model resnet18 --batch 128 --threads 2 --steps 20 --warmup 3 --json
    /usr/bin/python3 bench/torch_bench.py --model tv:resnet50 --size 224 --batch 8 --threads 2 --no-train

`resnet18` and `lenet` are pytorch-cifar's, defined here (no pytorch-cifar checkout needed);
`tv:NAME` is torchvision's builder NAME (e.g. tv:resnet50, tv:swin_v2_t) with random weights.
Measures, on one fixed random batch (seed 0), float32:
  * training: model.train(), cross-entropy, forward + backward + SGD step
    (lr 0.1, momentum 0.9, Nesterov, weight decay 5e-4), images/s over `--steps` steps after `--warmup`;
  * inference: model.eval() under torch.no_grad(), images/s over the same step counts.
Progress goes to stderr; with --json stdout holds exactly one JSON object.
"""
import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_malloc  # noqa: E402

if __name__ == '__main__':
    torch_malloc.reexec_with(sys.argv)  # PyTorch's allocator is fixed at process start, before torch loads

import torch
import torch.nn as nn
import torch.nn.functional as F


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            self.shortcut = nn.Sequential(
                nn.Conv2d(in_planes, planes, kernel_size=1, stride=stride, bias=False),
                nn.BatchNorm2d(planes),
            )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, block, num_blocks, num_classes=10):
        super().__init__()
        self.in_planes = 64
        self.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.layer1 = self._make_layer(block, 64, num_blocks[0], 1)
        self.layer2 = self._make_layer(block, 128, num_blocks[1], 2)
        self.layer3 = self._make_layer(block, 256, num_blocks[2], 2)
        self.layer4 = self._make_layer(block, 512, num_blocks[3], 2)
        self.linear = nn.Linear(512 * block.expansion, num_classes)

    def _make_layer(self, block, planes, num_blocks, stride):
        layers = []
        for s in [stride] + [1] * (num_blocks - 1):
            layers.append(block(self.in_planes, planes, s))
            self.in_planes = planes * block.expansion
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer1(out)
        out = self.layer2(out)
        out = self.layer3(out)
        out = self.layer4(out)
        out = F.avg_pool2d(out, 4)
        out = out.view(out.size(0), -1)
        return self.linear(out)


def ResNet18(num_classes=10):
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


class LeNet(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, num_classes)

    def forward(self, x):
        out = F.max_pool2d(F.relu(self.conv1(x)), 2)
        out = F.max_pool2d(F.relu(self.conv2(out)), 2)
        out = out.view(out.size(0), -1)
        out = F.relu(self.fc1(out))
        out = F.relu(self.fc2(out))
        return self.fc3(out)


def Airbench94():
    # bench/airbench_torch.py's net (Tessera's cifar_airbench94): frozen whitening weight and BatchNorm scales
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from airbench_torch import make_net
    return make_net('airbench94')


MODELS = {'resnet18': ResNet18, 'lenet': LeNet, 'airbench94': Airbench94}


def blas_info():
    """BLAS as torch reports it, plus the BLAS/oneDNN libraries actually mapped into this process."""
    cfg = torch.__config__.show()
    m = re.search(r'BLAS_INFO=([^,\s]+)', cfg)
    reported = f'BLAS_INFO={m.group(1)}' if m else None
    libs = set()
    try:
        with open('/proc/self/maps') as f:
            for line in f:
                path = line.split()[-1]
                name = os.path.basename(path)
                if path.startswith('/') and any(k in name for k in ('blas', 'lapack', 'mkl', 'dnnl')):
                    libs.add(path)
    except OSError:
        pass
    mkldnn = 'oneDNN' if torch.backends.mkldnn.is_available() else 'no oneDNN'
    parts = [reported or 'BLAS_INFO=?', mkldnn]
    if libs:
        parts.append('loaded: ' + ', '.join(sorted(libs)))
    if any('openblas-pthread' in p for p in libs):
        parts.append('libopenblas0-pthread in use')
    core = os.environ.get('OPENBLAS_CORETYPE')
    parts.append('OPENBLAS_CORETYPE=' + (core if core is not None else 'unset'))
    return '; '.join(parts)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def timed(label, fn, steps, warmup, batch):
    for i in range(warmup):
        fn()
        log(f'[torch] {label} warmup {i + 1}/{warmup}')
    start = time.perf_counter()
    for i in range(steps):
        fn()
        log(f'[torch] {label} step {i + 1}/{steps}')
    elapsed = time.perf_counter() - start
    return steps * batch / elapsed, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default='resnet18', help=f'{", ".join(sorted(MODELS))} or tv:NAME (a torchvision builder)')
    ap.add_argument('--size', type=int, default=32, help='input height and width')
    ap.add_argument('--no-train', action='store_true', help='measure inference only')
    ap.add_argument('--batch', type=int, default=128)
    torch_malloc.add_argument(ap)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--steps', type=int, default=20)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--json', action='store_true', help='print one JSON object on stdout')
    args = ap.parse_args()
    if args.steps < 1 or args.batch < 1 or args.threads < 1 or args.warmup < 0:
        ap.error('--steps, --batch and --threads must be >= 1, --warmup >= 0')

    torch.set_num_threads(args.threads)
    torch.set_default_dtype(torch.float32)
    torch.manual_seed(0)

    if args.model.startswith('tv:'):
        import torchvision.models
        builder = getattr(torchvision.models, args.model[3:], None)
        if builder is None or not callable(builder):
            ap.error(f'torchvision 0.14 has no model builder {args.model[3:]}')
        model = builder(weights=None)
        classes = 1000
    elif args.model in MODELS:
        model = MODELS[args.model]()
        classes = 10
    else:
        ap.error(f'unknown --model {args.model}: {", ".join(sorted(MODELS))} or tv:NAME')
    x = torch.randn(args.batch, 3, args.size, args.size, dtype=torch.float32)
    y = torch.randint(0, classes, (args.batch,), dtype=torch.int64)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4)
    criterion = nn.CrossEntropyLoss()

    def train_step():
        opt.zero_grad(set_to_none=True)
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        return loss

    train_ips, train_s = None, None
    if not args.no_train:
        model.train()
        train_ips, train_s = timed('train', train_step, args.steps, args.warmup, args.batch)

    model.eval()

    def infer_step():
        with torch.no_grad():
            return model(x)

    infer_ips, infer_s = timed('infer', infer_step, args.steps, args.warmup, args.batch)

    result = {
        'trainImagesPerSec': train_ips,
        'inferImagesPerSec': infer_ips,
        'torch': torch.__version__,
        'threads': torch.get_num_threads(),
        'blas': blas_info(),
        'malloc': torch_malloc.in_use(),
        'model': args.model,
        'batch': args.batch,
        'size': args.size,
        'steps': args.steps,
        'warmup': args.warmup,
        'trainSeconds': train_s,
        'inferSeconds': infer_s,
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f'PyTorch {torch.__version__} {args.model} batch {args.batch} threads {result["threads"]}')
        train_text = 'not measured' if train_ips is None else f'{train_ips:.1f} img/s'
        print(f'  train {train_text}   infer {infer_ips:.1f} img/s')
        print(f'  BLAS: {result["blas"]}; malloc: {result["malloc"]}')


if __name__ == '__main__':
    main()
