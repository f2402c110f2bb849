#!/usr/bin/python3
"""PyTorch side of Tessera's airbench models (src/models/cifar/airbench.ts), written from the
published description of Keller Jordan's cifar10-airbench (legacy/airbench94.py and
legacy/airbench96.py), not copied from it.

Run with Debian's system Python (torch 1.13 lives there):

    /usr/bin/python3 bench/airbench_torch.py --count     # parameter and state-dict counts

The net, for widths (w1, w2, w3):
  0  Conv2d(3, 24, 2, padding 0, bias)       the whitening conv: frozen weight, trained bias
  1  GELU
  2  ConvGroup(24, w1)    conv1 3x3 -> MaxPool2d(2) -> norm1 -> GELU -> conv2 -> norm2 -> GELU
  3  ConvGroup(w1, w2)    (airbench96: a third conv3/norm3 and a residual over conv2..norm3,
  4  ConvGroup(w2, w3)     added before the last GELU)
  5  MaxPool2d(3)
  6  Flatten
  7  Linear(w3, classes, no bias)
  8  Mul(1/9)
Convs have no bias except the whitening one; their first in_channels filters start as the
identity (dirac), the rest keep PyTorch's default init. BatchNorm scales are frozen at 1;
airbench94's BatchNorm momentum is 0.6 in airbench's sense (running = 0.6 running + 0.4 batch,
PyTorch momentum 0.4); airbench96 keeps PyTorch's default 0.1.

The BatchNorm eps is an argument: airbench uses 1e-12, which gave NaN in float32 on a CPU;
Tessera's configs default to 1e-5 (EPS below), and both sides use the same value.
"""
import argparse

import torch
from torch import nn

EPS = 1e-5
WHITEN_KERNEL = 2
WHITEN_WIDTH = 2 * 3 * WHITEN_KERNEL ** 2

VARIANTS = {
    # widths, convs per group, BatchNorm momentum in airbench's sense (weight of the running value)
    'airbench94': dict(widths=(64, 256, 256), depth=2, momentum=0.6),
    'airbench96': dict(widths=(128, 384, 512), depth=3, momentum=0.9),
}


def identity_start(conv):
    """Zero bias; the first in_channels filters become the identity (torch.nn.init.dirac_)."""
    if conv.bias is not None:
        conv.bias.data.zero_()
    w = conv.weight.data
    torch.nn.init.dirac_(w[:w.size(1)])


def make_conv(cin, cout, kernel=3, padding=1, bias=False):
    conv = nn.Conv2d(cin, cout, kernel, padding=padding, bias=bias)
    identity_start(conv)
    return conv


def make_norm(channels, momentum, eps):
    norm = nn.BatchNorm2d(channels, eps=eps, momentum=1 - momentum)
    norm.weight.requires_grad = False
    return norm


class ConvGroup(nn.Module):
    def __init__(self, cin, cout, depth, momentum, eps):
        super().__init__()
        self.conv1 = make_conv(cin, cout)
        self.pool = nn.MaxPool2d(2)
        self.norm1 = make_norm(cout, momentum, eps)
        self.conv2 = make_conv(cout, cout)
        self.norm2 = make_norm(cout, momentum, eps)
        self.residual = depth == 3
        if self.residual:
            self.conv3 = make_conv(cout, cout)
            self.norm3 = make_norm(cout, momentum, eps)
        self.activ = nn.GELU()

    def forward(self, x):
        x = self.activ(self.norm1(self.pool(self.conv1(x))))
        if not self.residual:
            return self.activ(self.norm2(self.conv2(x)))
        y = self.activ(self.norm2(self.conv2(x)))
        return self.activ(self.norm3(self.conv3(y)) + x)


class Mul(nn.Module):
    def __init__(self, scale):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return x * self.scale


def build_net(widths, depth, momentum, num_classes=10, eps=EPS):
    """The net for any widths (test/data/fixtures/make_airbench.py builds reduced ones)."""
    w1, w2, w3 = widths
    net = nn.Sequential(
        make_conv(3, WHITEN_WIDTH, WHITEN_KERNEL, padding=0, bias=True),
        nn.GELU(),
        ConvGroup(WHITEN_WIDTH, w1, depth, momentum, eps),
        ConvGroup(w1, w2, depth, momentum, eps),
        ConvGroup(w2, w3, depth, momentum, eps),
        nn.MaxPool2d(3),
        nn.Flatten(),
        nn.Linear(w3, num_classes, bias=False),
        Mul(1 / 9),
    )
    net[0].weight.requires_grad = False
    return net


def make_net(variant='airbench94', num_classes=10, eps=EPS):
    v = VARIANTS[variant]
    return build_net(v['widths'], v['depth'], v['momentum'], num_classes, eps)


def counts(net):
    sd = net.state_dict()
    buffers = sum(b.numel() for b in net.buffers())
    return dict(params=sum(p.numel() for p in net.parameters()), state_dict_keys=len(sd), buffers=buffers)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', action='store_true', help='print each variant\'s parameter and state-dict counts')
    args = parser.parse_args()
    if args.count:
        for variant in VARIANTS:
            print(variant, counts(make_net(variant)))


if __name__ == '__main__':
    main()
