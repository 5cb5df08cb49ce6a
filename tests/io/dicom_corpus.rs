//! DICOM files that found defects in the readers (most by the `dicom` fuzz target),
//! kept in `tests/corpus/`: each must be refused with its own clear error, by the
//! guard that now stands in front of the parser or codec that misbehaved (see
//! `docs/fuzzing.md`).

use crate::dicom_read::open_err;
use lungscope::io::DicomError;
use std::path::{Path, PathBuf};

/// A file of `tests/corpus/`.
fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(name)
}

/// The error reading `tests/corpus/NAME` gives (a panic if it reads).
fn corpus_err(name: &str) -> DicomError {
    open_err(&corpus(name), None)
}

/// The error reading `tests/corpus/NAME` gives, checked to say `says` (what the
/// guard in front of the parser or codec found).
fn refused_by_guard(name: &str, says: &str) -> DicomError {
    let e = corpus_err(name);
    assert!(e.to_string().contains(says), "the guard refused it: {e}");
    e
}

/// Found by the fuzzer: a deflated data set whose element declares 1.29 GB made the
/// parser allocate it (1.3 GB of memory, 1.5 s) before failing. The length guard
/// now inflates the data set first and checks lengths against what it holds.
#[test]
fn a_deflated_data_set_with_an_impossible_length_is_refused_by_the_guard() {
    let e = refused_by_guard("dicom_deflate_hostile_length.dcm", "declares");
    assert!(matches!(e, DicomError::NotDicom { .. }), "{e}");
}

/// Found by the `dicom` fuzz target (out of memory): a 1,486-byte deflated file
/// whose file meta group length (208) overstates its elements (186 bytes). The
/// guard inflated from where the elements end, found nothing and let the parser
/// go on; the parser inflated from where the group length points, read an
/// element declaring 3.1 GB and allocated it (3 GB of memory, 2 s) before failing.
/// The guard now refuses a group length its elements disagree with, and a
/// deflated data set that does not inflate.
#[test]
fn a_file_meta_group_length_its_elements_disagree_with_is_refused() {
    let e = refused_by_guard(
        "dicom_deflate_meta_length.dcm",
        "the file meta group length says 208 bytes but its elements take 186",
    );
    assert!(matches!(e, DicomError::NotDicom { .. }), "{e}");
}

/// Found by the `dicom` fuzz target (out of memory): an element with the unknown
/// VR "Uz". The parser reads an unknown VR as UN (reserved bytes, then a 32-bit
/// length: 4,294,967,089 here) while the guard read it with a 16-bit length (26)
/// and let it pass; the parser then allocated 4 GB for a 1,346-byte file. The
/// guard now reads lengths as the parser does.
#[test]
fn an_unknown_vr_is_read_with_the_parsers_length_and_refused() {
    let e = refused_by_guard(
        "dicom_unknown_vr_length.dcm",
        "element (0008,0016) declares 4294967089 bytes",
    );
    assert!(matches!(e, DicomError::NotDicom { .. }), "{e}");
}

/// Found by the `dicom` fuzz target (out of memory): a deflated data set whose
/// stream breaks after a few elements. The guard's bulk inflate lost the bytes
/// before the break and let the file pass; the parser, reading in small pieces,
/// got an element declaring 4.2 GB from them and allocated it. A stream that
/// breaks anywhere is now refused.
#[test]
fn a_deflated_data_set_that_breaks_midway_is_refused() {
    let e = refused_by_guard(
        "dicom_deflate_corrupt_stream.dcm",
        "the deflated data set does not inflate",
    );
    assert!(matches!(e, DicomError::NotDicom { .. }), "{e}");
}

/// Found by the `dicom` fuzz target (out of memory): a zero-length pixel data
/// element followed by a damaged tag and a stray item outside any sequence. The
/// guard stopped at the item; the parser read on, into the JPEG 2000 stream, found
/// an element declaring 4.3 GB and allocated it. Such an item is now refused.
#[test]
fn an_item_outside_any_sequence_is_refused_by_the_guard() {
    let e = refused_by_guard(
        "dicom_stray_item.dcm",
        "an item or delimiter tag (FFFE,E000) outside any sequence",
    );
    assert!(matches!(e, DicomError::NotDicom { .. }), "{e}");
}

