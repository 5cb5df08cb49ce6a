#!/usr/bin/env python3
"""Writes a NIfTI volume as a CT DICOM series with pydicom (tests/io/dicom_sitk.rs and
benches/dicom_vs_python.py).

  write_dicom_series.py IN.nii[.gz] OUT_FOLDER [--seed S] [--intercept -1024]
                        [--slope 1] [--uid-root 1.2.826.0.1.3680043.8.498.]

One uncompressed (explicit VR little endian) CT Image Storage file per slice k of
the volume (rounded to integer HU), with the tags a scanner writes:
ImagePositionPatient / ImageOrientationPatient / PixelSpacing from the NIfTI affine
(RAS+ -> LPS), SliceThickness, RescaleSlope/Intercept (stored = (HU - intercept) /
slope as signed int16), shared Study/Series/FrameOfReference UIDs, per-slice SOP
Instance UID and InstanceNumber. File names are random hex without an extension, so
their alphabetical order is not the slice order (and InstanceNumber is shuffled too:
only the positions give the order). Prints JSON: {"files": n, "dims": [i, j, k]}.
"""
import argparse, json, os

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


def ds_str(x):
    """A DS value of at most 16 characters that keeps as many digits as fit."""
    for prec in range(10, 0, -1):
        s = f"{x:.{prec}g}"
        if len(s) <= 16:
            return s
    return f"{x:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("nifti")
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--slope", type=float, default=1.0)
    ap.add_argument("--intercept", type=float, default=-1024.0)
    args = ap.parse_args()

    img = nib.load(args.nifti)
    hu = np.rint(np.asarray(img.dataobj, dtype=np.float64))
    ras = img.affine.astype(np.float64)
    lps = np.diag([-1.0, -1.0, 1.0, 1.0]) @ ras
    spacing = np.linalg.norm(lps[:3, :3], axis=0)
    row_dir = lps[:3, 0] / spacing[0]  # along a row: increasing column index = i
    col_dir = lps[:3, 1] / spacing[1]  # down a column: increasing row index = j
    stored = np.rint((hu - args.intercept) / args.slope)
    stored = np.clip(stored, -32768, 32767).astype(np.int16)
    ni, nj, nk = hu.shape

    rng = np.random.default_rng(args.seed)
    os.makedirs(args.out, exist_ok=True)
    study, series, frame = generate_uid(), generate_uid(), generate_uid()
    names = set()
    while len(names) < nk:
        names.add(rng.bytes(8).hex())
    names = list(names)
    rng.shuffle(names)
    instance_numbers = rng.permutation(nk) + 1
    for k in range(nk):
        pos = lps[:3, :3] @ np.array([0.0, 0.0, float(k)]) + lps[:3, 3]
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
        sop = generate_uid()
        meta.MediaStorageSOPInstanceUID = sop
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        path = os.path.join(args.out, names[k])
        ds = FileDataset(path, {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = CT_IMAGE_STORAGE
        ds.SOPInstanceUID = sop
        ds.Modality = "CT"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.StudyInstanceUID = study
        ds.SeriesInstanceUID = series
        ds.FrameOfReferenceUID = frame
        ds.SeriesNumber = 2
        ds.InstanceNumber = int(instance_numbers[k])
        ds.SeriesDescription = "lungscope test series"
        ds.PatientPosition = "HFS"
        ds.ImagePositionPatient = [ds_str(v) for v in pos]
        ds.ImageOrientationPatient = [ds_str(v) for v in (*row_dir, *col_dir)]
        ds.PixelSpacing = [ds_str(spacing[1]), ds_str(spacing[0])]  # row, column
        ds.SliceThickness = ds_str(spacing[2])
        ds.SliceLocation = ds_str(pos[2])
        ds.RescaleIntercept = ds_str(args.intercept)
        ds.RescaleSlope = ds_str(args.slope)
        ds.RescaleType = "HU"
        ds.SamplesPerPixel = 1
        ds.PhotometricInterpretation = "MONOCHROME2"
        ds.Rows, ds.Columns = nj, ni
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
        ds.PixelRepresentation = 1
        ds.WindowCenter, ds.WindowWidth = "-600", "1500"
        # Slice k as rows (j) x columns (i).
        ds.PixelData = np.ascontiguousarray(stored[:, :, k].T).astype("<i2").tobytes()
        ds.save_as(path, enforce_file_format=True)
    print(json.dumps({"files": nk, "dims": [ni, nj, nk]}))


if __name__ == "__main__":
    main()
