#!/usr/bin/env python3
"""nibabel side of the interoperability tests (tests/io/nifti_interop.rs).

  nibabel_io.py write DIR   write fixtures with nibabel: several datatypes with
                            slope/intercept, permuted/flipped affines, big-endian,
                            NIfTI-2, 4-D; for each NAME.nii[.gz] also NAME.f64
                            (voxels as float64, Fortran order) and NAME.json
                            (shape, affine)
  nibabel_io.py read FILE   print JSON: shape, affine, dtype, label histogram
"""
import json, sys
import numpy as np
import nibabel as nib


def fixtures(out):
    rng = np.random.default_rng(7)
    shape = (7, 6, 5)
    base = rng.integers(-1024, 1500, size=shape)

    def affine(perm, signs, spacing=(0.7, 0.8, 2.5), origin=(-10.0, 20.0, -30.0)):
        a = np.zeros((4, 4))
        for col, (row, s, sp) in enumerate(zip(perm, signs, spacing)):
            a[row, col] = s * sp
        a[:3, 3] = origin
        a[3, 3] = 1
        return a

    cases = []

    def add(name, data, aff, dtype, slope=None, inter=None, cls=nib.Nifti1Image, endian=None, qform_only=False):
        img = cls(np.asarray(data).astype(dtype), aff)
        if slope is not None:
            img.header.set_slope_inter(slope, inter)
        if qform_only:
            img.set_sform(None, code=0)
            img.set_qform(aff, code=1)
        if endian is not None:
            img = cls(np.asarray(data).astype(dtype), aff, header=img.header.as_byteswapped(endian))
        path = f"{out}/{name}"
        nib.save(img, path)
        back = nib.load(path)
        vals = np.asarray(back.dataobj, dtype=np.float64)
        if vals.ndim == 4:
            vals = vals[..., 0]
        vals.ravel(order="F").astype("<f8").tofile(path + ".f64")
        with open(path + ".json", "w") as f:
            json.dump({"shape": list(vals.shape), "affine": back.affine.tolist(),
                       "axcodes": "".join(nib.aff2axcodes(back.affine))}, f)
        cases.append(name)

    add("int16_lps.nii.gz", base, affine((0, 1, 2), (-1, -1, 1)), np.int16)
    add("int16_ras_qform.nii", base, affine((0, 1, 2), (1, 1, 1)), np.int16, qform_only=True)
    add("uint8_slope.nii.gz", base % 256, affine((0, 1, 2), (-1, -1, 1)), np.uint8, slope=1500 / 255, inter=-1250)
    add("int8.nii", base % 100 - 50, affine((0, 1, 2), (1, -1, 1)), np.int8)
    add("uint16_inter.nii.gz", base + 1024, affine((0, 1, 2), (-1, -1, 1)), np.uint16, slope=1.0, inter=-1024)
    add("int32.nii.gz", base * 3, affine((0, 1, 2), (1, 1, 1)), np.int32)
    add("float32.nii.gz", base * 0.5, affine((0, 1, 2), (-1, 1, 1)), np.float32)
    add("float64.nii", base * 0.25, affine((0, 1, 2), (1, 1, -1)), np.float64)
    add("permuted_sal.nii.gz", base, affine((2, 1, 0), (1, 1, -1)), np.int16)
    add("permuted_pil.nii.gz", base, affine((1, 2, 0), (-1, -1, -1)), np.int16)
    add("big_endian.nii", base, affine((0, 1, 2), (-1, -1, 1)), np.int16, endian=">")
    add("nifti2.nii.gz", base, affine((0, 1, 2), (-1, -1, 1)), np.int16, cls=nib.Nifti2Image)
    # Integer data known to become int16 (inflated into the output and converted
    # in place: widening and same-width), and big-endian data converted while
    # streaming.
    add("uint8.nii.gz", base % 256, affine((0, 1, 2), (-1, -1, 1)), np.uint8)
    add("int8_inter.nii.gz", base % 100 - 50, affine((0, 1, 2), (1, -1, 1)), np.int8, slope=1.0, inter=-20)
    add("uint16_shift.nii.gz", base + 1024, affine((0, 1, 2), (-1, -1, 1)), np.uint16, slope=1.0, inter=-32768)
    add("float32_be.nii.gz", base * 0.5, affine((0, 1, 2), (-1, 1, 1)), np.float32, endian=">")
    add("four_d.nii.gz", np.stack([base, base + 1], axis=-1), affine((0, 1, 2), (-1, -1, 1)), np.int16)
    print(json.dumps(cases))


def read(path):
    img = nib.load(path)
    data = np.asarray(img.dataobj)
    hist = {int(k): int(v) for k, v in zip(*np.unique(data, return_counts=True))} if data.dtype.kind in "ui" else {}
    print(json.dumps({"shape": list(data.shape), "affine": img.affine.tolist(), "dtype": str(data.dtype),
                      "histogram": hist, "qform_code": int(img.header["qform_code"]),
                      "sform_code": int(img.header["sform_code"]),
                      "pixdim": [float(x) for x in img.header["pixdim"][1:4]]}))


if __name__ == "__main__":
    {"write": fixtures, "read": read}[sys.argv[1]](sys.argv[2])
