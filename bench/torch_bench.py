#!/usr/bin/python3
"""PyTorch's side of `npm run bench`: the same measurements as bench/tensile_bench.ts, one JSON object
per line on stdout. The models, data reading and timing are those of
/work/shared/reference/torch_fmnist.py (BASELINE.md), cut down to what the side-by-side table needs.
It is not the reference itself: it times a fixed number of steps, not whole epochs.

bench/run.ts starts it once per measurement with Debian's interpreter and the "tuned" environment:
    LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp \
    MALLOC_TRIM_THRESHOLD_=2000000000 MALLOC_MMAP_THRESHOLD_=2000000000 \
    /usr/bin/python3 bench/torch_bench.py gemm|layers|overhead|train --threads N [...]
    (train --model resnet20|resnet18 [--precision fp32|bf16] [--samples 1024]: random CIFAR-size data)
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


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)): bench/resnet.ts's BasicBlock."""

    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or in_planes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class CifarResNet(nn.Module):
    """bench/resnet.ts's CifarResNet: 3x3 stride-1 stem (no max pool), `blocks` BasicBlocks per width,
    AdaptiveAvgPool2d(1), Linear; every module with PyTorch's default init."""

    def __init__(self, widths, blocks, num_classes=10):
        super().__init__()
        self.conv1 = nn.Conv2d(3, widths[0], 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        stages, in_planes = [], widths[0]
        for i, w in enumerate(widths):
            for b in range(blocks):
                stages.append(BasicBlock(in_planes, w, 2 if b == 0 and i > 0 else 1))
                in_planes = w
        self.layers = nn.Sequential(*stages)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(in_planes, num_classes)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = self.avgpool(self.layers(x))
        return self.fc(torch.flatten(x, 1))


# name: (widths, blocks per stage, batch); 272,474 and 11,173,962 parameters
RESNETS = {'resnet20': ([16, 32, 64], 3, 128), 'resnet18': ([64, 128, 256, 512], 2, 32)}


def make(model_name, device=None):
    # The model moves before its optimizer is made, as PyTorch asks.
    # 'lesson' is tensile's name for the classic net written as a Module subclass: SeedNet is one
    if model_name in RESNETS:
        widths, blocks, bs = RESNETS[model_name]
        m = CifarResNet(widths, blocks).to(device)
        return m, torch.optim.SGD(m.parameters(), lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4), bs
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
    starts after `warmup` steps. The ResNets (issue #15) train on `samples` random CIFAR-size images
    (randn, 3x32x32) with random labels of 10 classes, seed 0; --precision bf16 runs the forward
    under torch.autocast('cpu', dtype=torch.bfloat16), the loss in fp32 outside it."""
    torch.manual_seed(0)
    resnet = a.model in RESNETS
    if resnet:
        xtr, ytr = torch.randn(a.samples, 3, 32, 32), torch.randint(0, 10, (a.samples,))
    else:
        if a.data is None:
            raise SystemExit(f'train --model {a.model} needs --data DIR')
        xtr, ytr = load_train(a.data)
    if a.precision == 'bf16' and (not resnet or a.device != 'cpu'):
        raise SystemExit('--precision bf16 is for the ResNets on the CPU')
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
    step_s, losses = [], []
    for s in range(a.warmup + a.steps):
        ts = time.perf_counter()
        if s == a.warmup:
            t0 = ts
            loss_sum = 0.0
        if pos + bs > n:  # a new epoch: reshuffle
            idx, pos = torch.randperm(n, generator=gen), 0
        j = idx[pos:pos + bs].to(dev)
        pos += bs
        xb, yb = xtr[j], ytr[j]
        opt.zero_grad(set_to_none=True)
        if a.precision == 'bf16':
            with torch.autocast('cpu', dtype=torch.bfloat16):
                out = model(xb)
            loss = lossf(out.float(), yb)
        else:
            loss = lossf(model(xb), yb)
        loss.backward()
        opt.step()
        l = loss.item()
        loss_sum += l
        losses.append(l)
        step_s.append(time.perf_counter() - ts)
    dt = time.perf_counter() - t0
    rec = {'bench': 'train', 'model': a.model, 'device': a.device, 'batch': bs, 'warmup': a.warmup, 'steps': a.steps,
           'ms_per_step': round(dt * 1e3 / a.steps, 4), 'samples_per_s': round(a.steps * bs / dt, 1),
           'mean_loss': round(loss_sum / a.steps, 4), 'peak_rss_mb': peak_rss_mb()}
    if resnet:
        timed = sorted(step_s[a.warmup:])
        rec.update({'precision': a.precision, 'samples': a.samples, 'params': sum(p.numel() for p in model.parameters()),
                    'step_ms_min': round(timed[0] * 1e3, 2), 'step_ms_median': round(timed[len(timed) // 2] * 1e3, 2),
                    'losses': [round(v, 4) for v in losses]})
    emit(rec)


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
            s.add_argument('--model', choices=['classic', 'lesson', 'standard', *RESNETS], required=True)
            s.add_argument('--device', default='cpu', help='cpu or cuda')
            s.add_argument('--warmup', type=int, default=50)
            s.add_argument('--steps', type=int, default=300)
            s.add_argument('--data', help='folder with train-{images,labels}-idx*-ubyte (not for the ResNets)')
            s.add_argument('--samples', type=int, default=1024, help='ResNets: random CIFAR-size training images')
            s.add_argument('--precision', choices=['fp32', 'bf16'], default='fp32', help='ResNets: bf16 = autocast forward')
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
