#!/usr/bin/env python3
"""Training throughput of the reference PyTorch U-Net (shared/bench/unet_torch.py) for one
configuration, measured the way `lungscope bench-train` measures lungscope: fixed random
inputs, BCEWithLogits + soft Dice, Adam, one warm-up step, then the median step time.

    python scripts/bench_train_torch.py --size 256 --batch-size 4 --base 32 --steps 6 \
        [--out-channels 1] [--up transpose] [--channels-last] [--json OUT]
"""
import argparse
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
BENCH = os.environ.get("LUNGSCOPE_BENCH", os.path.join(HERE, "..", "..", "shared", "bench"))
for cand in (BENCH, "/work/shared/bench"):
    if os.path.exists(os.path.join(cand, "unet_torch.py")):
        sys.path.insert(0, cand)
        break

import torch  # noqa: E402
from unet_torch import UNet, bce_dice_loss  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--base", type=int, default=32)
    ap.add_argument("--depth", type=int, default=4)
    ap.add_argument("--up", choices=["transpose", "bilinear"], default="transpose")
    ap.add_argument("--out-channels", type=int, default=1)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = UNet(out_ch=a.out_channels, base=a.base, depth=a.depth, up=a.up).train()
    g = torch.Generator().manual_seed(1)
    x = torch.rand(a.batch_size, 1, a.size, a.size, generator=g)
    t = (torch.rand(a.batch_size, a.out_channels, a.size, a.size, generator=g) > 0.9).float()
    if a.channels_last:
        m = m.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)
    times = []
    for i in range(a.steps + 1):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = bce_dice_loss(m(x), t)
        loss.backward()
        opt.step()
        float(loss.detach())
        if i > 0:
            times.append(time.perf_counter() - t0)
    med = sorted(times)[len(times) // 2]
    res = dict(framework="pytorch " + torch.__version__, size=a.size, batch_size=a.batch_size, base=a.base,
               depth=a.depth, up=a.up, out_channels=a.out_channels, threads=a.threads,
               channels_last=a.channels_last, params=sum(p.numel() for p in m.parameters()),
               seconds_per_step=times, median_seconds_per_step=med, images_per_sec=a.batch_size / med)
    fmt = "channels_last" if a.channels_last else "NCHW"
    print(f"pytorch train {a.size}x{a.size} batch {a.batch_size} base {a.base} ({fmt}): "
          f"{res['images_per_sec']:.2f} images/s ({med:.3f} s/step, median of {len(times)})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
