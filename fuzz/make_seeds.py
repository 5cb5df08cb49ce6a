#!/usr/bin/env python3
"""Seed corpus of the NIfTI and DICOM fuzz targets: small valid files that reach
every branch of the readers (data types, scaling, affines, NIfTI-2, gzip, 4-D;
DICOM transfer syntaxes, signed and unsigned pixels, MONOCHROME1, padding values,
multi-frame). The .lsm seed is written by `cargo test --test io
fuzz_corpus::write_lsm_seed -- --ignored`. Needs numpy, nibabel and pydicom.

    python3 fuzz/make_seeds.py
"""
import gzip
import io
import os

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
    generate_uid,
)

HERE = os.path.dirname(os.path.abspath(__file__))
NII = os.path.join(HERE, "corpus", "nifti")
DCM = os.path.join(HERE, "corpus", "dicom")
rng = np.random.default_rng(7)


def nifti():
    os.makedirs(NII, exist_ok=True)
    shape = (6, 5, 3)
    aff = np.diag([0.8, 0.8, 2.5, 1.0])
    aff[:3, 3] = [-10, 20, -30]
    vals = rng.integers(-1024, 1500, size=shape)
    for dt in ["int16", "uint8", "int32", "float32", "float64", "uint16", "int8"]:
        data = np.clip(vals, np.iinfo(dt).min, np.iinfo(dt).max).astype(dt) if dt.startswith(("int", "uint")) else vals.astype(dt)
        img = nib.Nifti1Image(data, aff)
        img.header.set_data_dtype(dt)
        nib.save(img, os.path.join(NII, f"n1_{dt}.nii"))
    img = nib.Nifti1Image(vals.astype(np.int16), aff)
    img.header.set_slope_inter(0.5, -1000)
    nib.save(img, os.path.join(NII, "n1_scaled.nii"))
    img = nib.Nifti1Image(vals.astype(np.int16), None)
    img.set_qform(np.diag([-1.0, -1.0, 2.0, 1.0]), code=1)
    img.set_sform(None, code=0)
    nib.save(img, os.path.join(NII, "n1_qform_only.nii"))
    nib.save(nib.Nifti2Image(vals.astype(np.int16), aff), os.path.join(NII, "n2_int16.nii"))
    four = np.stack([vals, vals + 1], -1).astype(np.int16)
    nib.save(nib.Nifti1Image(four, aff), os.path.join(NII, "n1_4d.nii"))
    mask = (vals > 200).astype(np.uint8) * 3
    nib.save(nib.Nifti1Image(mask, aff), os.path.join(NII, "n1_labels.nii"))
    raw = open(os.path.join(NII, "n1_int16.nii"), "rb").read()
    with open(os.path.join(NII, "n1_int16_gz.nii"), "wb") as f:
        f.write(gzip.compress(raw))
    with open(os.path.join(NII, "n1_int16_gz_two_members.nii"), "wb") as f:
        f.write(gzip.compress(raw[:200]) + gzip.compress(raw[200:]))


def ct_dataset(rows=8, cols=8, frames=1, signed=True, photometric="MONOCHROME2"):
    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = generate_uid()
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.PatientName = "Fuzz^Seed"
    ds.PatientID = "SEED"
    ds.SeriesDescription = "seed"
    ds.ImagePositionPatient = [-5.0, -5.0, 10.0]
    ds.ImageOrientationPatient = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0]
    ds.PixelSpacing = [0.7, 0.7]
    ds.SliceThickness = 2.5
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleSlope = 1
    ds.RescaleIntercept = -1024 if not signed else 0
    if frames > 1:
        ds.NumberOfFrames = frames
    lo, hi = (-1024, 1500) if signed else (0, 2500)
    px = rng.integers(lo, hi, size=(frames, rows, cols) if frames > 1 else (rows, cols))
    ds.PixelData = px.astype(np.int16 if signed else np.uint16).tobytes()
    return ds


def save(ds, name, syntax):
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = syntax
    ds.file_meta = meta
    if syntax in (RLELossless, JPEG2000Lossless, JPEGLSLossless, JPEGLSNearLossless):
        arr = np.frombuffer(ds.PixelData, dtype=np.int16 if ds.PixelRepresentation else np.uint16)
        arr = arr.reshape(ds.Rows, ds.Columns)
        ds.PixelData = arr.astype(np.uint16 if not ds.PixelRepresentation else np.int16).tobytes()
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        # JPEG-LS near-lossless: every sample within 2 of the original.
        ds.compress(syntax, arr, **({"jls_error": 2} if syntax == JPEGLSNearLossless else {}))
    path = os.path.join(DCM, name)
    ds.save_as(path, enforce_file_format=True)


def dicom():
    os.makedirs(DCM, exist_ok=True)
    save(ct_dataset(), "explicit_le.dcm", ExplicitVRLittleEndian)
    save(ct_dataset(), "implicit_le.dcm", ImplicitVRLittleEndian)
    save(ct_dataset(), "explicit_be.dcm", ExplicitVRBigEndian)
    save(ct_dataset(), "deflate.dcm", DeflatedExplicitVRLittleEndian)
    save(ct_dataset(), "rle.dcm", RLELossless)
    save(ct_dataset(signed=False), "unsigned.dcm", ExplicitVRLittleEndian)
    save(ct_dataset(photometric="MONOCHROME1"), "monochrome1.dcm", ExplicitVRLittleEndian)
    ds = ct_dataset()
    ds.PixelPaddingValue = -2000
    save(ds, "padding.dcm", ExplicitVRLittleEndian)
    save(ct_dataset(frames=3), "multiframe.dcm", ExplicitVRLittleEndian)
    try:  # needs pylibjpeg-openjpeg
        save(ct_dataset(rows=32, cols=32), "j2k_lossless.dcm", JPEG2000Lossless)
    except Exception as e:  # noqa: BLE001
        print("no JPEG 2000 seed:", e)
    try:  # needs pyjpegls
        save(ct_dataset(rows=32, cols=32), "jpegls_lossless.dcm", JPEGLSLossless)
        ds = ct_dataset(rows=32, cols=32)
        ds.PixelPaddingValue = -2000
        save(ds, "jpegls_near_lossless.dcm", JPEGLSNearLossless)
    except Exception as e:  # noqa: BLE001
        print("no JPEG-LS seeds:", e)


if __name__ == "__main__":
    nifti()
    dicom()
    for d in (NII, DCM):
        print(d, len(os.listdir(d)), "files")
