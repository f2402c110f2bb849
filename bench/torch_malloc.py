"""The memory allocator PyTorch runs with in the bench scripts (torch_bench.py, torch_train.py,
airbench_train.py), chosen with `--malloc auto|tcmalloc|jemalloc|glibc` (default auto).

PyTorch's CPU tensors come from the C library's malloc. glibc serves every block above its mmap threshold (at most 32 MiB) with
a fresh mmap and gives it back on free, so each training step touches new pages; on a VM where a
page fault is expensive that dominates the step (Zen 5 VM, 2026-12-07, cifar_resnet18 batch 128:
24 img/s with glibc against 86 with tcmalloc). PyTorch's CPU performance guide recommends tcmalloc
or jemalloc, so `auto` preloads tcmalloc when Debian's `libtcmalloc-minimal4` is installed and
says so when it is not. ONNX Runtime keeps its own arena and is not affected.

The choice has to be made before the process starts, so `reexec_with(argv)` runs first in each
script, before `import torch`: it re-executes the script once with LD_PRELOAD set.

    /usr/bin/python3 bench/torch_bench.py --model resnet18 --malloc glibc     # the C library's malloc
"""
import ctypes.util
import os
import sys

LIBRARIES = {'tcmalloc': 'tcmalloc_minimal', 'jemalloc': 'jemalloc'}
CHOICES = ('auto', 'glibc', *LIBRARIES)
HELP = ('memory allocator for PyTorch: auto (tcmalloc when libtcmalloc-minimal4 is installed, else glibc), '
        'tcmalloc, jemalloc or glibc')
_DONE = 'TESSERA_BENCH_MALLOC'


def requested(argv):
    """the --malloc value in argv (`--malloc X` or `--malloc=X`), or 'auto'"""
    for i, arg in enumerate(argv):
        if arg == '--malloc' and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith('--malloc='):
            return arg.split('=', 1)[1]
    return 'auto'


def reexec_with(argv):
    """Re-execute this script once with the requested allocator preloaded (glibc: carry on as is);
    exit with one line if it is unknown or not installed."""
    if os.environ.get(_DONE):
        return
    choice = requested(argv)
    if choice not in CHOICES:
        sys.exit(f'--malloc {choice}: unknown allocator; use one of {", ".join(CHOICES)}')
    name = 'tcmalloc' if choice == 'auto' else choice
    library = ctypes.util.find_library(LIBRARIES[name]) if name in LIBRARIES else None
    if name in LIBRARIES and library is None and choice != 'auto':
        sys.exit(f'--malloc {choice}: lib{LIBRARIES[name]} is not installed '
                 f'(apt-get install {"libtcmalloc-minimal4" if name == "tcmalloc" else "libjemalloc2"}), or use --malloc glibc')
    if library is None:  # glibc: nothing to preload, so no need to start again
        if choice == 'auto':
            print('note: libtcmalloc-minimal4 is not installed; PyTorch runs with glibc malloc, '
                  'which can make it several times slower on VMs with costly page faults', file=sys.stderr)
        os.environ[_DONE] = 'glibc'
        return
    preload = ' '.join(p for p in (library, os.environ.get('LD_PRELOAD', '')) if p)
    os.execve(sys.executable, [sys.executable, *argv], dict(os.environ, LD_PRELOAD=preload, **{_DONE: f'{name} ({library})'}))


def in_use():
    """the allocator this process runs with, for the scripts' reports: 'tcmalloc (libtcmalloc_minimal.so.4)', 'glibc'"""
    return os.environ.get(_DONE, 'glibc')


def add_argument(ap):
    """declare --malloc on a script's ArgumentParser (reexec_with has already acted on it)"""
    ap.add_argument('--malloc', choices=CHOICES, default='auto', help=HELP)
