#!/usr/bin/env python3
"""pydicom side of the DICOM tests (tests/io/dicom_read.rs): an independent reader.

  pydicom_read.py FOLDER OUT.f32   read every DICOM file of FOLDER (one series),
                                   sort the slices by ImagePositionPatient along the
                                   slice normal, apply RescaleSlope/Intercept (and
                                   PixelPaddingValue -> -1024), write the volume as
                                   float32 with i (column) fastest, then j (row),
                                   then k (slice) to OUT.f32, and print JSON: dims
                                   [i, j, k] and the RAS+ affine (4x4, row-major).
"""
import json, os, sys
import numpy as np
import pydicom


def main(folder, out):
    slices = []
    for root, _, files in os.walk(folder):
        for name in files:
            try:
                ds = pydicom.dcmread(os.path.join(root, name))
            except Exception:
                continue
            if "PixelData" in ds:
                slices.append(ds)
    iop = np.array(slices[0].ImageOrientationPatient, dtype=float)
    row, col = iop[:3], iop[3:]
    normal = np.cross(row, col)
    slices.sort(key=lambda d: float(np.dot(np.array(d.ImagePositionPatient, dtype=float), normal)))
    vol = []
    for d in slices:
        raw = d.pixel_array.astype(np.float64)
        hu = raw * float(getattr(d, "RescaleSlope", 1)) + float(getattr(d, "RescaleIntercept", 0))
        pad = getattr(d, "PixelPaddingValue", None)
        if pad is not None:
            hu[raw == pad] = -1024
        vol.append(hu.astype(np.float32))
    vol = np.stack(vol)  # (k, j, i): C order has i fastest
    vol.tofile(out)
    dr, dc = (float(x) for x in slices[0].PixelSpacing)
    p0 = np.array(slices[0].ImagePositionPatient, dtype=float)
    pn = np.array(slices[-1].ImagePositionPatient, dtype=float)
    step = np.dot(pn - p0, normal) / max(len(slices) - 1, 1)
    lps = np.eye(4)
    lps[:3, 0] = row * dc
    lps[:3, 1] = col * dr
    lps[:3, 2] = normal * step
    lps[:3, 3] = p0
    ras = np.diag([-1.0, -1.0, 1.0, 1.0]) @ lps
    print(json.dumps({"dims": [vol.shape[2], vol.shape[1], vol.shape[0]], "affine": ras.tolist()}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
