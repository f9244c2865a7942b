#!/usr/bin/python3
"""PyTorch's side of `npm run bench`: the same measurements as bench/tensile_bench.ts, one JSON object
per line on stdout. The models, data reading and timing are those of
/work/shared/reference/torch_fmnist.py (BASELINE.md), cut down to what the side-by-side table needs.
It is not the reference itself: it times a fixed number of steps, not whole epochs.

bench/run.ts starts it once per measurement with Debian's interpreter and the "tuned" environment:
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
    MALLOC_TRIM_THRESHOLD_=2000000000 MALLOC_MMAP_THRESHOLD_=2000000000 \
    /usr/bin/python3 bench/torch_bench.py gemm|layers|overhead|train --threads N [...]
"""
import argparse
import json
import os
import resource
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn

MEAN, STD = 0.2860, 0.3530


def emit(obj):
    print(json.dumps(obj), flush=True)


def peak_rss_mb():
    """VmHWM of this process: the peak resident set, read at the end of a run."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return round(int(line.split()[1]) / 1024, 1)
    return None


def blas_lib():
    """Which libblas.so.3 this process mapped (OpenBLAS when the tuned environment took effect)."""
    try:
        with open('/proc/self/maps') as f:
            libs = sorted({l.split()[-1] for l in f if 'blas' in l.lower() and '/' in l})
        return [os.path.realpath(p) for p in libs]
    except OSError:
        return []


def info():
    return {'torch': torch.__version__, 'numpy': np.__version__, 'python': sys.version.split()[0],
            'threads': torch.get_num_threads(), 'mkldnn': torch.backends.mkldnn.is_available(),
            'blas_mapped': blas_lib(),
            'env': {k: v for k, v in os.environ.items() if k.startswith(('MALLOC_', 'OMP_', 'OPENBLAS_', 'LD_LIBRARY_PATH'))}}


# ---------------------------------------------------------------- data (as torch_fmnist.py)

def read_idx(path):
    with open(path, 'rb') as f:
        data = f.read()
    magic, = struct.unpack('>I', data[:4])
    ndim = magic & 0xFF
    assert (magic >> 8) & 0xFF == 0x08, f'{path}: expected ubyte IDX'
    dims = struct.unpack('>' + 'I' * ndim, data[4:4 + 4 * ndim])
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_train(data_dir):
    x = read_idx(os.path.join(data_dir, 'train-images-idx3-ubyte'))
    y = read_idx(os.path.join(data_dir, 'train-labels-idx1-ubyte'))
    x = torch.from_numpy(x.astype(np.float32)).div_(255.0).sub_(MEAN).div_(STD)
    return x.unsqueeze(1).contiguous(), torch.from_numpy(y.astype(np.int64))


# ---------------------------------------------------------------- models (as torch_fmnist.py)

class SeedNet(nn.Module):
    """The classic model (BASELINE.md calls it "seed")."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, 3)
        self.pool = nn.MaxPool2d(2, 2)
        self.conv2 = nn.Conv2d(10, 20, 3)
        self.fc1 = nn.Linear(20 * 5 * 5, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv1(x)))
        x = self.pool(torch.relu(self.conv2(x)))
        return self.fc1(torch.flatten(x, 1))


def standard_net():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.25),
        nn.Linear(128, 10),
    )


def make(model_name, device=None):
    # The model moves before its optimizer is made, as PyTorch asks.
    # 'lesson' is tensile's name for the classic net written as a Module subclass: SeedNet is one
    if model_name in ('classic', 'lesson'):
        m = SeedNet().to(device)
        return m, torch.optim.SGD(m.parameters(), lr=0.001, momentum=0.9), 20
    m = standard_net().to(device)
    return m, torch.optim.Adam(m.parameters(), lr=1e-3), 64


# ---------------------------------------------------------------- measurements

