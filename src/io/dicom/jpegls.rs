//! JPEG-LS frames (lossless and near-lossless) checked before CharLS decodes them.
//!
//! dicom-pixeldata decodes JPEG-LS with CharLS (its `charls` feature), which sizes
//! its output buffer from the stream's own frame header. A hostile stream can
//! declare 65535 × 65535 pixels of 255 components (or up to 2³² pixels a side
//! through an LSE segment) in a file of a few hundred bytes; that allocation
//! would abort the process before any error could come back. So the header of
//! every frame is read first, by CharLS's own parser (it decodes no pixels and
//! allocates nothing from the stream), and must agree with the DICOM header,
//! whose image size the read budget has already bounded. CharLS's C API catches
//! its own exceptions and returns error codes; a Rust panic anywhere in the
//! decoding is caught by `pixels::decode_file`.

use super::header::FrameShape;
use std::borrow::Cow;

/// JPEG-LS Lossless Image Compression.
const LOSSLESS: &str = "1.2.840.10008.1.2.4.80";
/// JPEG-LS Lossy (Near-Lossless) Image Compression.
const NEAR_LOSSLESS: &str = "1.2.840.10008.1.2.4.81";

/// Whether `uid` is one of the two JPEG-LS transfer syntaxes.
pub(super) fn is_jpegls(uid: &str) -> bool {
    uid == LOSSLESS || uid == NEAR_LOSSLESS
}

/// Checks the JPEG-LS header of every frame in `fragments` (the encapsulated
/// pixel data, without the offset table) against `expected` and returns the
/// largest NEAR they declare (0: lossless; near-lossless decoding leaves every
/// sample within NEAR of the original). The error is the reason, for
/// [`super::DicomError::Decode`].
pub(super) fn check_frames(fragments: &[Vec<u8>], expected: FrameShape) -> Result<u8, String> {
    let streams = frame_streams(fragments);
    if streams.is_empty() {
        return Err("the encapsulated pixel data hold no JPEG-LS frame".into());
    }
    let mut near = 0;
    for (k, stream) in streams.iter().enumerate() {
        let n = check_stream(stream, expected).map_err(|e| {
            if streams.len() > 1 {
                format!("JPEG-LS frame {}: {e}", k + 1)
            } else {
                e
            }
        })?;
        near = near.max(n);
    }
    Ok(near)
}

/// The frames' streams: each starts at a fragment that begins with the SOI
/// marker and runs on over the fragments that do not (a frame split over
/// several fragments). JPEG-LS byte stuffing keeps FF D8 out of coded data.
fn frame_streams(fragments: &[Vec<u8>]) -> Vec<Cow<'_, [u8]>> {
    let mut groups: Vec<Vec<&[u8]>> = Vec::new();
    for f in fragments {
        match groups.last_mut() {
            Some(g) if !f.starts_with(&[0xFF, 0xD8]) => g.push(f),
            _ => groups.push(vec![f]),
        }
    }
    groups
        .into_iter()
        .map(|g| match g.as_slice() {
            [one] => Cow::Borrowed(*one),
            many => Cow::Owned(many.concat()),
        })
        .collect()
}

/// Reads one stream's frame header with CharLS, compares it to `expected` and
/// returns the NEAR of its first scan.
fn check_stream(stream: &[u8], expected: FrameShape) -> Result<u8, String> {
    if stream.is_empty() {
        return Err("empty JPEG-LS frame".into());
    }
    let info = charls::CharLS::default()
        .get_frame_info(stream)
        .map_err(|e| format!("unreadable JPEG-LS header: {e}"))?;
    if (info.width, info.height) != (expected.cols, expected.rows) {
        return Err(format!(
            "the JPEG-LS stream declares {} x {} pixels, the DICOM header {} x {}",
            info.width, info.height, expected.cols, expected.rows
        ));
    }
    if u32::try_from(info.component_count).ok() != Some(expected.samples_per_pixel) {
        return Err(format!(
            "the JPEG-LS stream declares {} components, the DICOM header {} samples per pixel",
            info.component_count, expected.samples_per_pixel
        ));
    }
    let bits = u32::try_from(info.bits_per_sample).unwrap_or(0);
    if bits < 2 || bits > expected.bits_allocated {
        return Err(format!(
            "the JPEG-LS stream declares {} bits per sample, BitsAllocated is {}",
            info.bits_per_sample, expected.bits_allocated
        ));
    }
    let (data, near) = first_scan(stream).ok_or("JPEG-LS header without a readable scan header")?;
    // CharLS reads past the end of a cut stream as zero bits and goes on
    // through every remaining pixel (seconds for one CT slice) before it
    // fails; a marker after the coded data stops it at once. A complete
    // stream ends with EOI (FF D9), which coded data cannot contain (an FF
    // there is followed by a byte below 0x80).
    if !stream[data..].windows(2).any(|w| w == [0xFF, 0xD9]) {
        return Err(
            "the JPEG-LS stream has no end-of-image marker after its scan (truncated)".into(),
        );
    }
    Ok(near)
}

