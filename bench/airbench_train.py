#!/usr/bin/python3
"""PyTorch side of Tessera's airbench comparison: airbench94's (or airbench96's) recipe on a CPU in
float32, written from the published legacy/airbench94.py and airbench96.py (Keller Jordan,
cifar10-airbench), not copied from them. The net is bench/airbench_torch.py's.

Run with Debian's system Python (torch 1.13 lives there), on the JPEG ImageFolder that
`tessera train` reads (bench/README.md, "Data"):

    /usr/bin/python3 bench/airbench_train.py --data /tmp/cifar/train --val-split 500 \\
        --threads 2 --out runs/torch-airbench94

The recipe (RECIPES below; airbench94's values, airbench96's where they differ):
  * data: every image decoded once into memory (uint8), normalized with airbench's CIFAR-10
    mean/std (0.4914, 0.4822, 0.4465) / (0.2470, 0.2435, 0.2616); --val-split N holds out the
    last N images of every class (bench/torch_train.py's split, Tessera's src/train/subset.ts).
  * whitening: the first conv's weights from the 2x2 patch covariance of 5,000 training images,
    eps 5e-4. airbench takes the first 5,000 of CIFAR-10's shuffled file; an ImageFolder is sorted
    by class, so both sides take every n/5000-th image instead (src/models/cifar/whitening.ts
    whiteningIndices). Its bias trains in the first 3 epochs only (requires_grad off after).
  * augmentation: each image mirrored or not once at random before training, the whole set
    mirrored on odd epochs; reflect-pad 2 (96: 4) and a random crop back to 32x32 every epoch;
    96 adds a 12-pixel cutout (zeros after normalization).
  * batches of 1024, shuffled, the last partial batch dropped; ceil(batches per epoch * 9.9)
    steps in all (fractional epochs: the last epoch stops there).
  * optimizer: Nesterov SGD, momentum 0.85; lr 11.5 and weight decay 0.0153 per 1024 examples
    (decoupled: lr / (1024 (1 + 1/(1 - momentum))), decay * batch over the same scale); BatchNorm
    biases at 64x the rate with the same absolute decay (weight_decay = decay / lr per group).
  * schedule per step: linear from 0.2 to 1 over the first 23% (96: 10%), then linear down to
    0.07 (96: 0) at the last step.
  * loss: cross-entropy with label smoothing 0.2, summed over the batch.
  * lookahead: every 5 steps the averaged state (every float state-dict tensor, BatchNorm
    statistics included) moves to the weights with decay 0.95^5 (step/total)^3 and the weights
    restart from it; after the last step the weights become the average. The average starts
    after the whitening initialisation (airbench starts it just before; that differs by a
    factor 1e-6 in the whitening weights).
  * evaluation: the validation images without TTA, then with airbench's TTA level 2 (mirror and
    one-pixel reflect shifts, logits weighted 1/4, 1/4 and four 1/8: src/train/airbench-tta.ts).
  * BatchNorm eps: --eps (default 1e-5, Tessera's; airbench's 1e-12 gave NaN in float32 on a CPU).

Writes OUT/metrics.jsonl (one line per epoch) and OUT/summary.json: accuracies, step count and
seconds (load: decoding; run: whitening + training + final evaluation, the wall time compared).
"""
import argparse
import json
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_malloc  # noqa: E402

if __name__ == '__main__':
    torch_malloc.reexec_with(sys.argv)  # PyTorch's allocator is fixed at process start, before torch loads

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from airbench_torch import EPS, make_net  # noqa: E402
from torch_train import hold_out_per_class, image_folder, log, resolve_split_dirs  # noqa: E402

AIRBENCH_MEAN = (0.4914, 0.4822, 0.4465)
AIRBENCH_STD = (0.2470, 0.2435, 0.2616)
WHITEN_IMAGES = 5000
WHITEN_EPS = 5e-4
LOOKAHEAD_EVERY = 5
EVAL_BATCH = 2000

BASE = dict(epochs=9.9, batch_size=1024, lr=11.5, momentum=0.85, weight_decay=0.0153, bias_scaler=64.0,
            label_smoothing=0.2, whiten_bias_epochs=3, translate=2, cutout=0, warmup=0.23, end_factor=0.07, tta_level=2)
