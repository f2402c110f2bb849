#!/usr/bin/python3
"""PyTorch side of Tessera's CIFAR-10 results table: `tessera train`'s recipe, data and split.

Run with Debian's system Python (torch 1.13 + torchvision 0.14 live there):

    /usr/bin/python3 bench/torch_train.py --model resnet18 --data /tmp/cifar/train \\
        --val-split 500 --epochs 30 --threads 2 --out runs/torch-resnet18

What matches `tessera train` (src/train/trainer.ts, subset.ts, schedule.ts, src/cli/train.ts):
  * data: an ImageFolder directory (classes = sorted subfolders, files in sorted(os.walk) order,
    .jpg/.jpeg/.png/.webp only, as src/data/imagefolder.ts lists them). A directory holding
    train/ (and test/ or val/) uses train/ for training, as Tessera's openDataset does.
  * split: --val-split N holds out the LAST N images of every class (in that sorted order) for
    validation and trains on the rest; --val DIR validates on another ImageFolder; a directory with
    train/ beside test/ or val/ validates on that; otherwise there is no validation.
  * transforms: train RandomCrop(32, padding=4) + RandomHorizontalFlip + ToTensor +
    Normalize(CIFAR10 mean/std); validation ToTensor + Normalize (src/data/types.ts constants).
  * optimizer: SGD lr 0.1, momentum 0.9, weight decay 5e-4 on every parameter, --nesterov flag.
  * schedule: cosine, lr(e) = lr * (1 + cos(pi * e / epochs)) / 2, constant within epoch e
    (CosineAnnealingLR, T_max=epochs, stepped per epoch); --warmup-epochs W multiplies it by
    (t + 1) / (W * iters) over the first W * iters global iterations t (per-iteration warmup).
    The rate is set in closed form before every step, exactly like src/train/schedule.ts.
  * loss: cross-entropy with --label-smoothing; validation loss is plain cross-entropy.
  * batches: 128, shuffled, drop_last=True for training (the last partial batch is dropped);
    validation keeps every image, batches of the same size, in order.
  * metrics: one JSON line per epoch in OUT/metrics.jsonl with Tessera's field names
    (epoch, lr, trainLoss, trainAcc, valLoss, valTop1, valTop5, imagesPerSecond, seconds, plus
    loaderImagesPerSecond and loaderWaitSeconds). lr is the rate of the epoch's first iteration;
    trainLoss is the mean of the batch losses; trainAcc the top-1 of the training forward passes;
    valTop5 counts an image when fewer than min(5, classes) logits are strictly above the true
    class's; imagesPerSecond counts training only; seconds is the whole epoch (with validation).
    The file is started afresh for every run (as a new Tessera run does).

What cannot match: random streams (initialization, shuffling, augmentation draw from torch's RNG,
not Tessera's), so runs agree statistically, not bit for bit. The models (pytorch-cifar ResNet18
and LeNet) come from bench/torch_bench.py.
"""
import argparse
import json
import math
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_malloc  # noqa: E402

if __name__ == '__main__':
    torch_malloc.reexec_with(sys.argv)  # PyTorch's allocator is fixed at process start, before torch loads

import torch
import torch.nn as nn
from torch.utils.data import DataLoader, Subset

from torch_bench import MODELS  # noqa: E402

from torchvision import datasets, transforms

# src/data/types.ts
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2023, 0.1994, 0.201)
# src/data/imagefolder.ts
IMAGE_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.webp')

ALIASES = {'cifar_resnet18': 'resnet18', 'cifar_lenet': 'lenet'}


def log(msg):
    print(msg, flush=True)


def is_image(path):
    return path.lower().endswith(IMAGE_EXTENSIONS)


def image_folder(root, transform):
    return datasets.ImageFolder(root, transform=transform, is_valid_file=is_image)


def resolve_split_dirs(data):
    """Tessera's openDataset for a directory: <dir>/train (and test/ or val/) when present."""
    train_dir = os.path.join(data, 'train')
    if os.path.isdir(train_dir):
        for name in ('test', 'val'):
            if os.path.isdir(os.path.join(data, name)):
                return train_dir, os.path.join(data, name)
        return train_dir, None
    return data, None


def hold_out_per_class(targets, num_classes, per_class, classes):
    """subset.ts holdOutPerClass: the last `per_class` indices of every class validate."""
    by_class = [[] for _ in range(num_classes)]
    for i, t in enumerate(targets):
        by_class[t].append(i)
    for c, idx in enumerate(by_class):
        if len(idx) <= per_class:
            raise SystemExit(f'class "{classes[c]}" has {len(idx)} image(s); --val-split {per_class} would leave none to train on')
    val_set = set()
    for idx in by_class:
        val_set.update(idx[len(idx) - per_class:])
    train = [i for i in range(len(targets)) if i not in val_set]
    val = [i for i in range(len(targets)) if i in val_set]
    return train, val