/// The first scan: where its coded data start and its NEAR. The marker
/// segments after SOI are walked (each `FF code length ...`, fill bytes `FF`
/// skipped) up to SOS, whose NEAR follows its component list
/// (`FF DA length Ns (Ci Tmi)×Ns NEAR ILV Al/Ah`).
fn first_scan(stream: &[u8]) -> Option<(usize, u8)> {
    let mut i = 2;
    while i + 4 <= stream.len() {
        if stream[i] != 0xFF {
            return None;
        }
        let code = stream[i + 1];
        if code == 0xFF {
            i += 1;
            continue;
        }
        let len = usize::from(u16::from_be_bytes([stream[i + 2], stream[i + 3]]));
        if code == 0xDA {
            let ns = usize::from(*stream.get(i + 4)?);
            let near = *stream.get(i + 5 + 2 * ns)?;
            return Some(((i + 2 + len).min(stream.len()), near));
        }
        if len < 2 {
            return None;
        }
        i += 2 + len;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal JPEG-LS stream header (SOI, SOF55, SOS) of one component,
    /// followed by a few bytes of coded data and EOI.
    fn header(width: u16, height: u16, bits: u8, near: u8) -> Vec<u8> {
        let mut s = vec![0xFF, 0xD8, 0xFF, 0xF7, 0x00, 0x0B, bits];
        s.extend_from_slice(&height.to_be_bytes());
        s.extend_from_slice(&width.to_be_bytes());
        s.extend_from_slice(&[1, 1, 0x11, 0]);
        s.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 1, 1, 0, near, 0, 0]);
        s.extend_from_slice(&[0, 0, 0, 0, 0xFF, 0xD9]);
        s
    }

    const CT: FrameShape = FrameShape {
        cols: 512,
        rows: 512,
        samples_per_pixel: 1,
        bits_allocated: 16,
    };

    #[test]
    fn a_header_that_matches_passes_with_its_near() {
        assert_eq!(check_frames(&[header(512, 512, 16, 0)], CT), Ok(0));
        assert_eq!(check_frames(&[header(512, 512, 12, 3)], CT), Ok(3));
        // The largest NEAR of several frames.
        let frames = [header(512, 512, 16, 2), header(512, 512, 16, 5)];
        assert_eq!(check_frames(&frames, CT), Ok(5));
    }

    #[test]
    fn absurd_or_inconsistent_sizes_are_refused_before_decoding() {
        let e = check_frames(&[header(65535, 65535, 16, 0)], CT).unwrap_err();
        assert!(
            e.contains("65535 x 65535") && e.contains("512 x 512"),
            "{e}"
        );
        let e = check_frames(&[header(512, 512, 16, 0), header(512, 511, 16, 0)], CT).unwrap_err();
        assert!(e.starts_with("JPEG-LS frame 2:"), "{e}");
        let e = check_frames(
            &[header(512, 512, 16, 0)],
            FrameShape {
                bits_allocated: 8,
                ..CT
            },
        )
        .unwrap_err();
        assert!(e.contains("16 bits per sample"), "{e}");
    }

    #[test]
    fn broken_headers_are_errors() {
        let good = header(512, 512, 16, 0);
        assert!(check_frames(&[], CT).is_err());
        assert!(check_frames(&[Vec::new()], CT).is_err());
        // Every prefix of the header, and every single corrupted byte.
        for cut in 0..good.len() - 6 {
            let e = check_frames(&[good[..cut].to_vec()], CT);
            assert!(e.is_err(), "prefix of {cut} bytes accepted");
        }
        for at in 0..good.len() {
            let mut bad = good.clone();
            bad[at] ^= 0xA5;
            let _ = check_frames(&[bad], CT);
        }
        let e = check_frames(&[vec![0x42; 64]], CT).unwrap_err();
        assert!(e.contains("unreadable JPEG-LS header"), "{e}");
    }

    #[test]
    fn a_stream_without_end_of_image_is_truncated() {
        let mut cut = header(512, 512, 16, 0);
        cut.truncate(cut.len() - 2);
        let e = check_frames(&[cut], CT).unwrap_err();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn a_frame_split_over_fragments_is_joined() {
        let h = header(512, 512, 16, 0);
        let (a, b) = h.split_at(9);
        check_frames(&[a.to_vec(), b.to_vec()], CT).expect("split frame");
        assert_eq!(frame_streams(&[a.to_vec(), b.to_vec(), h.clone()]).len(), 2);
    }
}
