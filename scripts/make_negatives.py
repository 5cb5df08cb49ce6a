#!/usr/bin/env python3
"""Real-HU negative training cases: CT without COVID-19 infection, in NIfTI.

The public COVID-19-CT-Seg slices all hold infected lung, in 8-bit CLAHE images. This
script turns the shared real-HU CT that has no infection (an abdomen series, lung-base
and head slices, normal-appearing chest slices) into training cases of the NIfTI
volume layout that `lungscope train --data` reads:

    OUT/neg_<name>[_<copy>]_ct.nii.gz        CT in HU, the source geometry
    OUT/neg_<name>[_<copy>]_lung.nii.gz      lung from HU physics (see below)
    OUT/neg_<name>[_<copy>]_infection.nii.gz all zero

Lung labels are not drawn by a radiologist: they are the classical HU lung mask
(air below -400 HU inside the body, holes filled per slice; components mostly of
pure air below -950 HU, i.e. bowel gas, or smaller than 0.3 mL dropped, trachea and
an airway on its own in a slice is pure air too). The head slices hold no lung by
anatomy, so their lung label is empty (sinus and mastoid air is not lung). On the abdomen they hold the lung bases only. Every case is written COPIES times
(names suffixed) so that negatives make up a useful share of an epoch.

The slices used as held-out checks in tests/seg/real_hu.rs (SBU COVID-19-NY-SBU
slices, the TotalSegmentator NIfTI volumes) are NOT used here.

    python3 scripts/make_negatives.py OUT [COPIES]
Needs numpy, scipy, SimpleITK.
"""
import os
import sys

import numpy as np
import SimpleITK as sitk
from scipy import ndimage as ndi

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.environ.get("LUNGSCOPE_DATA", os.path.join(ROOT, "..", "shared", "data"))
HU = os.path.join(DATA, "real_ct_hu")

SOURCES = [
    # (name, path relative to real_ct_hu: a folder = one series, a file = one image).
    # Names starting with "head_" hold no lung.
    ("abdomen_series", "totalsegmentator_examples/example_ct_dicom"),
    ("dcmqi_base1", "dicom_transfer_syntaxes/dcmqi_ct_3slice/01.dcm"),
    ("dcmqi_base2", "dicom_transfer_syntaxes/dcmqi_ct_3slice/02.dcm"),
    ("dcmqi_base3", "dicom_transfer_syntaxes/dcmqi_ct_3slice/03.dcm"),
    ("chest_lungmask", "chest_slices_lungmask/0.dcm"),
    ("chest_wg04_ct1", "dicom_transfer_syntaxes/wg04/REF/CT1_UNC"),
    ("head_wg04_ct2", "dicom_transfer_syntaxes/wg04/REF/CT2_UNC"),
    ("head_693", "dicom_transfer_syntaxes/pydicom_data/693_UNCR.dcm"),
]


def read(path):
    if os.path.isdir(path):
        r = sitk.ImageSeriesReader()
        r.SetFileNames(r.GetGDCMSeriesFileNames(path))
        return r.Execute()
    return sitk.ReadImage(path)


def hu_lung(hu, spacing):
    """hu: [z, y, x] array; spacing (x, y, z) mm. Returns a uint8 lung mask."""
    voxel_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0
    body_lab, n = ndi.label(hu > -500)
    if n == 0:
        return np.zeros(hu.shape, np.uint8)
    sizes = ndi.sum(np.ones_like(body_lab), body_lab, range(1, n + 1))
    body = body_lab == (1 + int(np.argmax(sizes)))
    filled = np.stack([ndi.binary_fill_holes(s) for s in body])
    air = filled & (hu < -400)
    lab, n = ndi.label(air)
    lung = np.zeros(hu.shape, bool)
    for i in range(1, n + 1):
        comp = lab == i
        count = int(comp.sum())
        if count * voxel_ml < 0.3:
            continue
        if (hu[comp] < -950).mean() > 0.5:
            continue  # pure air: bowel gas, air pocket, trachea on its own
        lung |= comp
    lung = np.stack([ndi.binary_fill_holes(s) for s in lung]) & filled
    return lung.astype(np.uint8)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    out = sys.argv[1]
    copies = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    os.makedirs(out, exist_ok=True)
    for name, rel in SOURCES:
        img = read(os.path.join(HU, rel))
        hu = sitk.GetArrayFromImage(img).astype(np.int16)
        if hu.ndim == 2:
            hu = hu[None]
        sp = img.GetSpacing()
        lung = hu_lung(hu.astype(np.float32), sp)
        if name.startswith("head_"):
            lung[:] = 0
        ct_img = sitk.GetImageFromArray(hu)
        ct_img.CopyInformation(img)
        lung_img = sitk.GetImageFromArray(lung)
        lung_img.CopyInformation(img)
        zero_img = sitk.GetImageFromArray(np.zeros_like(lung))
        zero_img.CopyInformation(img)
        ml = lung.sum() * sp[0] * sp[1] * sp[2] / 1000.0
        print(f"{name}: {hu.shape[0]} slice(s), lung {ml:.1f} mL")
        for c in range(copies):
            case = f"neg_{name}" + (f"_{c}" if copies > 1 else "")
            sitk.WriteImage(ct_img, os.path.join(out, f"{case}_ct.nii.gz"))
            sitk.WriteImage(lung_img, os.path.join(out, f"{case}_lung.nii.gz"))
            sitk.WriteImage(zero_img, os.path.join(out, f"{case}_infection.nii.gz"))


if __name__ == "__main__":
    main()
