#!/usr/bin/env python3
"""DICOM series load: lungscope vs SimpleITK and pydicom + numpy, side by side.

Usage (from the repository root; needs numpy, nibabel, pydicom, SimpleITK):
  cargo build && python3 benches/dicom_vs_python.py [--bin PATH] [--n 300] [--repeat 5]

The 512x512xN int16 volume is generated with ../shared/bench/make_volume.py (same
seed and file as benches/load_vs_python.py) into ~/.cache/lungscope-bench/, then
written once as an N-file uncompressed CT series (one file per slice, random
extension-less names, RescaleIntercept -1024) with tests/support/write_dicom_series.py
into ~/.cache/lungscope-bench/dicom_512x512xN/. Timed, each a complete read of the
folder into one HU volume in memory (the files stay in the page cache):
  * `lungscope bench-load FOLDER` (io::open_volume: index headers, sort by position,
    decode, rescale; median of --repeat after a warm-up);
  * SimpleITK: GetGDCMSeriesFileNames + ImageSeriesReader.Execute + GetArrayFromImage;
  * pydicom + numpy: dcmread every file, sort by ImagePositionPatient along the
    normal, np.stack the pixel_arrays, rescale (int16 when the rescale is integral).
The timing helpers come from ../shared/bench/benchutil.py (median of clean runs,
foreign-load monitor). lungscope and Python are measured alternately, twice each,
and the better median of each is kept.
"""
import argparse, json, os, subprocess, sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.environ.get("LUNGSCOPE_SHARED", os.path.join(ROOT, "..", "shared"))
if not os.path.isdir(SHARED):
    SHARED = "/work/shared"
sys.path.insert(0, os.path.join(SHARED, "bench"))

import numpy as np  # noqa: E402
import pydicom  # noqa: E402
import SimpleITK as sitk  # noqa: E402
from benchutil import bench, wait_idle  # noqa: E402


def sitk_read(folder):
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder))
    return sitk.GetArrayFromImage(reader.Execute())


def pydicom_read(folder):
    slices = [pydicom.dcmread(os.path.join(folder, f)) for f in os.listdir(folder)]
    iop = np.array(slices[0].ImageOrientationPatient, dtype=float)
    normal = np.cross(iop[:3], iop[3:])
    slices.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, dtype=float), normal)))
    vol = np.stack([d.pixel_array for d in slices])
    slope, inter = float(slices[0].RescaleSlope), float(slices[0].RescaleIntercept)
    if slope == 1 and inter == int(inter):
        vol += np.int16(inter)
        return vol
    return vol.astype(np.float32) * slope + inter


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
    folder = os.path.join(cache, f"dicom_512x512x{args.n}")
    done = os.path.join(cache, f"dicom_512x512x{args.n}.done")
    if not os.path.exists(done):
        subprocess.run(["rm", "-rf", folder], check=True)
        subprocess.run([sys.executable, os.path.join(ROOT, "tests", "support", "write_dicom_series.py"),
                        ct, folder], check=True)
        open(done, "w").close()
    files = os.listdir(folder)
    assert len(files) == args.n, f"{folder}: {len(files)} files"
    ref = sitk_read(folder)
    assert np.array_equal(ref, pydicom_read(folder)), "SimpleITK and pydicom disagree"

    def ours():
        wait_idle(30)
        r = subprocess.run([args.bin, "bench-load", folder, "--repeat", str(args.repeat)],
                           check=True, capture_output=True, text=True)
        return json.loads(r.stdout)

    def py():
        return {
            "sitk_read": bench(lambda: sitk_read(folder), args.repeat)["median_s"] * 1e3,
            "pydicom_read": bench(lambda: pydicom_read(folder), args.repeat)["median_s"] * 1e3,
        }

    a, b = ours(), py()
    a2, b2 = ours(), py()
    read = min(a["read_median_ms"], a2["read_median_ms"])
    pyb = {k: min(b[k], b2[k]) for k in b}
    size = sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    rows = [
        ("lungscope read (open_volume)", read, ""),
        ("SimpleITK ImageSeriesReader (+GetGDCMSeriesFileNames, GetArray)", pyb["sitk_read"],
         f"lungscope {pyb['sitk_read'] / read:.2f}x faster (goal >= 1x)"),
        ("pydicom dcmread + numpy stack + rescale", pyb["pydicom_read"],
         f"lungscope {pyb['pydicom_read'] / read:.2f}x faster"),
    ]
    print(f"\nseries {folder}: {args.n} files, {size / 2**20:.0f} MiB, "
          f"{a['voxel_bytes'] / 2**20:.0f} MiB of voxels")
    print(f"lungscope peak memory of a load: {a['peak_extra_bytes'] / 2**20:.0f} MiB = "
          f"{a['peak_ratio']:.2f}x the voxel bytes")
    print(f"lungscope runs: {a['read_ms']} / {a2['read_ms']}\n")
    print("| operation | median ms | note |\n| --- | ---: | --- |")
    for name, ms, note in rows:
        print(f"| {name} | {ms:.0f} | {note} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"lungscope": [a, a2], "python": [b, b2]}, f, indent=1)


if __name__ == "__main__":
    main()
