#!/usr/bin/env python3
"""Regenerates the malformed-NIfTI corpus in this folder (committed; run by hand).

Every file is derived from one small valid int16 volume written here byte by byte
(no nibabel needed), then damaged in one specific way. tests/io/nifti_malformed.rs
expects a precise error (or warning) for each.
"""
import gzip, os, struct, zlib

HERE = os.path.dirname(os.path.abspath(__file__))
DIMS = (6, 5, 4)


def header(dims=DIMS, datatype=4, bitpix=16, pixdim=(0.8, 0.8, 2.5),
           vox_offset=352.0, magic=b"n+1\0", dim0=None, slope=1.0, inter=0.0,
           sform=1, qform=1, endian="<"):
    dim = [dim0 if dim0 is not None else len(dims)] + list(dims) + [1] * (7 - len(dims))
    h = bytearray(348)
    struct.pack_into(endian + "i", h, 0, 348)
    struct.pack_into(endian + "8h", h, 40, *dim)
    struct.pack_into(endian + "hhh", h, 70, datatype, bitpix, 0)
    struct.pack_into(endian + "8f", h, 76, 1.0, *pixdim, 0, 0, 0, 0)
    struct.pack_into(endian + "fff", h, 108, vox_offset, slope, inter)
    struct.pack_into(endian + "B", h, 123, 2)  # mm
    struct.pack_into(endian + "hh", h, 252, qform, sform)
    struct.pack_into(endian + "6f", h, 256, 0, 0, 0, -2.0, -1.6, -3.75)
    struct.pack_into(endian + "4f", h, 280, -pixdim[0], 0, 0, 2.0)
    struct.pack_into(endian + "4f", h, 296, 0, -pixdim[1], 0, 1.6)
    struct.pack_into(endian + "4f", h, 312, 0, 0, pixdim[2], -3.75)
    h[148:148 + 22] = b"lungscope test corpus\0"
    h[344:348] = magic
    return bytes(h) + b"\0\0\0\0"


def data_i16(n, endian="<"):
    return struct.pack(endian + "%dh" % n, *[(i * 37) % 2000 - 1000 for i in range(n)])


def write(name, payload, gz=False):
    path = os.path.join(HERE, name)
    with open(path, "wb") as f:
        f.write(gzip.compress(payload, mtime=0) if gz else payload)


n = DIMS[0] * DIMS[1] * DIMS[2]
valid = header() + data_i16(n)
write("valid_int16.nii", valid)
write("valid_int16.nii.gz", valid, gz=True)
write("empty.nii", b"")
write("not_nifti.nii.gz", b"this is a text file, not an image\n" * 20, gz=True)
write("png_renamed.nii", b"\x89PNG\r\n\x1a\n" + bytes(400))
write("wrong_magic.nii", header(magic=b"xyz\0") + data_i16(n))
write("header_pair_magic.nii", header(magic=b"ni1\0") + data_i16(n))
write("header_only.nii", valid[:200])
write("truncated_data.nii", valid[: 352 + n])  # half of the voxels
whole = gzip.compress(valid, mtime=0)
write("truncated_stream.nii.gz", whole[: len(whole) * 2 // 3])
bad = bytearray(whole)
for i in range(40, min(len(bad) - 8, 80)):
    bad[i] ^= 0x5A
write("corrupt_stream.nii.gz", bytes(bad))
write("impossible_dims.nii.gz", header(dims=(30000, 30000, 30000)) + data_i16(n), gz=True)
write("impossible_dims.nii", header(dims=(30000, 30000, 30000)) + data_i16(n))
write("zero_dim.nii", header(dims=(6, 0, 4)) + data_i16(n))
write("negative_dim.nii", header(dims=(6, -5, 4)) + data_i16(n))
write("bad_dim0.nii", header(dim0=9) + data_i16(n))
write("unsupported_complex.nii", header(datatype=32, bitpix=64) + bytes(8 * n))
write("unsupported_rgb.nii", header(datatype=128, bitpix=24) + bytes(3 * n))
write("absurd_spacing_zero.nii", header(pixdim=(0.0, 0.8, 2.5), sform=0, qform=1) + data_i16(n))
write("absurd_spacing_huge.nii", header(pixdim=(1e6, 0.8, 2.5), sform=0, qform=1) + data_i16(n))
write("absurd_spacing_nan.nii", header(pixdim=(float("nan"), 0.8, 2.5), sform=0, qform=1) + data_i16(n))
vals = [float(i) for i in range(n)]
vals[3] = float("nan")
vals[7] = float("inf")
vals[11] = float("-inf")
write("nan_voxels.nii", header(datatype=16, bitpix=32) + struct.pack("<%df" % n, *vals))
write("four_d_three_volumes.nii", header(dims=DIMS + (3,)) + data_i16(n * 3))
write("big_endian.nii", header(endian=">") + data_i16(n, ">"))
print("corpus written to", HERE)
