#!/usr/bin/python3
"""Writes test/data/augment_ops_extra.safetensors: torchvision 0.14's functional ops on uint8 CHW
tensors for the calls ../shared/fixtures/augment_ops.safetensors does not cover.

Run from the project root: /usr/bin/python3 tools/make_augment_fixture.py
Needs torch 1.13, torchvision 0.14 and numpy (Debian python3-torch, python3-torchvision).

Images: `image.0` = the shared fixture's image.0 (a 32x32 CIFAR-10 JPEG), `image.1` = a 24x30 crop
of its synthetic image.4, `image.2` = a 13x17 synthetic image whose blue channel is constant
(exercises equalize's and autocontrast's degenerate channels). Outputs: `<key>.<i>`. The metadata
key `calls` maps each key to its call in Python syntax (the image is the implicit first argument;
`tessera augment --op` takes the same text); `color_jitter` is ColorJitter's application with
fixed parameters (its `order` is ColorJitter.get_params's fn_idx).
"""
import ast
import json
import struct

import numpy as np
import torch
import torchvision
import torchvision.transforms.functional as F
from torchvision.transforms import InterpolationMode

SHARED = '../shared/fixtures/augment_ops.safetensors'
OUT = 'test/data/augment_ops_extra.safetensors'

CALLS = {
    'pad_edge': "pad(padding=[3, 2, 1, 4], padding_mode='edge')",
    'pad_symmetric': "pad(padding=[4, 2], padding_mode='symmetric')",
    'pad_reflect_ltrb': "pad(padding=[5, 1, 2, 3], padding_mode='reflect')",
    'pad_fill': 'pad(padding=3, fill=77)',
    'resize_bicubic_down': "resize(size=[20, 11], interpolation='bicubic')",
    'resize_bicubic_up': "resize(size=[45, 37], interpolation=InterpolationMode.BICUBIC)",
    'resize_bicubic_aa': "resize(size=[20, 11], interpolation='bicubic', antialias=True)",
    'resize_bilinear_aa': "resize(size=[20, 11], interpolation='bilinear', antialias=True)",
    'resize_bilinear_aa_up': "resize(size=[45, 37], antialias=True)",
    'resize_nearest_up': "resize(size=[45, 37], interpolation='nearest')",
    'resize_short_side': 'resize(size=24)',
    'resize_max_size': 'resize(size=[10], max_size=16)',
    'rotate_bilinear': "rotate(angle=30, interpolation='bilinear')",
    'rotate_nearest_expand': "rotate(angle=-45, interpolation='nearest', expand=True)",
    'rotate_bilinear_expand_fill': "rotate(angle=20, interpolation='bilinear', expand=True, fill=[10, 200, 30])",
    'rotate_center_fill': 'rotate(angle=90, center=[5, 7], fill=128)',
    'affine_bilinear': "affine(angle=12, translate=[2, -3], scale=0.9, shear=[5.0, -8.0], interpolation='bilinear')",
    'affine_bilinear_fill_origin': "affine(angle=0.0, translate=[0, 0], scale=1.0, shear=[0.0, 20.0], interpolation='bilinear', fill=[255, 0, 0], center=[0, 0])",
    'affine_nearest_scale': 'affine(angle=-7.5, translate=[4, 1], scale=1.3, shear=10, fill=50)',
    'affine_translate_origin': 'affine(angle=0.0, translate=[-5, 0], scale=1.0, shear=[0.0, 0.0], fill=[128, 128, 128], center=[0, 0])',
    'erase_rgb': 'erase(i=3, j=2, h=5, w=7, v=[10, 20, 30])',
    'posterize_0': 'posterize(bits=0)',
    'posterize_8': 'posterize(bits=8)',
    'solarize_float': 'solarize(threshold=200.5)',
    'brightness_dark': 'adjust_brightness(brightness_factor=0.5)',
    'contrast_high': 'adjust_contrast(contrast_factor=1.8)',
    'saturation_low': 'adjust_saturation(saturation_factor=0.3)',
    'sharpness_blur': 'adjust_sharpness(sharpness_factor=0.2)',
    'hue_negative': 'adjust_hue(hue_factor=-0.35)',
    'hue_half': 'adjust_hue(hue_factor=0.5)',
    'equalize': 'equalize()',
    'autocontrast': 'autocontrast()',
    'color_jitter': 'color_jitter(order=[2, 0, 3, 1], brightness=1.2, contrast=0.7, saturation=1.5, hue=-0.1)',
}


