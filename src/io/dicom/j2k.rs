//! JPEG 2000 frames checked before dicom-rs decodes them.
//!
//! dicom-transfer-syntax-registry's JPEG 2000 adapter sizes its output from the
//! DICOM header and then copies every sample OpenJPEG decoded into it, without
//! comparing the codestream's own image size: a codestream declaring 32 × 8192
//! pixels in a 32 × 32 image (one changed byte, found by the `dicom` fuzz target)
//! makes it index past its buffer. `pixels::decode_file` catches such a panic,
//! but a panic still prints to the terminal, so the image and tile size (SIZ)
//! segment of every frame is read here first (the first marker segment after the
//! start of codestream, ISO/IEC 15444-1 A.5.1) and must agree with the DICOM
//! header: width, height, number of components, and at most 16 bits per
//! component. A frame wrapped in a JP2 file is checked through its contiguous
//! codestream box, found by walking the file's boxes; a JP2 file with a palette
//! (`pclr`, which makes one coded component several decoded ones) is refused.

use super::header::FrameShape;
/// JPEG 2000 transfer syntaxes dicom-rs decodes with OpenJPEG: Part 1 lossless
/// and lossy, Part 2 multi-component lossless and lossy, and the High-Throughput
/// ones (a test checks this list against dicom-rs's registry).
const SYNTAXES: [&str; 7] = [
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.92",
    "1.2.840.10008.1.2.4.93",
    "1.2.840.10008.1.2.4.201",
    "1.2.840.10008.1.2.4.202",
    "1.2.840.10008.1.2.4.203",
];

/// Start of codestream, then the SIZ marker.
const SOC_SIZ: [u8; 4] = [0xFF, 0x4F, 0xFF, 0x51];
/// The JPEG 2000 signature box that starts a JP2 file.
const JP2_SIGNATURE: [u8; 8] = [0, 0, 0, 0x0C, b'j', b'P', b' ', b' '];

/// Whether `uid` is a JPEG 2000 transfer syntax.
pub(super) fn is_j2k(uid: &str) -> bool {
    SYNTAXES.contains(&uid)
}

/// Checks the SIZ segment of every frame in `fragments` (the encapsulated pixel
/// data, without the offset table): each frame starts at a fragment that begins
/// with a codestream or a JP2 file, and fragments that begin with neither
/// continue the frame before them. The error is the reason, for
/// [`super::DicomError::Decode`].
pub(super) fn check_frames(fragments: &[Vec<u8>], expected: FrameShape) -> Result<(), String> {
    let Some(first) = fragments.first() else {
        return Err("the encapsulated pixel data hold no JPEG 2000 frame".into());
    };
    if codestream(first)?.is_none() {
        return Err(
            "the first fragment starts with neither a JPEG 2000 codestream nor a JP2 file".into(),
        );
    }
    let mut starts: Vec<&[u8]> = Vec::new();
    for f in fragments {
        if let Some(stream) = codestream(f)? {
            starts.push(stream);
        }
    }
    for (k, stream) in starts.iter().enumerate() {
        check_siz(stream, expected).map_err(|e| {
            if starts.len() > 1 {
                format!("JPEG 2000 frame {}: {e}", k + 1)
            } else {
                e
            }
        })?;
    }
    Ok(())
}

/// The codestream a fragment starts (itself, or the contiguous codestream box of
/// a JP2 file), `Ok(None)` for a fragment that continues a frame, or the reason a
/// JP2 file is refused.
fn codestream(fragment: &[u8]) -> Result<Option<&[u8]>, String> {
    if fragment.starts_with(&SOC_SIZ[..2]) {
        return Ok(Some(fragment));
    }
    if fragment.starts_with(&JP2_SIGNATURE) {
        return jp2_codestream(fragment).map(Some);
    }
    Ok(None)
}

/// One box of a JP2 file: its type and contents, and what follows it.
struct Jp2Box<'a> {
    kind: [u8; 4],
    contents: &'a [u8],
    rest: &'a [u8],
}

/// The box `data` starts with.
fn next_box(data: &[u8]) -> Result<Jp2Box<'_>, String> {
    let cut = || "a JP2 box header is cut short".to_string();
    let head = data.get(..8).ok_or_else(cut)?;
    let kind = [head[4], head[5], head[6], head[7]];
    let declared = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
    let (header, length) = match declared {
        // Up to the end of the file.
        0 => (8, data.len() as u64),
        // An 8-byte length follows the type.
        1 => {
            let l = data.get(8..16).ok_or_else(cut)?;
            let mut b = [0u8; 8];
            b.copy_from_slice(l);
            (16, u64::from_be_bytes(b))
        }
        l => (8, l),
    };
    let length = usize::try_from(length)
        .ok()
        .filter(|&l| l >= header && l <= data.len())
        .ok_or_else(|| {
            format!(
                "the JP2 box \"{}\" declares {length} bytes, more than the file holds or fewer than its header",
                String::from_utf8_lossy(&kind)
            )
        })?;
    Ok(Jp2Box {
        kind,
        contents: &data[header..length],
        rest: &data[length..],
    })
}

