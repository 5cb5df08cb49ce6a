#!/usr/bin/env python3
"""Overlay pictures of the default pipeline on the shared real-HU DICOM slices.

Runs `lungscope segment --device cpu` on each slice (into a temporary folder, never
next to the shared data) and writes one PNG per slice to docs/img/real-hu/: the
slice in the lung window (W1500/L-600) as stored (radiological display: patient
right on the image's left), lung in blue, infection in red, with the summary line
lungscope printed. Needs python3 with numpy, nibabel, pydicom and pillow.

    cargo build && python3 scripts/real_hu_overlays.py [path/to/lungscope]
"""
import os
import shutil
import subprocess
import sys
import tempfile

import nibabel as nib
import numpy as np
import pydicom
from PIL import Image, ImageDraw

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("LUNGSCOPE_DATA", os.path.join(ROOT, "..", "shared", "data"))
HU = os.path.join(DATA, "real_ct_hu")
OUT = os.path.join(ROOT, "docs", "img", "real-hu")
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
    os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "debug", "lungscope")

SLICES = [
    # (name, path relative to real_ct_hu, what it is)
    ("normal_lungmask_0", "chest_slices_lungmask/0.dcm", "normal-appearing chest"),
    ("normal_lungmask_1", "chest_slices_lungmask/1.dcm", "normal-appearing chest"),
    ("normal_wg04_ct1", "dicom_transfer_syntaxes/wg04/REF/CT1_UNC", "normal-appearing chest"),
    ("normal_A048383_19001231", "covid19_ny_sbu_slices/A048383/axial/19001231-30.dcm", "near-normal lungs"),
    ("normal_A048383_19010410", "covid19_ny_sbu_slices/A048383/axial/19010410-30.dcm", "near-normal lungs"),
    ("covid_A002304_19010112", "covid19_ny_sbu_slices/A002304/axial/19010112-135.dcm", "ground glass / consolidation"),
    ("covid_A046441_19001111", "covid19_ny_sbu_slices/A046441/axial/19001111-045.dcm", "ground glass / consolidation"),
    ("covid_A046441_19010101", "covid19_ny_sbu_slices/A046441/axial/19010101-23.dcm", "ground glass / consolidation"),
    ("covid_A056642_19001229", "covid19_ny_sbu_slices/A056642/axial/19001229-053.dcm", "ground glass / consolidation"),
    ("abdomen_A027284_19000925", "covid19_ny_sbu_slices/A027284/axial/19000925-116.dcm", "upper abdomen, no lung"),
    ("abdomen_A027284_19001231", "covid19_ny_sbu_slices/A027284/axial/19001231-131.dcm", "upper abdomen, no lung"),
]


def render(dcm_path, seg_path, caption, out_png):
    d = pydicom.dcmread(dcm_path)
    hu = d.pixel_array.astype(float) * float(getattr(d, "RescaleSlope", 1)) + float(
        getattr(d, "RescaleIntercept", 0))
    # lungscope's mask: i = column, j = row of the DICOM image
    s = np.asarray(nib.load(seg_path).dataobj)[:, :, 0].T
    g = np.clip((hu + 1350.0) / 1500.0, 0, 1) * 255
    rgb = np.stack([g, g, g], -1)
    lung = (s == 1) | (s == 2)
    inf = s == 3
    rgb[lung] = rgb[lung] * 0.6 + np.array([40, 80, 255]) * 0.4
    rgb[inf] = rgb[inf] * 0.4 + np.array([255, 40, 40]) * 0.6
    im = Image.fromarray(rgb.astype(np.uint8)).resize((384, 384), Image.BILINEAR)
    canvas = Image.new("RGB", (384, 384 + 30), (0, 0, 0))
    canvas.paste(im, (0, 0))
    ImageDraw.Draw(canvas).text((4, 388), caption, fill=(255, 255, 255))
    canvas.save(out_png)


def main():
    os.makedirs(OUT, exist_ok=True)
    tmp = tempfile.mkdtemp()
    try:
        for name, rel, what in SLICES:
            src = os.path.join(HU, rel)
            local = os.path.join(tmp, name + ".dcm")
            shutil.copy(src, local)
            r = subprocess.run([BIN, "segment", local, "--device", "cpu"],
                               capture_output=True, text=True, check=True)
            line = r.stdout.strip().splitlines()[-1]
            pct = line.split("infection", 1)[-1].split(",")[0].strip() if "OUT OF SCOPE" not in line \
                else "out of scope: " + line.split("OUT OF SCOPE:")[1].split(":")[0].strip()
            print(f"{name}: {line.split(': ', 1)[-1]}")
            render(local, os.path.join(tmp, name + "_seg.nii.gz"), f"{name} ({what}): {pct}",
                   os.path.join(OUT, name + ".png"))
    finally:
        shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