RECIPES = {
    'airbench94': BASE,
    'airbench96': dict(BASE, epochs=37.0, lr=9.0, weight_decay=0.012, translate=4, cutout=12, warmup=0.1, end_factor=0.0),
}


# ---- data ---------------------------------------------------------------------------------------

def load_images(samples):
    """uint8 [N, 3, 32, 32] and int64 labels from ImageFolder samples"""
    images = torch.empty((len(samples), 3, 32, 32), dtype=torch.uint8)
    for i, (path, _) in enumerate(samples):
        with Image.open(path) as img:
            rgb = np.asarray(img.convert('RGB'))
        if rgb.shape[:2] != (32, 32):
            raise SystemExit(f'{path}: {rgb.shape[1]}x{rgb.shape[0]} pixels; airbench trains on 32x32 images')
        images[i] = torch.from_numpy(rgb.copy()).permute(2, 0, 1)
    return images, torch.tensor([label for _, label in samples], dtype=torch.int64)


def normalize(images):
    mean = torch.tensor(AIRBENCH_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(AIRBENCH_STD).view(1, 3, 1, 1)
    return (images.float() / 255 - mean) / std


class Augmenter:
    """alternating flip, reflect-pad translation and (96) cutout, per epoch, on normalized images"""

    def __init__(self, images, translate, cutout, gen):
        self.translate, self.cutout, self.gen = translate, cutout, gen
        start_flip = torch.rand(len(images), generator=gen) < 0.5
        flipped = torch.where(start_flip.view(-1, 1, 1, 1), images.flip(-1), images)
        self.padded = F.pad(flipped, (translate,) * 4, mode='reflect') if translate else flipped

    def epoch(self, epoch):
        r, n = self.translate, len(self.padded)
        if r:
            shifts = torch.randint(-r, r + 1, (n, 2), generator=self.gen)
            out = torch.empty((n, 3, 32, 32))
            for dy in range(-r, r + 1):
                for dx in range(-r, r + 1):
                    mask = (shifts[:, 0] == dy) & (shifts[:, 1] == dx)
                    out[mask] = self.padded[mask, :, r + dy:r + dy + 32, r + dx:r + dx + 32]
        else:
            out = self.padded.clone()
        if epoch % 2 == 1:
            out = out.flip(-1)
        if self.cutout:
            out = cut_out(out, self.cutout, self.gen)
        return out


def cut_out(images, size, gen):
    """a size x size square of zeros at a uniform position inside each image"""
    n, _, h, w = images.shape
    top = torch.randint(0, h - size + 1, (n, 1, 1), generator=gen)
    left = torch.randint(0, w - size + 1, (n, 1, 1), generator=gen)
    rows = torch.arange(h).view(1, h, 1)
    cols = torch.arange(w).view(1, 1, w)
    square = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return images.masked_fill(square.unsqueeze(1), 0)


# ---- whitening ----------------------------------------------------------------------------------

def whitening_indices(n, count=WHITEN_IMAGES):
    """src/models/cifar/whitening.ts whiteningIndices: all, or every n/count-th image"""
    return list(range(n)) if n <= count else [(i * n) // count for i in range(count)]


def whitening_weights(images, eps=WHITEN_EPS):
    """eigenvectors of the 2x2 patch covariance (descending), scaled by 1/sqrt(lambda + eps), then negated"""
    c = images.shape[1]
    patches = images.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, c * 4).double()
    cov = patches.T @ patches / len(patches)
    values, vectors = torch.linalg.eigh(cov)
    values, vectors = values.flip(0), vectors.T.flip(0)
    scaled = (vectors / torch.sqrt(values + eps).view(-1, 1)).reshape(-1, c, 2, 2).float()
    return torch.cat((scaled, -scaled))


# ---- schedule and lookahead ---------------------------------------------------------------------

def lr_factor(step, total, warmup, end_factor):
    """src/train/airbench-schedule.ts airbenchLrFactor"""
    w = int(total * warmup)
    if step < w:
        return 0.2 + 0.8 * step / w
    frac = (step - w) / (total - w)
    return 1 - frac + end_factor * frac


class Lookahead:
    def __init__(self, net):
        self.average = {k: v.clone() for k, v in net.state_dict().items() if v.is_floating_point()}

    def update(self, net, decay):
        state = net.state_dict()
        with torch.no_grad():
            for k, avg in self.average.items():
                avg.lerp_(state[k], 1 - decay)
                state[k].copy_(avg)


def optimizer_for(net, r):
    kilostep_scale = 1024 * (1 + 1 / (1 - r['momentum']))
    lr = r['lr'] / kilostep_scale
    decay = r['weight_decay'] * r['batch_size'] / kilostep_scale
    bias_lr = lr * r['bias_scaler']
    trainable = [(k, p) for k, p in net.named_parameters() if p.requires_grad]
    norm = [p for k, p in trainable if 'norm' in k]
    other = [p for k, p in trainable if 'norm' not in k]
    groups = [dict(params=norm, lr=bias_lr, weight_decay=decay / bias_lr), dict(params=other, lr=lr, weight_decay=decay / lr)]
    return torch.optim.SGD(groups, momentum=r['momentum'], nesterov=True)


# ---- evaluation ---------------------------------------------------------------------------------

def tta_logits(net, x, level):
    """src/train/airbench-tta.ts: level 0, 1 (mirror) or 2 (mirror + one-pixel reflect shifts)"""
    def mirror(v):
        return 0.5 * net(v) + 0.5 * net(v.flip(-1))
    if level == 0:
        return net(x)
    if level == 1:
        return mirror(x)
    padded = F.pad(x, (1,) * 4, mode='reflect')
    shifted = 0.5 * mirror(padded[:, :, 0:32, 0:32]) + 0.5 * mirror(padded[:, :, 2:34, 2:34])
    return 0.5 * mirror(x) + 0.5 * shifted


def accuracy(net, images, labels, level):
    net.eval()
    with torch.no_grad():
        logits = torch.cat([tta_logits(net, x, level) for x in images.split(EVAL_BATCH)])
    return float((logits.argmax(1) == labels).float().mean())


# ---- training -----------------------------------------------------------------------------------

def train(net, images, labels, r, total_steps, gen, on_epoch):
    batch = r['batch_size']
    optimizer = optimizer_for(net, r)
    base_lrs = [g['lr'] for g in optimizer.param_groups]
    lookahead = Lookahead(net)
    augmenter = Augmenter(images, r['translate'], r['cutout'], gen)
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=r['label_smoothing'], reduction='none')
    whiten_bias = net[0].bias
    step = 0
    for epoch in range(math.ceil(r['epochs'])):
        started = time.perf_counter()
        whiten_bias.requires_grad = epoch < r['whiten_bias_epochs']
        net.train()
        epoch_images = augmenter.epoch(epoch)
        order = torch.randperm(len(epoch_images), generator=gen)
        for b in range(len(order) // batch):
            idx = order[b * batch:(b + 1) * batch]
            factor = lr_factor(step, total_steps, r['warmup'], r['end_factor'])
            for g, base in zip(optimizer.param_groups, base_lrs):
                g['lr'] = base * factor
            outputs = net(epoch_images[idx])
            loss = loss_fn(outputs, labels[idx]).sum()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
            if step % LOOKAHEAD_EVERY == 0:
                lookahead.update(net, 0.95 ** 5 * (step / total_steps) ** 3)
            if step >= total_steps:
                lookahead.update(net, 1.0)
                break
        train_acc = float((outputs.detach().argmax(1) == labels[idx]).float().mean())
        on_epoch(dict(epoch=epoch + 1, lr=base_lrs[1] * factor, trainLoss=float(loss) / len(idx), trainAcc=train_acc, steps=step,
                      seconds=time.perf_counter() - started))
        if step >= total_steps:
            break


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--recipe', choices=sorted(RECIPES), default='airbench94')
    ap.add_argument('--data', required=True, help='an ImageFolder directory (e.g. /tmp/cifar/train)')
    ap.add_argument('--val-split', type=int, metavar='N', help='hold out the last N images of every class for validation')
    ap.add_argument('--epochs', type=float, help="override the recipe's epochs (fractional allowed)")
    ap.add_argument('--eps', type=float, default=EPS, help=f'BatchNorm eps (default {EPS}; airbench: 1e-12)')
    ap.add_argument('--eval-every-epoch', action='store_true', help='validate after every epoch (outside the timed run)')
    ap.add_argument('--seed', type=int, default=0)
    torch_malloc.add_argument(ap)
    ap.add_argument('--threads', type=int, default=None, help='torch.set_num_threads (default: TESSERA_THREADS or the CPU count)')
    ap.add_argument('--out', required=True, metavar='DIR', help='run folder: metrics.jsonl, summary.json')
    args = ap.parse_args()
    r = dict(RECIPES[args.recipe], **({'epochs': args.epochs} if args.epochs is not None else {}))
    if not r['epochs'] > 0 or not args.eps > 0:
        ap.error('--epochs and --eps must be > 0')
    threads = args.threads or int(os.environ.get('TESSERA_THREADS') or 0) or os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    started = time.perf_counter()
    train_dir, _ = resolve_split_dirs(args.data)
    folder = image_folder(train_dir, None)
    if args.val_split is not None:
        train_idx, val_idx = hold_out_per_class(folder.targets, len(folder.classes), args.val_split, folder.classes)
    else:
        train_idx, val_idx = list(range(len(folder.samples))), []
    train_u8, train_labels = load_images([folder.samples[i] for i in train_idx])
    val_u8, val_labels = load_images([folder.samples[i] for i in val_idx])
    train_images, val_images = normalize(train_u8), normalize(val_u8)
    total_steps = math.ceil(len(train_images) // r['batch_size'] * r['epochs'])
    if total_steps < 1:
        raise SystemExit(f'{len(train_images)} training images make no batch of {r["batch_size"]}')
    load_seconds = time.perf_counter() - started
    log(f'{args.recipe}: {len(train_images)} training images, {len(val_images)} validation, {total_steps} steps, {threads} threads, eps {args.eps}')

    os.makedirs(args.out, exist_ok=True)
    metrics = open(os.path.join(args.out, 'metrics.jsonl'), 'w')
    eval_seconds = 0.0

    def on_epoch(row):
        nonlocal eval_seconds
        if args.eval_every_epoch and len(val_images):
            t = time.perf_counter()
            row['valTop1'] = accuracy(net, val_images, val_labels, 0)
            eval_seconds += time.perf_counter() - t
        metrics.write(json.dumps(row) + '\n')
        metrics.flush()
        log(json.dumps(row))

    run_started = time.perf_counter()
    net = make_net(args.recipe, num_classes=len(folder.classes), eps=args.eps)
    picked = whitening_indices(len(train_images))
    if len(picked) < WHITEN_IMAGES:
        log(f'whitening: {len(picked)} images, fewer than the {WHITEN_IMAGES} the estimate asks for; using all {len(picked)}')
    with torch.no_grad():
        net[0].weight.copy_(whitening_weights(train_images[picked]))
    whiten_seconds = time.perf_counter() - run_started
    train(net, train_images, train_labels, r, total_steps, gen, on_epoch)
    train_seconds = time.perf_counter() - run_started - whiten_seconds - eval_seconds
    final_started = time.perf_counter()
    top1 = accuracy(net, val_images, val_labels, 0) if len(val_images) else None
    top1_tta = accuracy(net, val_images, val_labels, r['tta_level']) if len(val_images) else None
    final_seconds = time.perf_counter() - final_started
    summary = dict(recipe=args.recipe, eps=args.eps, threads=threads, malloc=torch_malloc.in_use(), seed=args.seed, trainImages=len(train_images), valImages=len(val_images),
                   steps=total_steps, valTop1=top1, valTop1Tta=top1_tta, imagesPerSecond=total_steps * r['batch_size'] / train_seconds,
                   seconds=dict(load=load_seconds, whitening=whiten_seconds, train=train_seconds, evaluation=final_seconds,
                                run=whiten_seconds + train_seconds + final_seconds))
    with open(os.path.join(args.out, 'summary.json'), 'w') as f:
        json.dump(summary, f, indent=1)
    log(json.dumps(summary))


if __name__ == '__main__':
    main()
