//! A cheap pre-check of a DICOM file's declared element lengths.
//!
//! The parser allocates (and zero-fills) a buffer of each element's declared
//! length before reading it, so a corrupt 1 KB file declaring a 4 GB element
//! would cost 4 GB of memory before failing. This walk reads only element headers
//! (seeking over values) and refuses any length larger than what is left of the
//! file, so allocations stay bounded by the file size.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

const UNDEFINED: u32 = 0xFFFF_FFFF;
const MAX_NESTING: usize = 16;
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

struct Walker {
    r: BufReader<File>,
    len: u64,
    implicit: bool,
    big_endian: bool,
    stop_at_pixels: bool,
}

/// Why the walk stopped early.
enum Stop {
    /// Reached the pixel data (with `stop_at_pixels`) or a delimiter.
    Done,
    /// The end of the file.
    Eof,
}

type Walk = Result<Stop, String>;

/// Checks the declared lengths of `path` (up to the pixel data when
/// `stop_at_pixels`). Files without the `DICM` marker or with deflated data sets
/// are not checked. The error says which element is impossible.
pub(super) fn check_lengths(path: &Path, stop_at_pixels: bool) -> Result<(), String> {
    let Ok(file) = File::open(path) else {
        return Ok(()); // the parser reports the I/O error
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(u64::MAX);
    let mut w = Walker {
        r: BufReader::with_capacity(8192, file),
        len,
        implicit: false,
        big_endian: false,
        stop_at_pixels,
    };
    let mut head = [0u8; 132];
    if w.r.read_exact(&mut head).is_err() || &head[128..132] != b"DICM" {
        return Ok(());
    }
    let ts = w.meta()?;
    match ts.as_str() {
        DEFLATED => return Ok(()),
        IMPLICIT_LE => w.implicit = true,
        EXPLICIT_BE => w.big_endian = true,
        _ => {}
    }
    w.dataset(u64::MAX, 0).map(|_| ())
}

impl Walker {
    fn pos(&mut self) -> Result<u64, String> {
        self.r.stream_position().map_err(|e| e.to_string())
    }

    fn read<const N: usize>(&mut self) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).ok().map(|_| b)
    }

    fn u16(&self, b: [u8; 2]) -> u16 {
        if self.big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    }

    fn u32(&self, b: [u8; 4]) -> u32 {
        if self.big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    }

    fn skip(&mut self, n: u64) -> Result<(), String> {
        let n = i64::try_from(n).map_err(|_| "length overflow".to_string())?;
        self.r.seek_relative(n).map_err(|e| e.to_string())
    }

    fn check(&mut self, tag: (u16, u16), len: u32, end: u64) -> Result<(), String> {
        if len == UNDEFINED {
            return Ok(());
        }
        let pos = self.pos()?;
        let left = end.min(self.len).saturating_sub(pos);
        if u64::from(len) > left {
            return Err(format!(
                "element ({:04X},{:04X}) declares {len} bytes but only {left} are left",
                tag.0, tag.1
            ));
        }
        Ok(())
    }

    /// The file meta group (explicit VR little endian); returns the transfer syntax.
    fn meta(&mut self) -> Result<String, String> {
        let mut ts = String::new();
        loop {
            let start = self.pos()?;
            let Some(h) = self.read::<6>() else {
                return Ok(ts);
            };
            let group = u16::from_le_bytes([h[0], h[1]]);
            if group != 0x0002 {
                self.r
                    .seek(SeekFrom::Start(start))
                    .map_err(|e| e.to_string())?;
                return Ok(ts);
            }
            let elem = u16::from_le_bytes([h[2], h[3]]);
            let len = if long_vr([h[4], h[5]]) {
                let Some(l) = self.read::<6>() else {
                    return Ok(ts);
                };
                u32::from_le_bytes([l[2], l[3], l[4], l[5]])
            } else {
                let Some(l) = self.read::<2>() else {
                    return Ok(ts);
                };
                u32::from(u16::from_le_bytes(l))
            };
            self.check((group, elem), len, u64::MAX)?;
            if elem == 0x0010 && len <= 128 {
                let mut v = vec![0u8; len as usize];
                if self.r.read_exact(&mut v).is_err() {
                    return Ok(ts);
                }
                ts = String::from_utf8_lossy(&v)
                    .trim_end_matches(['\0', ' '])
                    .to_string();
            } else if len != UNDEFINED {
                self.skip(u64::from(len))?;
            }
        }
    }

    /// Elements until `end`, a delimiter, the end of the file, or the pixel data.
    fn dataset(&mut self, end: u64, depth: usize) -> Walk {
        if depth > MAX_NESTING {
            return Err(format!("sequences nested deeper than {MAX_NESTING} levels"));
        }
        while self.pos()? < end {
            let Some(t) = self.read::<4>() else {
                return Ok(Stop::Eof);
            };
            let tag = (self.u16([t[0], t[1]]), self.u16([t[2], t[3]]));
            if tag.0 == 0xFFFE {
                // Item or delimiter at the data set level: its length, then stop.
                let _ = self.read::<4>();
                return Ok(Stop::Done);
            }
            let (vr, len) = if self.implicit {
                let Some(l) = self.read::<4>() else {
                    return Ok(Stop::Eof);
                };
                (None, self.u32(l))
            } else {
                let Some(v) = self.read::<2>() else {
                    return Ok(Stop::Eof);
                };
                let len = if long_vr(v) {
                    let Some(l) = self.read::<6>() else {
                        return Ok(Stop::Eof);
                    };
                    self.u32([l[2], l[3], l[4], l[5]])
                } else {
                    let Some(l) = self.read::<2>() else {
                        return Ok(Stop::Eof);
                    };
                    u32::from(self.u16(l))
                };
                (Some(v), len)
            };
            self.check(tag, len, end)?;
            let pixels = tag == (0x7FE0, 0x0010);
            if pixels && self.stop_at_pixels {
                return Ok(Stop::Done);
            }
            // Implicit VR (and UN) sequences are recognised by their first item.
            let sequence = len == UNDEFINED
                || vr == Some(*b"SQ")
                || ((vr.is_none() || vr == Some(*b"UN"))
                    && !pixels
                    && len >= 8
                    && self.next_is_item()?);
            if sequence {
                let was_implicit = self.implicit;
                if vr == Some(*b"UN") {
                    self.implicit = true; // UN sequences are implicit VR
                }
                let stop = self.items(len, pixels, depth + 1);
                self.implicit = was_implicit;
                if let Stop::Eof = stop? {
                    return Ok(Stop::Eof);
                }
            } else {
                self.skip(u64::from(len))?;
            }
        }
        Ok(Stop::Done)
    }

    fn next_is_item(&mut self) -> Result<bool, String> {
        let pos = self.pos()?;
        let item = self
            .read::<4>()
            .is_some_and(|t| (self.u16([t[0], t[1]]), self.u16([t[2], t[3]])) == (0xFFFE, 0xE000));
        self.r
            .seek(SeekFrom::Start(pos))
            .map_err(|e| e.to_string())?;
        Ok(item)
    }

    /// Items of a sequence (or fragments of encapsulated pixel data).
    fn items(&mut self, len: u32, fragments: bool, depth: usize) -> Walk {
        let end = if len == UNDEFINED {
            u64::MAX
        } else {
            self.pos()? + u64::from(len)
        };
        while self.pos()? < end {
            let Some(t) = self.read::<4>() else {
                return Ok(Stop::Eof);
            };
            let Some(l) = self.read::<4>() else {
                return Ok(Stop::Eof);
            };
            let tag = (self.u16([t[0], t[1]]), self.u16([t[2], t[3]]));
            let item_len = self.u32(l);
            match tag {
                (0xFFFE, 0xE0DD) => return Ok(Stop::Done),
                (0xFFFE, 0xE000) => {
                    self.check(tag, item_len, end)?;
                    if fragments {
                        if item_len == UNDEFINED {
                            return Err("pixel data fragment of undefined length".into());
                        }
                        self.skip(u64::from(item_len))?;
                    } else {
                        let item_end = if item_len == UNDEFINED {
                            u64::MAX
                        } else {
                            self.pos()? + u64::from(item_len)
                        };
                        if let Stop::Eof = self.dataset(item_end.min(end), depth)? {
                            return Ok(Stop::Eof);
                        }
                        if item_len != UNDEFINED {
                            self.r
                                .seek(SeekFrom::Start(item_end))
                                .map_err(|e| e.to_string())?;
                        }
                    }
                }
                _ => {
                    return Err(format!(
                        "expected a sequence item, found ({:04X},{:04X})",
                        tag.0, tag.1
                    ));
                }
            }
        }
        Ok(Stop::Done)
    }
}

/// VRs with a 2-byte reserved field and a 4-byte length (explicit VR).
fn long_vr(vr: [u8; 2]) -> bool {
    matches!(
        &vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}
