//! RLE Lossless frames checked before dicom-rs decodes them.
//!
//! dicom-transfer-syntax-registry's RLE decoder trusts each frame's RLE header
//! and segments: a fragment shorter than its 64-byte header, a segment count it
//! does not check, or a segment that decodes to fewer bytes than the frame has
//! pixels makes it index out of bounds (found by the `dicom` fuzz target with a
//! one-bit change of a valid file). `pixels::decode_file` catches such a panic,
//! but a panic still prints to the terminal, so every frame is walked here
//! first, the way that decoder walks it (PackBits, counting bytes, allocating
//! nothing), and one that it would not decode in full is refused with the
//! reason. The checks follow DICOM PS3.5 annex G: a 64-byte header of the
//! segment count (1 to 15) and fifteen offsets, one segment per byte of each
//! sample, in order.

use super::header::FrameShape;
/// RLE Lossless.
const RLE_LOSSLESS: &str = "1.2.840.10008.1.2.5";

/// The size of an RLE header: the segment count and fifteen offsets.
const HEADER: usize = 64;

/// Whether `uid` is RLE Lossless.
pub(super) fn is_rle(uid: &str) -> bool {
    uid == RLE_LOSSLESS
}

/// Checks every frame (one fragment each) against the image size: enough
/// segments, offsets inside the fragment and in order, and each segment the
/// decoder reads producing at least `rows × cols` bytes. The error is the
/// reason, for [`super::DicomError::Decode`].
pub(super) fn check_frames(fragments: &[Vec<u8>], shape: FrameShape) -> Result<(), String> {
    let FrameShape {
        rows,
        cols,
        samples_per_pixel,
        bits_allocated,
    } = shape;
    if fragments.is_empty() {
        return Err("the encapsulated pixel data hold no RLE frame".into());
    }
    if bits_allocated != 8 && bits_allocated != 16 {
        return Err(format!(
            "RLE with {bits_allocated} bits allocated (8 or 16 are decoded)"
        ));
    }
    let needed = samples_per_pixel as usize * (bits_allocated as usize / 8);
    let pixels = rows as usize * cols as usize;
    for (k, fragment) in fragments.iter().enumerate() {
        check_frame(fragment, needed, pixels).map_err(|e| {
            if fragments.len() > 1 {
                format!("RLE frame {}: {e}", k + 1)
            } else {
                e
            }
        })?;
    }
    Ok(())
}

fn check_frame(fragment: &[u8], needed: usize, pixels: usize) -> Result<(), String> {
    let header = fragment
        .get(..HEADER)
        .ok_or_else(|| format!("{} bytes, shorter than the RLE header", fragment.len()))?;
    let word = |i: usize| -> usize {
        let b = [
            header[4 * i],
            header[4 * i + 1],
            header[4 * i + 2],
            header[4 * i + 3],
        ];
        u32::from_le_bytes(b) as usize
    };
    let count = word(0);
    if !(1..=15).contains(&count) {
        return Err(format!("{count} RLE segments (1 to 15 are allowed)"));
    }
    if count < needed {
        return Err(format!(
            "{count} RLE segments where the image needs {needed} (one per byte of each sample)"
        ));
    }
    let mut offsets: Vec<usize> = (1..=count).map(word).collect();
    offsets.push(fragment.len());
    if offsets[0] < HEADER || offsets.windows(2).any(|w| w[0] > w[1]) {
        return Err(format!(
            "RLE segment offsets {:?} are not in order within the {} bytes of the frame",
            &offsets[..count],
            fragment.len()
        ));
    }
    for s in 0..needed {
        let segment = &fragment[offsets[s]..offsets[s + 1]];
        let decoded = packbits_len(segment)
            .ok_or_else(|| format!("RLE segment {} ends inside a run", s + 1))?;
        if decoded < pixels {
            return Err(format!(
                "RLE segment {} decodes to {decoded} bytes, the image has {pixels} pixels",
                s + 1
            ));
        }
    }
    Ok(())
}

/// The number of bytes a PackBits segment decodes to, walked as dicom-rs's
/// reader walks it (a literal run cut short copies what is there; a repeat run
/// without its byte is an error: `None`).
fn packbits_len(segment: &[u8]) -> Option<usize> {
    let mut out = 0usize;
    let mut i = 0;
    while i < segment.len() {
        let h = segment[i] as i8;
        i += 1;
        match h {
            -128 => {}
            -127..=-1 => {
                if i >= segment.len() {
                    return None;
                }
                out += 1 + usize::from(h.unsigned_abs());
                i += 1;
            }
            _ => {
                let n = h as usize + 1;
                out += n.min(segment.len() - i);
                i += n;
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(bits_allocated: u32) -> FrameShape {
        FrameShape {
            cols: 2,
            rows: 2,
            samples_per_pixel: 1,
            bits_allocated,
        }
    }

    /// One frame: a header with `offsets` and the segments after it.
    fn frame(segments: &[Vec<u8>]) -> Vec<u8> {
        let mut header = vec![0u8; HEADER];
        header[..4].copy_from_slice(&(segments.len() as u32).to_le_bytes());
        let mut at = HEADER;
        for (k, s) in segments.iter().enumerate() {
            header[4 + 4 * k..8 + 4 * k].copy_from_slice(&(at as u32).to_le_bytes());
            at += s.len();
        }
        let mut f = header;
        for s in segments {
            f.extend_from_slice(s);
        }
        f
    }

    #[test]
    fn packbits_lengths_follow_the_runs() {
        // 3 literal bytes, a run of 4, a no-op, 1 literal.
        assert_eq!(
            packbits_len(&[2, 1, 2, 3, (-3i8) as u8, 9, 0x80, 0, 7]),
            Some(8)
        );
        assert_eq!(
            packbits_len(&[(-3i8) as u8]),
            None,
            "repeat without its byte"
        );
        assert_eq!(packbits_len(&[5, 1, 2]), Some(2), "a cut literal run");
    }

    #[test]
    fn a_whole_frame_passes_and_damaged_ones_are_refused_with_the_reason() {
        // 2 × 2 pixels of 16 bits: two segments (high and low bytes) of 4 bytes.
        let seg = vec![(-3i8) as u8, 0];
        let good = frame(&[seg.clone(), seg.clone()]);
        assert_eq!(check_frames(std::slice::from_ref(&good), shape(16)), Ok(()));

        let short = frame(&[seg.clone(), vec![1, 0, 0]]);
        let e = check_frames(&[short], shape(16)).expect_err("short segment");
        assert!(e.contains("decodes to 2 bytes"), "{e}");

        let one = frame(std::slice::from_ref(&seg));
        let e = check_frames(&[one], shape(16)).expect_err("one segment");
        assert!(e.contains("needs 2"), "{e}");

        let e = check_frames(&[good[..40].to_vec()], shape(16)).expect_err("cut header");
        assert!(e.contains("shorter than the RLE header"), "{e}");

        let mut count = good.clone();
        count[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = check_frames(&[count], shape(16)).expect_err("count");
        assert!(e.contains("segments (1 to 15"), "{e}");

        let mut order = good.clone();
        order[8..12].copy_from_slice(&1000u32.to_le_bytes());
        let e = check_frames(&[order], shape(16)).expect_err("offsets");
        assert!(e.contains("not in order"), "{e}");

        let e = check_frames(&[good.clone(), vec![0; 10]], shape(16)).expect_err("frame 2");
        assert!(e.starts_with("RLE frame 2:"), "{e}");
        assert!(check_frames(&[], shape(16)).is_err());
        assert!(check_frames(&[good], shape(32)).is_err());
    }
}
