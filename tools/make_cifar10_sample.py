#!/usr/bin/env python3
"""Writes examples/cifar10-sample/ and examples/images/ from the CIFAR-10 training JPEGs.

Usage: python3 tools/make_cifar10_sample.py [../shared/data/cifar10-jpeg/train.tar.gz]

The selection is fixed (no randomness), so rerunning it rewrites the same bytes:
  train/<class>/  the first TRAIN_PER_CLASS images of every class (0000.jpg, 0001.jpg, ...)
  test/<class>/   TEST_PER_CLASS images of every class from its last 500 (the slice
                  `tessera train --val-split 500` holds out), evenly spaced; disjoint from train/
  images/         three more images from those last 500, in none of the samples
The files are copied byte for byte from the archive (no re-encoding).
"""
import os
import sys
import tarfile

TRAIN_PER_CLASS = 300
TEST_PER_CLASS = 100
PER_CLASS = 5000
HELD_OUT = 500  # the last 500 of every class
# (class, index) of the three images to classify, typical views picked by eye from the held-out
# slice, not in test/
BUNDLED = [('cat', 4901), ('horse', 4906), ('ship', 4901)]

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'examples')


def test_indices():
    step = HELD_OUT // TEST_PER_CLASS
    return [PER_CLASS - HELD_OUT + i * step for i in range(TEST_PER_CLASS)]


def main(archive):
    wanted = {}
    bundled = {(c, i) for c, i in BUNDLED}
    with tarfile.open(archive, 'r:gz') as tar:
        members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith('.jpg')]
        classes = sorted({m.name.split('/')[1] for m in members})
        tests = set(test_indices())
        assert not bundled & {(c, i) for c in classes for i in tests}, 'a bundled image is in test/'
        for m in members:
            _, cls, name = m.name.split('/')
            index = int(name[:-4])
            if index < TRAIN_PER_CLASS:
                wanted[m.name] = os.path.join(ROOT, 'cifar10-sample', 'train', cls, name)
            elif index in tests:
                wanted[m.name] = os.path.join(ROOT, 'cifar10-sample', 'test', cls, name)
            elif (cls, index) in bundled:
                wanted[m.name] = os.path.join(ROOT, 'images', f'{cls}.jpg')
        for m in members:
            if m.name not in wanted:
                continue
            out = wanted[m.name]
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with tar.extractfile(m) as src, open(out, 'wb') as dst:
                dst.write(src.read())
    print(f'{len(wanted)} files under {os.path.normpath(ROOT)}')


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'shared', 'data', 'cifar10-jpeg', 'train.tar.gz'))
