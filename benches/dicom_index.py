#!/usr/bin/env python3
"""Listing the series of a 1,000-file DICOM folder: lungscope vs SimpleITK.

Usage (from the repository root; needs numpy, nibabel, pydicom, SimpleITK):
  cargo build && python3 benches/dicom_index.py [--bin PATH] [--n 1000] [--repeat 5]

Writes (once, into ~/.cache/lungscope-bench/dicom_index_N/) an N-file CT series of
128x128 slices plus a second 2-file series with tests/support/write_dicom_series.py,
so that `lungscope info FOLDER` lists the two series and stops there: what is timed
is the header index (every file opened, parsed up to the pixel data, grouped,
sorted), the files warm in the page cache. The reference is SimpleITK's
`ImageSeriesReader.GetGDCMSeriesFileNames` on the N-file series (GDCM's header scan
and sort). Prints the median of --repeat runs of each, measured alternately.
"""
import argparse, os, statistics, subprocess, sys, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRITER = os.path.join(ROOT, "tests", "support", "write_dicom_series.py")


def make(folder, n):
    import nibabel as nib
    import numpy as np

    if os.path.isdir(os.path.join(folder, "main")) and len(os.listdir(os.path.join(folder, "main"))) == n:
        return
    os.makedirs(folder, exist_ok=True)
    rng = np.random.default_rng(1)
    for name, k, seed in (("main", n, 1), ("extra", 2, 5)):
        vol = rng.integers(-1000, 400, size=(128, 128, k)).astype(np.int16)
        src = os.path.join(folder, f"{name}.nii.gz")
        nib.save(nib.Nifti1Image(vol, np.diag([0.8, 0.8, 1.0, 1.0])), src)
        subprocess.run([sys.executable, WRITER, src, os.path.join(folder, name), "--seed", str(seed)],
                       check=True, stdout=subprocess.DEVNULL)
        os.remove(src)


def timed(fn):
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--bin", default=os.path.join(target, "debug", "lungscope"))
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    a = ap.parse_args()
    import SimpleITK as sitk

    folder = os.path.expanduser(f"~/.cache/lungscope-bench/dicom_index_{a.n}")
    make(folder, a.n)

    def ours():
        out = subprocess.run([a.bin, "info", folder], capture_output=True, text=True)
        if "2 series" not in out.stdout + out.stderr:
            sys.exit(f"unexpected output of lungscope info:\n{out.stdout}{out.stderr}")

    def theirs():
        names = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(os.path.join(folder, "main"))
        assert len(names) == a.n

    ours(), theirs()  # warm the page cache
    t_ours, t_sitk = [], []
    for _ in range(a.repeat):
        t_ours.append(timed(ours))
        t_sitk.append(timed(theirs))
    mo, ms = statistics.median(t_ours), statistics.median(t_sitk)
    print(f"lungscope info (list {a.n + 2} files, 2 series, whole process): median {mo * 1e3:.0f} ms")
    print(f"SimpleITK GetGDCMSeriesFileNames ({a.n} files): median {ms * 1e3:.0f} ms")
    print(f"ratio: lungscope {ms / mo:.2f}x as fast")


if __name__ == "__main__":
    main()