def read_safetensors(path):
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    header.pop('__metadata__', None)
    out = {}
    for key, t in header.items():
        assert t['dtype'] == 'U8' or not key.startswith('image.'), key
        begin, end = t['data_offsets']
        if t['dtype'] == 'U8':
            out[key] = np.frombuffer(data[begin:end], dtype=np.uint8).reshape(t['shape'])
    return out


def write_safetensors(path, tensors, metadata):
    header, offset, blobs = {}, 0, []
    for key, arr in tensors.items():
        raw = np.ascontiguousarray(arr, dtype=np.uint8).tobytes()
        header[key] = {'dtype': 'U8', 'shape': list(arr.shape), 'data_offsets': [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    header['__metadata__'] = metadata
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-len(text) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)) + text + b''.join(blobs))


def literal(node):
    """A Python literal, or InterpolationMode.X."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == 'InterpolationMode':
        return getattr(InterpolationMode, node.attr)
    return ast.literal_eval(node)


def color_jitter(img, order, brightness, contrast, saturation, hue):
    ops = {0: lambda x: F.adjust_brightness(x, brightness), 1: lambda x: F.adjust_contrast(x, contrast),
           2: lambda x: F.adjust_saturation(x, saturation), 3: lambda x: F.adjust_hue(x, hue)}
    for i in order:
        img = ops[i](img)
    return img


def apply(call, img):
    node = ast.parse(call, mode='eval').body
    kwargs = {k.arg: literal(k.value) for k in node.keywords}
    name = node.func.id
    if name == 'color_jitter':
        return color_jitter(img, **kwargs)
    if isinstance(kwargs.get('interpolation'), str):
        kwargs['interpolation'] = InterpolationMode(kwargs['interpolation'])
    if name == 'erase':
        v = kwargs['v']
        kwargs['v'] = torch.tensor(v, dtype=torch.uint8).view(-1, 1, 1) if isinstance(v, list) else torch.tensor(v)
    if name == 'resize' and isinstance(kwargs['size'], int):
        kwargs['size'] = [kwargs['size']]
    return getattr(F, name)(img, **kwargs)


def main():
    shared = read_safetensors(SHARED)
    rng = np.random.default_rng(9)
    synthetic = rng.integers(0, 256, size=(3, 13, 17), dtype=np.uint8)
    synthetic[2] = 91
    images = [shared['image.0'], shared['image.4'][:, 10:34, 20:50], synthetic]
    tensors = {}
    for i, x in enumerate(images):
        tensors[f'image.{i}'] = np.ascontiguousarray(x)
    for key, call in CALLS.items():
        for i, x in enumerate(images):
            y = apply(call, torch.from_numpy(np.ascontiguousarray(x)))
            assert y.dtype == torch.uint8, (key, y.dtype)
            tensors[f'{key}.{i}'] = y.numpy()
    metadata = {
        'torch': torch.__version__,
        'torchvision': torchvision.__version__,
        'images': 'image.0: shared augment_ops image.0; image.1: its image.4[:, 10:34, 20:50]; image.2: synthetic 13x17, blue constant',
        'calls': json.dumps(CALLS),
    }
    write_safetensors(OUT, tensors, metadata)
    print(OUT, sum(t.nbytes for t in tensors.values()), 'bytes of tensors')


if __name__ == '__main__':
    torch.set_num_threads(1)
    main()
