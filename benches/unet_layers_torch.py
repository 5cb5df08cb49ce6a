#!/usr/bin/env python3
"""Per-layer times of the reference U-Net (base 32, depth 4, 256 px) in PyTorch on the
CPU, for comparison with `lungscope bench-infer --layers` (same shapes, same rows).

    python benches/unet_layers_torch.py [--batch 1] [--threads 2] [--repeat 3] [--channels-last]
"""
import argparse
import time

import torch
import torch.nn.functional as F


def median_time(fn, repeat):
    fn()
    runs = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t)
    runs.sort()
    return runs[len(runs) // 2]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--base", type=int, default=32)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--channels-last", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    widths = [a.base * 2 ** i for i in range(a.depth + 1)]
    b = a.batch
    print(f"per-layer times, torch {torch.__version__} {a.threads} threads, "
          f"{'channels_last' if a.channels_last else 'NCHW'}, batch {b} (median of {a.repeat}):")
    print("| layer | input [B, C, H, W] | ms | GFLOP/s |")
    print("|---|---|---|---|")
    total = 0.0

    def row(label, shape, flop, secs):
        nonlocal total
        total += secs * 1e3
        rate = f"{flop / secs / 1e9:.1f}" if flop else "-"
        print(f"| {label} | {list(shape)} | {secs * 1e3:.1f} | {rate} |")

    def rnd(*shape):
        return torch.randn(*shape).contiguous(memory_format=fmt)

    with torch.no_grad():
        for i, c in enumerate(widths):
            h = a.size >> i
            cin = 1 if i == 0 else widths[i - 1]
            convs = [(cin, c), (c, c)] + ([(2 * c, c)] if i < a.depth else [])
            for ci, co in convs:
                x, w = rnd(b, ci, h, h), rnd(co, ci, 3, 3)
                s = median_time(lambda: F.conv2d(x, w, padding=1), a.repeat)
                row(f"conv3x3 {ci}->{co}", x.shape, 2.0 * b * h * h * co * ci * 9, s)
            if i < a.depth:
                x = rnd(b, c, h, h)
                row("maxpool 2x2", x.shape, 0, median_time(lambda: F.max_pool2d(x, 2), a.repeat))
                ci, hi = widths[i + 1], h // 2
                x, w = rnd(b, ci, hi, hi), rnd(ci, c, 2, 2)
                s = median_time(lambda: F.conv_transpose2d(x, w, stride=2), a.repeat)
                row(f"convT2x2 {ci}->{c}", x.shape, 2.0 * b * hi * hi * ci * c * 4, s)
            x = rnd(b, c, h, h)
            sc = torch.randn(1, c, 1, 1)
            row("bn+relu", x.shape, 0, median_time(lambda: torch.relu(x * sc + sc), a.repeat))
    print(f"sum of the rows above: {total:.0f} ms")


if __name__ == "__main__":
    main()
