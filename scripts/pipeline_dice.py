#!/usr/bin/env python3
"""3-D Dice of what `lungscope segment` writes (network + post-processing: infection kept
inside the lung, small islands removed, left/right split) against the ground-truth masks
of the shared volumes, per case and as the mean over cases.

    python3 scripts/pipeline_dice.py --bin target/debug/lungscope \
        --cases coronacases_008,coronacases_010,radiopaedia_group_R03,radiopaedia_group_R06 \
        [--weights MODEL.lsm] [--json OUT] [--segment-arg=--threshold --segment-arg=0.4]

Needs numpy and nibabel. Volumes are read from $LUNGSCOPE_DATA (or ../shared/data).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import nibabel as nib
import numpy as np


def dice(a, b):
    s = int(a.sum()) + int(b.sum())
    return 1.0 if s == 0 else 2.0 * int(np.logical_and(a, b).sum()) / s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default="target/debug/lungscope")
    ap.add_argument("--cases", required=True)
    ap.add_argument("--weights")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--json")
    ap.add_argument("--segment-arg", action="append", default=[],
                    help="one more argument for `lungscope segment` (repeat for several)")
    args = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    data = os.environ.get("LUNGSCOPE_DATA", os.path.join(here, "..", "..", "shared", "data"))
    vols = os.path.join(data, "covid19_ct_seg_zenodo3757476_volumes")
    rows = []
    with tempfile.TemporaryDirectory() as out:
        for case in args.cases.split(","):
            ct = os.path.join(vols, f"{case}_ct.nii.gz")
            cmd = [args.bin, "segment", "--device", args.device, "--out-dir", out, ct]
            if args.weights:
                cmd += ["--weights", args.weights]
            cmd += args.segment_arg
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            seg = np.asanyarray(nib.load(os.path.join(out, f"{case}_ct_seg.nii.gz")).dataobj)
            lung = np.asanyarray(nib.load(os.path.join(vols, f"{case}_lung.nii.gz")).dataobj) > 0
            inf = np.asanyarray(nib.load(os.path.join(vols, f"{case}_infection.nii.gz")).dataobj) > 0
            row = {
                "case": case,
                "slices": int(seg.shape[2]),
                "dice_lung": dice(seg > 0, lung),
                "dice_infection": dice(seg == 3, inf),
                "infection_percent_true": 100.0 * int(np.logical_and(inf, lung).sum()) / max(1, int(lung.sum())),
                "infection_percent_pred": 100.0 * int((seg == 3).sum()) / max(1, int((seg > 0).sum())),
            }
            rows.append(row)
            print(f"{case:24s} lung Dice {row['dice_lung']:.3f}  infection Dice {row['dice_infection']:.3f}  "
                  f"infection % {row['infection_percent_pred']:.1f} (truth {row['infection_percent_true']:.1f})")
    mean = {k: float(np.mean([r[k] for r in rows])) for k in ("dice_lung", "dice_infection")}
    print(f"{'mean over cases':24s} lung Dice {mean['dice_lung']:.3f}  infection Dice {mean['dice_infection']:.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"cases": rows, "mean": mean}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