def bench(fn, min_time, min_iters=5, warmup=3):
    """Median seconds of fn() over at least min_iters calls and min_time seconds."""
    for _ in range(warmup):
        fn()
    times = []
    t_total = time.perf_counter()
    while len(times) < min_iters or time.perf_counter() - t_total < min_time:
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[len(times) // 2], len(times)


def cmd_gemm(a):
    torch.manual_seed(0)
    for n in a.sizes:
        A, B, C = torch.randn(n, n), torch.randn(n, n), torch.empty(n, n)
        med, iters = bench(lambda: torch.mm(A, B, out=C), a.min_time, min_iters=3, warmup=1)
        emit({'bench': 'gemm', 'n': n, 'ms': round(med * 1e3, 4), 'gflops': round(2.0 * n ** 3 / med / 1e9, 2), 'iters': iters})


def cmd_layers(a):
    """conv2 of the standard model (batch 64, 32->64 channels, 14x14, 3x3, pad 1) and fc1
    (3136->128, batch 64): forward without grad, and forward + backward computing the gradients of
    the input, the weight and the bias."""
    torch.manual_seed(0)
    cases = [('conv2', nn.Conv2d(32, 64, 3, padding=1), (64, 32, 14, 14)),
             ('fc1', nn.Linear(3136, 128), (64, 3136))]
    for name, layer, shape in cases:
        x = torch.randn(*shape)
        xg = x.clone().requires_grad_(True)

        def fwd():
            with torch.no_grad():
                layer(x)

        def fwdbwd():
            layer.zero_grad(set_to_none=True)
            xg.grad = None
            y = layer(xg)
            y.backward(torch.ones_like(y))

        med, iters = bench(fwd, a.min_time)
        emit({'bench': f'{name}_fwd', 'ms': round(med * 1e3, 4), 'iters': iters})
        med, iters = bench(fwdbwd, a.min_time)
        emit({'bench': f'{name}_fwdbwd', 'ms': round(med * 1e3, 4), 'iters': iters})


def cmd_overhead(a):
    """Per-op cost of a tiny element-wise op: out-of-place add of two 16-element tensors in a loop."""
    x = torch.ones(16)
    y = torch.ones(16)
    per_rep = a.ops
    results = []
    for _ in range(a.reps + 1):  # the first repetition warms up
        t = time.perf_counter()
        for _ in range(per_rep):
            torch.add(x, y)
        results.append((time.perf_counter() - t) / per_rep)
    results = sorted(results[1:])
    emit({'bench': 'overhead', 'op': 'add 16 float32', 'us': round(results[len(results) // 2] * 1e6, 3), 'ops': per_rep * a.reps})


def cmd_train(a):
    """Training throughput measured as BASELINE.md does: shuffled batches gathered from the
    normalised train set (x[idx]), forward, loss, backward, optimizer step and loss.item(); the clock
    starts after `warmup` steps."""
    torch.manual_seed(0)
    xtr, ytr = load_train(a.data)
    dev = torch.device(a.device)
    model, opt, bs = make(a.model, dev)
    xtr, ytr = xtr.to(dev), ytr.to(dev)
    lossf = nn.CrossEntropyLoss()
    n = xtr.shape[0]
    gen = torch.Generator().manual_seed(0)
    model.train()
    idx, pos = torch.randperm(n, generator=gen), 0
    loss_sum = 0.0
    t0 = None
    for s in range(a.warmup + a.steps):
        if s == a.warmup:
            t0 = time.perf_counter()
            loss_sum = 0.0
        if pos + bs > n:  # a new epoch: reshuffle (the measured span stays inside one epoch here)
            idx, pos = torch.randperm(n, generator=gen), 0
        j = idx[pos:pos + bs].to(dev)
        pos += bs
        xb, yb = xtr[j], ytr[j]
        opt.zero_grad(set_to_none=True)
        loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        loss_sum += loss.item()
    dt = time.perf_counter() - t0
    emit({'bench': 'train', 'model': a.model, 'device': a.device, 'batch': bs, 'warmup': a.warmup, 'steps': a.steps,
          'ms_per_step': round(dt * 1e3 / a.steps, 4), 'samples_per_s': round(a.steps * bs / dt, 1),
          'mean_loss': round(loss_sum / a.steps, 4), 'peak_rss_mb': peak_rss_mb()})


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='cmd', required=True)
    for name in ('gemm', 'layers', 'overhead', 'train', 'info'):
        s = sub.add_parser(name)
        s.add_argument('--threads', type=int, default=1)
        s.add_argument('--min-time', type=float, default=1.0)
        if name == 'gemm':
            s.add_argument('--sizes', type=lambda v: [int(t) for t in v.split(',')], default=[256, 512, 1024, 2048])
        if name == 'overhead':
            s.add_argument('--ops', type=int, default=100000)
            s.add_argument('--reps', type=int, default=5)
        if name == 'train':
            s.add_argument('--model', choices=['classic', 'lesson', 'standard'], required=True)
            s.add_argument('--device', default='cpu', help='cpu or cuda')
            s.add_argument('--warmup', type=int, default=50)
            s.add_argument('--steps', type=int, default=300)
            s.add_argument('--data', required=True, help='folder with train-{images,labels}-idx*-ubyte')
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.cmd == 'info':
        emit(info())
        return
    {'gemm': cmd_gemm, 'layers': cmd_layers, 'overhead': cmd_overhead, 'train': cmd_train}[a.cmd](a)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    emit({'event': 'end', 'threads': torch.get_num_threads(), 'peak_rss_mb': peak_rss_mb(),
          'cpu_s': round(ru.ru_utime + ru.ru_stime, 3)})


if __name__ == '__main__':
    main()
