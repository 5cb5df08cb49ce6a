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
//! component.

use super::header::FrameShape;
/// JPEG 2000 transfer syntaxes dicom-rs decodes with OpenJPEG (lossless and
/// lossy, and the High-Throughput ones).
const SYNTAXES: [&str; 5] = [
    "1.2.840.10008.1.2.4.90",
    "1.2.840.10008.1.2.4.91",
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
    if codestream(first).is_none() {
        return Err(
            "the first fragment starts with neither a JPEG 2000 codestream nor a JP2 file".into(),
        );
    }
    let starts: Vec<&[u8]> = fragments.iter().filter_map(|f| codestream(f)).collect();
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
/// a JP2 file), or `None` for a fragment that continues a frame.
fn codestream(fragment: &[u8]) -> Option<&[u8]> {
    if fragment.starts_with(&SOC_SIZ[..2]) {
        return Some(fragment);
    }
    if fragment.starts_with(&JP2_SIGNATURE) {
        let at = fragment.windows(4).position(|w| w == b"jp2c")?;
        return Some(&fragment[at + 4..]);
    }
    None
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
}