/// The contiguous codestream box (`jp2c`) of a JP2 file, walking its boxes; a
/// palette box in the header box is refused.
fn jp2_codestream(file: &[u8]) -> Result<&[u8], String> {
    let mut rest = file;
    while !rest.is_empty() {
        let b = next_box(rest)?;
        match &b.kind {
            b"jp2h" => {
                let mut inner = b.contents;
                while !inner.is_empty() {
                    let sub = next_box(inner)?;
                    if &sub.kind == b"pclr" {
                        return Err(
                            "the JP2 file maps its samples through a palette (pclr), which a CT image never does"
                                .into(),
                        );
                    }
                    inner = sub.rest;
                }
            }
            b"jp2c" => return Ok(b.contents),
            _ => {}
        }
        rest = b.rest;
    }
    Err("the JP2 file holds no codestream box (jp2c)".into())
}

fn check_siz(stream: &[u8], e: FrameShape) -> Result<(), String> {
    if !stream.starts_with(&SOC_SIZ) {
        return Err("the codestream does not start with its image size (SIZ) segment".into());
    }
    let siz = &stream[4..];
    let u16_at = |i: usize| siz.get(i..i + 2).map(|b| u16::from_be_bytes([b[0], b[1]]));
    let u32_at = |i: usize| {
        siz.get(i..i + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    let cut = || "the image size (SIZ) segment is cut short".to_string();
    let x = u32_at(4).ok_or_else(cut)?;
    let y = u32_at(8).ok_or_else(cut)?;
    let x0 = u32_at(12).ok_or_else(cut)?;
    let y0 = u32_at(16).ok_or_else(cut)?;
    let components = u16_at(36).ok_or_else(cut)?;
    let (width, height) = (x.saturating_sub(x0), y.saturating_sub(y0));
    if width != e.cols || height != e.rows {
        return Err(format!(
            "the codestream holds {width} × {height} pixels, the DICOM header {} × {}",
            e.cols, e.rows
        ));
    }
    if u32::from(components) != e.samples_per_pixel {
        return Err(format!(
            "the codestream holds {components} components, the DICOM header {} samples per pixel",
            e.samples_per_pixel
        ));
    }
    for c in 0..usize::from(components) {
        let ssiz = *siz.get(38 + 3 * c).ok_or_else(cut)?;
        let bits = u32::from(ssiz & 0x7F) + 1;
        if bits > e.bits_allocated.min(16) {
            return Err(format!(
                "component {} has {bits} bits, more than the {} allocated",
                c + 1,
                e.bits_allocated
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A codestream start: SOC, SIZ for `w` × `h` with `bits`-bit components.
    fn siz(w: u32, h: u32, components: u16, bits: u8) -> Vec<u8> {
        let mut s = SOC_SIZ.to_vec();
        s.extend_from_slice(&(38 + 3 * components).to_be_bytes()); // Lsiz
        s.extend_from_slice(&0u16.to_be_bytes()); // Rsiz
        for v in [w, h, 0, 0, w, h, 0, 0] {
            s.extend_from_slice(&v.to_be_bytes());
        }
        s.extend_from_slice(&components.to_be_bytes());
        for _ in 0..components {
            s.extend_from_slice(&[0x80 | (bits - 1), 1, 1]);
        }
        s.extend_from_slice(&[0xFF, 0x52]); // the next marker
        s
    }

    const CT: FrameShape = FrameShape {
        cols: 32,
        rows: 32,
        samples_per_pixel: 1,
        bits_allocated: 16,
    };

    #[test]
    fn a_matching_frame_passes_and_others_are_refused_with_the_reason() {
        assert_eq!(check_frames(&[siz(32, 32, 1, 12)], CT), Ok(()));
        let e = check_frames(&[siz(32, 8192, 1, 12)], CT).expect_err("height");
        assert!(e.contains("32 × 8192 pixels"), "{e}");
        let e = check_frames(&[siz(32, 32, 2, 12)], CT).expect_err("components");
        assert!(e.contains("2 components"), "{e}");
        let e = check_frames(&[siz(32, 32, 1, 20)], CT).expect_err("depth");
        assert!(e.contains("20 bits"), "{e}");
        let e = check_frames(&[siz(32, 32, 1, 12)[..20].to_vec()], CT).expect_err("cut");
        assert!(e.contains("cut short"), "{e}");
        let e = check_frames(&[vec![0; 16]], CT).expect_err("no codestream");
        assert!(e.contains("neither"), "{e}");
        assert!(check_frames(&[], CT).is_err());
        // A second frame with another size, and a continuation fragment.
        let frames = [siz(32, 32, 1, 12), vec![1, 2, 3], siz(16, 32, 1, 12)];
        let e = check_frames(&frames, CT).expect_err("frame 2");
        assert!(e.starts_with("JPEG 2000 frame 2:"), "{e}");
    }

    #[test]
    fn a_jp2_file_is_checked_through_its_codestream_box() {
        let mut jp2 = JP2_SIGNATURE.to_vec();
        jp2.extend_from_slice(&[0x0D, 0x0A, 0x87, 0x0A]);
        jp2.extend_from_slice(&[0, 0, 0, 0]);
        jp2.extend_from_slice(b"jp2c");
        let mut good = jp2.clone();
        good.extend_from_slice(&siz(32, 32, 1, 12));
        assert_eq!(check_frames(&[good], CT), Ok(()));
        jp2.extend_from_slice(&siz(64, 32, 1, 12));
        assert!(check_frames(&[jp2], CT).is_err());
    }

    /// A JP2 file of `boxes` (type, contents) after the signature box.
    fn jp2(boxes: &[(&[u8; 4], Vec<u8>)]) -> Vec<u8> {
        let mut out = JP2_SIGNATURE.to_vec();
        out.extend_from_slice(&[0x0D, 0x0A, 0x87, 0x0A]);
        for (kind, contents) in boxes {
            out.extend_from_slice(&(8 + contents.len() as u32).to_be_bytes());
            out.extend_from_slice(&kind[..]);
            out.extend_from_slice(contents);
        }
        out
    }

    #[test]
    fn a_jp2_file_is_walked_box_by_box() {
        let ihdr = |boxes: &[(&[u8; 4], Vec<u8>)]| jp2(boxes)[12..].to_vec();
        // A header box, then the codestream box: checked through the latter.
        let header = ihdr(&[
            (b"ihdr", vec![0; 14]),
            (b"colr", vec![1, 0, 0, 0, 0, 0, 17]),
        ]);
        let good = jp2(&[(b"jp2h", header.clone()), (b"jp2c", siz(32, 32, 1, 12))]);
        assert_eq!(check_frames(&[good], CT), Ok(()));
        let wrong = jp2(&[(b"jp2h", header), (b"jp2c", siz(46, 32, 1, 12))]);
        assert!(
            check_frames(&[wrong], CT)
                .expect_err("size")
                .contains("46 × 32")
        );
        // "jp2c" inside another box's contents is not the codestream box.
        let decoy = jp2(&[(b"xml ", b"jp2c".to_vec()), (b"jp2c", siz(46, 32, 1, 12))]);
        assert!(check_frames(&[decoy], CT).is_err());
        // A palette turns one coded component into several decoded ones.
        let palette = ihdr(&[(b"ihdr", vec![0; 14]), (b"pclr", vec![0; 8])]);
        let e = check_frames(
            &[jp2(&[(b"jp2h", palette), (b"jp2c", siz(32, 32, 1, 12))])],
            CT,
        )
        .expect_err("palette");
        assert!(e.contains("palette"), "{e}");
        // A box longer than the file, and a file without a codestream box.
        let mut long = jp2(&[(b"jp2c", siz(32, 32, 1, 12))]);
        long[12..16].copy_from_slice(&1000u32.to_be_bytes());
        assert!(
            check_frames(&[long], CT)
                .expect_err("long")
                .contains("declares 1000 bytes")
        );
        let none = jp2(&[(b"ftyp", vec![0; 12])]);
        assert!(
            check_frames(&[none], CT)
                .expect_err("none")
                .contains("no codestream box")
        );
        // Every cut of a good file is refused or passes, never panics.
        let good = jp2(&[(b"jp2c", siz(32, 32, 1, 12))]);
        for cut in 0..good.len() {
            let _ = check_frames(&[good[..cut].to_vec()], CT);
        }
    }

    /// Every JPEG 2000 transfer syntax dicom-rs decodes goes through this guard
    /// (the Part 2 ones were missing, found by the fuzz target).
    #[test]
    fn every_jpeg_2000_syntax_dicom_rs_decodes_is_guarded() {
        use dicom_transfer_syntax_registry::TransferSyntaxRegistry;
        let decoded: Vec<&str> = TransferSyntaxRegistry
            .iter()
            .filter(|ts| ts.name().contains("JPEG 2000") && ts.can_decode_all())
            .map(|ts| ts.uid())
            .collect();
        assert!(decoded.len() >= 4, "{decoded:?}");
        for uid in decoded {
            assert!(is_j2k(uid), "{uid} is decoded by dicom-rs but not guarded");
        }
    }
}
