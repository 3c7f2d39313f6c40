#!/usr/bin/python3
"""PyTorch reference timings for CEN (CPU), the baseline the Go benchmarks are compared against.

  /usr/bin/python3 scripts/torch_bench.py train --arch refinenet-r101 --height 480 --width 640 --batch 2 --threads 2
  /usr/bin/python3 scripts/torch_bench.py infer --arch lite-r18 --height 480 --width 640 --threads 2
  /usr/bin/python3 scripts/torch_bench.py export-onnx --arch refinenet-r50 --height 240 --width 320 --out r50.onnx

train: full-width model, random weights, BN frozen (eval) but dropout active, the official two SGD optimisers
(encoder = stem + layer1-4 at lr 5e-4, decoder + alpha at 3e-3; momentum 0.9, weight decay 1e-5), the official
loss on random labels; times forward + backward + both steps per iteration.
infer: eval mode, no_grad, batch 1 per modality; times the forward that returns the ensemble logits.
export-onnx: writes the same eval-mode network with torch.onnx.export (--out FILE), for `cen bench onnx`.
Prints one JSON line.
"""
import argparse
import json
import os
import resource
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cen_torch as cen  # noqa: E402


def build(args):
    model = cen.CEN(args.arch, num_classes=args.classes, num_parallel=args.modalities, width=1.0)
    cen.init_random(model, torch.Generator().manual_seed(0))
    return model


def peak_rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def percentile(xs, q):
    s = sorted(xs)
    i = min(len(s) - 1, max(0, int(round(q / 100.0 * (len(s) - 1)))))
    return s[i]


def train(args):
    model = build(args)
    model.train()
    for m in model.modules():  # frozen BN, as the official recipe (FREEZE_BN); dropout stays in train mode
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()
    enc, dec = cen.param_groups(model)
    opt_enc = torch.optim.SGD(enc, lr=5e-4, momentum=0.9, weight_decay=1e-5)
    opt_dec = torch.optim.SGD(dec, lr=3e-3, momentum=0.9, weight_decay=1e-5)
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(args.batch, 3, args.height, args.width, generator=g) for _ in range(args.modalities)]
    labels = torch.randint(0, args.classes, (args.batch, args.height, args.width), generator=g)
    labels[torch.rand(args.batch, args.height, args.width, generator=g) < 0.1] = cen.IGNORE_INDEX
    times = []
    for it in range(args.warmup + args.iters):
        t0 = time.perf_counter()
        outputs = model(xs)
        loss, _, _ = cen.cen_loss(model, outputs, labels)
        opt_enc.zero_grad(set_to_none=True)
        opt_dec.zero_grad(set_to_none=True)
        loss.backward()
        opt_enc.step()
        opt_dec.step()
        dt = (time.perf_counter() - t0) * 1e3
        if it >= args.warmup:
            times.append(dt)
    return {'mode': 'train', 'arch': args.arch, 'height': args.height, 'width': args.width, 'batch': args.batch,
            'threads': args.threads, 'modalities': args.modalities, 'classes': args.classes, 'iters': args.iters,
            'ms_per_step_median': round(statistics.median(times), 3),
            'ms_per_step_mean': round(statistics.mean(times), 3),
            'loss_last': round(loss.item(), 6), 'peak_rss_mb': round(peak_rss_mb(), 1), 'torch': torch.__version__}


def infer(args):
    model = build(args)
    model.eval()
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(1, 3, args.height, args.width, generator=g) for _ in range(args.modalities)]
    times = []
    with torch.no_grad():
        for it in range(args.warmup + args.iters):
            t0 = time.perf_counter()
            ens = model(xs)[-1]
            dt = (time.perf_counter() - t0) * 1e3
            if it >= args.warmup:
                times.append(dt)
    return {'mode': 'infer', 'arch': args.arch, 'height': args.height, 'width': args.width, 'batch': 1,
            'threads': args.threads, 'modalities': args.modalities, 'classes': args.classes, 'iters': args.iters,
            'ens_shape': list(ens.shape),
            'ms_p50': round(percentile(times, 50), 3), 'ms_p95': round(percentile(times, 95), 3),
            'ms_mean': round(statistics.mean(times), 3),
            'peak_rss_mb': round(peak_rss_mb(), 1), 'torch': torch.__version__}


class Ensemble(torch.nn.Module):
    """The network as a user exports it: one image tensor per modality in, the ensemble logits out."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, *xs):
        return self.model(list(xs))[-1]


def export_onnx(args):
    """torch.onnx.export of the re-statement (eval mode, opset 17, constants folded so batch norms fold into the
    convolutions), the strongest thing a user could deploy instead of cen's own export."""
    model = build(args)
    model.eval()
    g = torch.Generator().manual_seed(1)
    xs = tuple(torch.randn(1, 3, args.height, args.width, generator=g) for _ in range(args.modalities))
    names = ['rgb', 'depth', 'mod2', 'mod3'][:args.modalities]
    with torch.no_grad():
        torch.onnx.export(Ensemble(model), xs, args.out, opset_version=17, do_constant_folding=True,
                          input_names=names, output_names=['logits'])
    return {'mode': 'export-onnx', 'arch': args.arch, 'height': args.height, 'width': args.width,
            'modalities': args.modalities, 'classes': args.classes, 'out': args.out, 'torch': torch.__version__}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('mode', choices=['train', 'infer', 'export-onnx'])
    p.add_argument('--arch', default='refinenet-r101', choices=sorted(cen.ARCHS))
    p.add_argument('--height', type=int, required=True)
    p.add_argument('--width', type=int, required=True)
    p.add_argument('--batch', type=int, default=1, help='train only (infer is batch 1 per modality)')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--modalities', type=int, default=2)
    p.add_argument('--classes', type=int, default=40)
    p.add_argument('--iters', type=int, default=5)
    p.add_argument('--warmup', type=int, default=1)
    p.add_argument('--out', help='export-onnx: the ONNX file to write')
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    res = {'train': train, 'infer': infer, 'export-onnx': export_onnx}[args.mode](args)
    print(json.dumps(res))


if __name__ == '__main__':
    main()