/// Found by the `dicom` fuzz target built with overflow checks in every crate: an
/// addition in OpenJPEG's Rust port that wraps (as in C) on a damaged packet
/// header. As shipped, the decoder fails cleanly; this keeps it so.
#[test]
fn a_damaged_jpeg2000_packet_header_is_a_clean_decoder_error() {
    let e = corpus_err("dicom_j2k_packet_overflow.dcm");
    assert!(matches!(e, DicomError::Decode { .. }), "{e}");
    assert!(e.to_string().contains("jpeg2k decoder failure"), "{e}");
}

/// The same file with its group length made right: the deflated data set then
/// starts with bytes that do not inflate, which the guard says.
#[test]
fn a_deflated_data_set_that_does_not_inflate_is_refused() {
    let src = corpus("dicom_deflate_meta_length.dcm");
    let mut bytes = std::fs::read(&src).expect("read");
    bytes[140..144].copy_from_slice(&186u32.to_le_bytes());
    let tmp = tempfile::tempdir().expect("temp dir");
    let path = tmp.path().join("broken_deflate.dcm");
    std::fs::write(&path, &bytes).expect("write");
    let e = open_err(&path, None);
    assert!(
        e.to_string()
            .contains("the deflated data set does not inflate"),
        "{e}"
    );
}

/// Found by the `dicom` fuzz target: a JPEG 2000 codestream declaring 32 × 8192
/// pixels in a 32 × 32 image; dicom-rs's adapter copied every decoded sample into
/// a buffer sized from the DICOM header and indexed past it (a panic, caught as
/// "the decoder failed"). The JPEG 2000 guard reads each frame's SIZ segment first.
#[test]
fn a_jpeg2000_frame_of_another_size_is_refused_by_the_guard() {
    let e = refused_by_guard(
        "dicom_j2k_size_mismatch.dcm",
        "the codestream holds 32 × 8192 pixels, the DICOM header 32 × 32",
    );
    assert!(matches!(e, DicomError::Decode { .. }), "{e}");
}

/// Found by the `dicom` fuzz target: the same kind of codestream (46 × 32 pixels
/// in a 32 × 32 image) under the JPEG 2000 Part 2 transfer syntax
/// (1.2.840.10008.1.2.4.92), which dicom-rs decodes with the same adapter but the
/// guard did not know; it now guards every JPEG 2000 syntax dicom-rs decodes.
#[test]
fn a_jpeg2000_part2_frame_of_another_size_is_refused_by_the_guard() {
    let e = refused_by_guard(
        "dicom_j2k_part2_size.dcm",
        "the codestream holds 46 × 32 pixels, the DICOM header 32 × 32",
    );
    assert!(matches!(e, DicomError::Decode { .. }), "{e}");
}

/// Found by the `dicom` fuzz target (out of memory: 3.7 GB for a 966-byte file):
/// in implicit VR, the group length (2861,0000) declares 513 bytes. Its VR is UL,
/// and dicom-rs reads 128 whole values (512 bytes) while moving its position by
/// 513, so it took the bytes after it for an element (FFFF,FFFF) of 4.3 GB and
/// allocated it; the length guard had skipped 513 bytes and seen nothing wrong.
/// The guard now gives each element the VR the parser gives it and refuses a
/// binary value that is not a whole number of values.
#[test]
fn a_binary_value_of_a_partial_length_is_refused_by_the_guard() {
    refused_by_guard(
        "dicom_ul_partial_value.dcm",
        "element (2861,0000) of VR UL declares 513 bytes, not a whole number of 4-byte values",
    );
}

/// Found by the `dicom` fuzz target (one bit changed in an RLE Lossless seed): the
/// second RLE segment of an 8 × 8 16-bit image decodes to 63 bytes, and dicom-rs's
/// RLE decoder indexed past its end (a panic, caught as "the decoder failed").
/// The RLE guard walks the segments first and names the short one.
#[test]
fn an_rle_frame_with_a_short_segment_is_refused_by_the_guard() {
    let e = refused_by_guard(
        "dicom_rle_short_segment.dcm",
        "RLE segment 2 decodes to 63 bytes, the image has 64 pixels",
    );
    assert!(matches!(e, DicomError::Decode { .. }), "{e}");
}