def make_schedule(lr, epochs, warmup_epochs):
    """schedule.ts makeSchedule('cosine'): the rate of iteration i (0-based) of epoch e (0-based)."""

    def rate(e, i, n):
        base = lr * (1 + math.cos(math.pi * e / epochs)) / 2
        t = e * n + i
        w = warmup_epochs * n
        return base * (t + 1) / w if t < w else base

    return rate


def seed_worker(worker_id):
    s = torch.initial_seed() % 2**32
    random.seed(s)
    try:
        import numpy as np

        np.random.seed(s)
    except ImportError:
        pass


@torch.no_grad()
def evaluate(model, loader, num_classes):
    """trainer.ts evaluate: mean CE, top-1, top-min(5, classes) over every image."""
    model.eval()
    k = min(5, num_classes)
    images = top1 = topk = 0
    loss_sum = 0.0
    for x, y in loader:
        logits = model(x).float()
        loss_sum += nn.functional.cross_entropy(logits, y, reduction='sum').item()
        top1 += (logits.argmax(1) == y).sum().item()
        target_logit = logits.gather(1, y[:, None])
        topk += ((logits > target_logit).sum(1) < k).sum().item()
        images += y.numel()
    return {
        'loss': loss_sum / images if images else float('nan'),
        'top1': top1 / images if images else 0.0,
        'top5': topk / images if images else 0.0,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', required=True, choices=sorted(MODELS) + sorted(ALIASES), help='resnet18 or lenet (cifar_* names accepted)')
    ap.add_argument('--data', required=True, help='an ImageFolder directory (e.g. /tmp/cifar/train)')
    ap.add_argument('--val-split', type=int, metavar='N', help='hold out the last N images of every class for validation')
    ap.add_argument('--val', metavar='DIR', help='validate on this ImageFolder')
    ap.add_argument('--epochs', type=int, default=200)
    ap.add_argument('--batch-size', type=int, default=128)
    ap.add_argument('--lr', type=float, default=0.1)
    ap.add_argument('--momentum', type=float, default=0.9)
    ap.add_argument('--nesterov', action='store_true')
    ap.add_argument('--weight-decay', type=float, default=5e-4)
    ap.add_argument('--warmup-epochs', type=float, default=0.0, help='linear warmup, per iteration (default 0)')
    ap.add_argument('--label-smoothing', type=float, default=0.0)
    ap.add_argument('--seed', type=int, default=0)
    torch_malloc.add_argument(ap)
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: TESSERA_THREADS or the CPU count)')
    ap.add_argument('--workers', type=int, default=1, help='DataLoader worker processes (default 1)')
    ap.add_argument('--out', required=True, metavar='DIR', help='run folder: metrics.jsonl, config.json')
    args = ap.parse_args()

    model_name = ALIASES.get(args.model, args.model)
    if args.epochs < 1 or args.batch_size < 1 or args.workers < 0:
        ap.error('--epochs and --batch-size must be >= 1, --workers >= 0')
    if args.val_split is not None and args.val_split < 1:
        ap.error('--val-split must be >= 1')
    if args.val_split is not None and args.val is not None:
        ap.error('give either --val-split N or --val DIR, not both')
    if not 0 <= args.warmup_epochs <= args.epochs:
        ap.error(f'--warmup-epochs must be between 0 and --epochs ({args.epochs})')
    if args.nesterov and not args.momentum > 0:
        ap.error('--nesterov needs a momentum > 0')
    threads = args.threads or int(os.environ.get('TESSERA_THREADS') or 0) or os.cpu_count() or 1

    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)

    train_tf = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD),
    ])
    eval_tf = transforms.Compose([transforms.ToTensor(), transforms.Normalize(CIFAR10_MEAN, CIFAR10_STD)])

    train_dir, test_dir = resolve_split_dirs(args.data)
    full_train = image_folder(train_dir, train_tf)
    classes = full_train.classes
    num_classes = len(classes)
    if args.val_split is not None:
        full_eval = image_folder(train_dir, eval_tf)
        train_idx, val_idx = hold_out_per_class(full_train.targets, num_classes, args.val_split, classes)
        train_set, val_set = Subset(full_train, train_idx), Subset(full_eval, val_idx)
        split = f'the last {args.val_split} images of every class of {train_dir} validate ({len(val_idx)} images); the other {len(train_idx)} train'
    else:
        val_dir = args.val or test_dir
        train_set = full_train
        val_set = image_folder(val_dir, eval_tf) if val_dir else None
        if val_set is not None and val_set.classes != classes:
            raise SystemExit(f'{val_dir}: its classes differ from {train_dir}\'s')
        split = f'{val_dir} validates ({len(val_set)} images)' if val_set is not None else 'no validation (pass --val-split N or --val DIR)'
    if len(train_set) < args.batch_size:
        raise SystemExit(f'the training set has {len(train_set)} images, fewer than one batch of {args.batch_size} (training drops partial batches)')

    g = torch.Generator()
    g.manual_seed(args.seed)
    loader_kw = dict(num_workers=args.workers, worker_init_fn=seed_worker, persistent_workers=args.workers > 0)
    train_loader = DataLoader(train_set, batch_size=args.batch_size, shuffle=True, drop_last=True, generator=g, **loader_kw)
    val_loader = DataLoader(val_set, batch_size=args.batch_size, shuffle=False, drop_last=False, **loader_kw) if val_set is not None else None

    torch.manual_seed(args.seed)
    model = MODELS[model_name](num_classes=num_classes)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum, nesterov=args.nesterov, weight_decay=args.weight_decay)
    criterion = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    schedule = make_schedule(args.lr, args.epochs, args.warmup_epochs)
    batches = len(train_loader)

    os.makedirs(args.out, exist_ok=True)
    metrics_path = os.path.join(args.out, 'metrics.jsonl')
    config = {
        'torch': torch.__version__,
        'createdAt': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'options': {**vars(args), 'model': model_name, 'threads': threads, 'malloc': torch_malloc.in_use()},
        'model': {'name': model_name, 'numClasses': num_classes, 'parameters': params},
        'dataset': {'train': train_dir, 'classes': classes},
        'split': {'trainImages': len(train_set), 'valImages': len(val_set) if val_set is not None else 0, 'description': split},
        'batchesPerEpoch': batches,
        'droppedPerEpoch': len(train_set) - batches * args.batch_size,
    }
    with open(os.path.join(args.out, 'config.json'), 'w') as f:
        json.dump(config, f, indent=2)
        f.write('\n')
    open(metrics_path, 'w').close()

    log(f'{model_name}: {params:,} parameters, {num_classes} classes, torch {torch.__version__}, {threads} thread(s), {args.workers} loader worker(s)')
    log(f'data: {len(train_set)} training images ({batches} batches of {args.batch_size} per epoch, {config["droppedPerEpoch"]} dropped); {split}')
    log(f'run folder: {args.out}')

    best_top1 = best_epoch = None
    run_start = time.perf_counter()
    for e in range(args.epochs):
        epoch = e + 1
        started = time.perf_counter()
        model.train()
        loss_sum = 0.0
        correct = images = i = 0
        waited = 0.0
        it = iter(train_loader)
        while True:
            w0 = time.perf_counter()
            try:
                x, y = next(it)
            except StopIteration:
                break
            waited += time.perf_counter() - w0
            for group in opt.param_groups:
                group['lr'] = schedule(e, i, batches)
            logits = model(x)
            loss = criterion(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            i += 1
            lv = loss.item()
            if not math.isfinite(lv):
                raise SystemExit(f'the loss is {lv} at epoch {epoch}, batch {i}/{batches}; training stopped')
            loss_sum += lv
            correct += (logits.detach().argmax(1) == y).sum().item()
            images += y.numel()
        train_seconds = time.perf_counter() - started
        val = evaluate(model, val_loader, num_classes) if val_loader is not None else None
        if val is not None and (best_top1 is None or val['top1'] > best_top1):
            best_top1, best_epoch = val['top1'], epoch
        m = {
            'epoch': epoch,
            'lr': schedule(e, 0, batches),
            'trainLoss': loss_sum / i,
            'trainAcc': correct / images,
            'valLoss': val['loss'] if val else None,
            'valTop1': val['top1'] if val else None,
            'valTop5': val['top5'] if val else None,
            'imagesPerSecond': images / train_seconds,
            'loaderImagesPerSecond': images / waited if waited > 0.001 else None,
            'loaderWaitSeconds': round(waited, 3),
            'seconds': round(time.perf_counter() - started, 3),
        }
        with open(metrics_path, 'a') as f:
            f.write(json.dumps(m) + '\n')
        print(json.dumps(m), flush=True)

    total = time.perf_counter() - run_start
    summary = {'model': model_name, 'epochs': args.epochs, 'bestTop1': best_top1, 'bestEpoch': best_epoch, 'totalSeconds': round(total, 3)}
    if best_top1 is not None:
        log(f'done: best val top-1 {100 * best_top1:.2f}% at epoch {best_epoch}; {args.epochs} epoch(s) in {total:.1f} s; metrics in {metrics_path}')
    else:
        log(f'done: {args.epochs} epoch(s) in {total:.1f} s (no validation); metrics in {metrics_path}')
    log(json.dumps(summary))


if __name__ == '__main__':
    main()
