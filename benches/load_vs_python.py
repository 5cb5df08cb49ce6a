#!/usr/bin/env python3
"""NIfTI load/write: lungscope vs nibabel and SimpleITK, side by side in one run.

Usage (from the repository root; needs numpy, nibabel, SimpleITK):
  cargo build && python3 benches/load_vs_python.py [--bin PATH] [--n 300] [--repeat 5]

The 512x512xN int16 volume is generated with ../shared/bench/make_volume.py (same
seed and file as the reference numbers) into ~/.cache/lungscope-bench/. The timing
helpers come from ../shared/bench/benchutil.py (median of clean runs, foreign-load
monitor). lungscope and Python are measured alternately, twice each, and the
better median of each is kept, so a burst of foreign load hurts neither side alone.
"""
import argparse, json, os, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("LUNGSCOPE_SHARED", os.path.join(ROOT, "..", "shared"))
if not os.path.isdir(SHARED):
    SHARED = "/work/shared"
sys.path.insert(0, os.path.join(SHARED, "bench"))

import numpy as np  # noqa: E402
import nibabel as nib  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from benchutil import bench, wait_idle  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--bin", default=os.path.join(target, "debug", "lungscope"))
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()

    cache = os.path.expanduser("~/.cache/lungscope-bench")
    os.makedirs(cache, exist_ok=True)
    ct = os.path.join(cache, f"ct_512x512x{args.n}.nii.gz")
    if not os.path.exists(ct):
        subprocess.run([sys.executable, os.path.join(SHARED, "bench", "make_volume.py"),
                        "--n", str(args.n), "--out", ct], check=True)
    mask = ct.replace(".nii.gz", "_infection.nii.gz")
    out_dir = tempfile.mkdtemp(prefix="lsbench-")

    def ours():
        wait_idle(30)
        r = subprocess.run([args.bin, "bench-load", ct, "--repeat", str(args.repeat),
                            "--write-dir", out_dir, "--mask", mask],
                           check=True, capture_output=True, text=True)
        return json.loads(r.stdout)

    def py():
        res = {}
        res["nibabel_read"] = bench(lambda: np.asanyarray(nib.load(ct).dataobj), args.repeat)["median_s"] * 1e3
        res["sitk_read"] = bench(lambda: sitk.GetArrayFromImage(sitk.ReadImage(ct)), args.repeat)["median_s"] * 1e3
        m = nib.load(mask)
        data = np.asarray(m.dataobj)
        p = os.path.join(out_dir, "nib_mask.nii.gz")
        res["nibabel_write_l1"] = bench(lambda: nib.save(nib.Nifti1Image(data, m.affine, m.header), p),
                                        args.repeat)["median_s"] * 1e3
        simg = sitk.ReadImage(mask)
        q = os.path.join(out_dir, "sitk_mask.nii.gz")
        res["sitk_write"] = bench(lambda: sitk.WriteImage(simg, q, useCompression=True), args.repeat)["median_s"] * 1e3
        return res

    a, b = ours(), py()
    a2, b2 = ours(), py()
    read = min(a["read_median_ms"], a2["read_median_ms"])
    write = min(a["write_median_ms"], a2["write_median_ms"])
    pyb = {k: min(b[k], b2[k]) for k in b}
    rows = [
        ("lungscope read (int16 .nii.gz)", read, ""),
        ("nibabel read (np.asanyarray(dataobj))", pyb["nibabel_read"], f"lungscope {pyb['nibabel_read'] / read:.2f}x faster"),
        ("SimpleITK read (ReadImage+GetArray)", pyb["sitk_read"], f"lungscope {pyb['sitk_read'] / read:.2f}x faster (goal >= 2x)"),
        ("lungscope write the infection mask (.nii.gz)", write, f"{a['mask_file_bytes'] // 1024} KiB"),
        ("nibabel write the same mask (gzip level 1)", pyb["nibabel_write_l1"],
         f"{os.path.getsize(os.path.join(out_dir, 'nib_mask.nii.gz')) // 1024} KiB"),
        ("SimpleITK write the same mask (useCompression)", pyb["sitk_write"],
         f"{os.path.getsize(os.path.join(out_dir, 'sitk_mask.nii.gz')) // 1024} KiB"),
    ]
    print(f"\nvolume {ct}: {a['voxel_bytes'] / 2**20:.0f} MiB of voxels, "
          f"{os.path.getsize(ct) / 2**20:.1f} MiB file")
    print(f"lungscope peak memory of a load: {a['peak_extra_bytes'] / 2**20:.0f} MiB = "
          f"{a['peak_ratio']:.2f}x the voxel bytes (goal <= 1.5x)\n")
    print("| operation | median ms | note |\n| --- | ---: | --- |")
    for name, ms, note in rows:
        print(f"| {name} | {ms:.0f} | {note} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"lungscope": [a, a2], "python": [b, b2]}, f, indent=1)


if __name__ == "__main__":
    main()
