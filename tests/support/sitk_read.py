#!/usr/bin/env python3
"""SimpleITK side of tests/io/dicom_sitk.rs: the reference series reader.

  sitk_read.py FOLDER OUT.f32   read the one series of FOLDER with
                                ImageSeriesReader (file order from
                                GetGDCMSeriesFileNames), write its voxels as float32
                                with i (x) fastest, then j (y), then k (z) to OUT.f32,
                                and print JSON: dims [i, j, k] (= SimpleITK's x, y, z),
                                the RAS+ affine (4x4, row-major), SimpleITK's LPS
                                spacing/origin/direction, the file order, and a summary
                                of the voxels (sum, min, max).
"""
import json, sys

import numpy as np
import SimpleITK as sitk


def main(folder, out):
    ids = sitk.ImageSeriesReader.GetGDCMSeriesIDs(folder)
    if len(ids) != 1:
        raise SystemExit(f"{folder}: expected one series, found {len(ids)}")
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(folder, ids[0])
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(files)
    img = reader.Execute()
    vol = sitk.GetArrayFromImage(img)  # (z, y, x): C order has x fastest
    vol.astype("<f4").tofile(out)
    spacing = np.array(img.GetSpacing(), dtype=float)
    direction = np.array(img.GetDirection(), dtype=float).reshape(3, 3)
    origin = np.array(img.GetOrigin(), dtype=float)
    lps = np.eye(4)
    lps[:3, :3] = direction * spacing  # column c = direction c times spacing c
    lps[:3, 3] = origin
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    print(json.dumps({
        "dims": list(img.GetSize()),
        "affine": ras.tolist(),
        "spacing": spacing.tolist(),
        "origin": origin.tolist(),
        "direction": direction.ravel().tolist(),
        "pixel_type": img.GetPixelIDTypeAsString(),
        "files": [str(f) for f in files],
        "sum": float(vol.astype(np.float64).sum()),
        "min": float(vol.min()),
        "max": float(vol.max()),
    }))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
