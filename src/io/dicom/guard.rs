//! A cheap pre-check of a DICOM file's declared element lengths.
//!
//! The parser allocates (and zero-fills) a buffer of each element's declared
//! length before reading it, so a corrupt 1 KB file declaring a 4 GB element
//! would cost 4 GB of memory before failing. This walk reads only element headers
//! (seeking over values) and refuses any length larger than what is left of the
//! file, so allocations stay bounded by the file size. A deflated data set is
//! inflated first (at most [`MAX_INFLATED_BYTES`] or the read budget, whichever
//! is smaller) and its lengths are checked
//! against the inflated size: a file size says nothing about what deflate holds.
//!
//! The walk must read the bytes exactly as dicom-rs's parser will, or the parser
//! reads lengths this walk never saw. So each element's VR is the one the parser
//! gives it (in implicit VR: the standard dictionary's, OW for pixel data, UN for
//! unknown tags), and an element of a binary VR whose length is not a whole number
//! of values (a UL of 513 bytes) is refused: the parser reads whole values only
//! but moves its position by the declared length, and would take the bytes after
//! it for the next element's header.

use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
use dicom_core::{Tag, VR};
use dicom_dictionary_std::StandardDataDictionary;
use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

/// Largest inflated data set of a deflated DICOM file (1 GiB); a larger one is
/// refused before the parser sees it.
pub const MAX_INFLATED_BYTES: u64 = 1 << 30;

/// What the walk reads from: the file, or an inflated data set in memory.
trait Source: Read + Seek {
    /// Moves `n` bytes forward or back from the current position.
    fn skip_by(&mut self, n: i64) -> std::io::Result<()>;
}

impl Source for BufReader<File> {
    fn skip_by(&mut self, n: i64) -> std::io::Result<()> {
        self.seek_relative(n)
    }
}

impl Source for Cursor<Vec<u8>> {
    fn skip_by(&mut self, n: i64) -> std::io::Result<()> {
        self.seek(SeekFrom::Current(n)).map(|_| ())
    }
}

const UNDEFINED: u32 = 0xFFFF_FFFF;
const MAX_NESTING: usize = 16;
const IMPLICIT_LE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BE: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

struct Walker<R: Source> {
    r: R,
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
/// `stop_at_pixels`). Files without the `DICM` marker (which the parser refuses)
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
    // "DICM" after the 128-byte preamble, or at the start without one
    let mut head = [0u8; 132];
    let got = read_up_to(&mut w.r, &mut head);
    let meta_at = if got == 132 && &head[128..132] == b"DICM" {
        132
    } else if got >= 4 && &head[..4] == b"DICM" {
        4
    } else {
        return Ok(());
    };
    w.r.seek(SeekFrom::Start(meta_at))
        .map_err(|e| e.to_string())?;
    let ts = w.meta()?;
    match ts.as_str() {
        DEFLATED => {
            // explicit VR little endian inside the deflate stream
            // Within the read budget too: the parser inflates the data set again.
            let cap = MAX_INFLATED_BYTES.min(crate::io::budget::max_read_bytes());
            let mut inflated = Vec::new();
            let read = flate2::read::DeflateDecoder::new(&mut w.r)
                .take(cap + 1)
                .read_to_end(&mut inflated);
            if inflated.len() as u64 > cap {
                return Err(format!(
                    "the deflated data set inflates to more than {cap} bytes (the read budget, {})",
                    crate::io::budget::MAX_READ_BYTES_ENV
                ));
            }
            let len = inflated.len() as u64;
            let mut d = Walker {
                r: Cursor::new(inflated),
                len,
                implicit: false,
                big_endian: false,
                stop_at_pixels,
            };
            d.dataset(u64::MAX, 0)?;
            // A stream that breaks anywhere is refused too: the parser, reading it
            // in small pieces, gets bytes up to the break that a failed bulk read
            // here may not have returned, and would trust the lengths in them.
            match read {
                Err(e) => Err(format!("the deflated data set does not inflate: {e}")),
                Ok(_) => Ok(()),
            }
        }
        IMPLICIT_LE => {
            w.implicit = true;
            w.dataset(u64::MAX, 0).map(|_| ())
        }
        EXPLICIT_BE => {
            w.big_endian = true;
            w.dataset(u64::MAX, 0).map(|_| ())
        }
        _ => w.dataset(u64::MAX, 0).map(|_| ()),
    }
}

/// Reads as much of `buf` as the source holds; returns the bytes read.
fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> usize {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    got
}

impl<R: Source> Walker<R> {
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
        self.r.skip_by(n).map_err(|e| e.to_string())
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
    ///
    /// The parser takes the data set to start where the group length
    /// (0002,0000) says the group ends; a group whose elements end elsewhere is
    /// refused, so that this walk and the parser read the same bytes (a deflated
    /// data set inflated from another offset is another data set).
    fn meta(&mut self) -> Result<String, String> {
        let mut ts = String::new();
        let mut group_end: Option<(u32, u64, u64)> = None;
        loop {
            let start = self.pos()?;
            let Some(h) = self.read::<6>() else {
                return Ok(ts);
            };
            let group = u16::from_le_bytes([h[0], h[1]]);
            if group != 0x0002 {
                if let Some((length, first, end)) = group_end
                    && start != end
                {
                    return Err(format!(
                        "the file meta group length says {length} bytes but its elements take {}",
                        start.saturating_sub(first)
                    ));
                }
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
            if elem == 0x0000 && len == 4 && group_end.is_none() {
                let Some(v) = self.read::<4>() else {
                    return Ok(ts);
                };
                let length = u32::from_le_bytes(v);
                let first = self.pos()?;
                group_end = Some((length, first, first + u64::from(length)));
            } else if elem == 0x0010 && len <= 128 {
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
                if depth == 0 {
                    // Outside any sequence an item or delimiter has no place; the
                    // parser reads on past one with another idea of where the
                    // elements after it start than this walk could follow.
                    return Err(format!(
                        "an item or delimiter tag (FFFE,{:04X}) outside any sequence",
                        tag.1
                    ));
                }
                // Item or delimiter inside an item: its length, then stop.
                let _ = self.read::<4>();
                return Ok(Stop::Done);
            }
            let (vr, len) = if self.implicit {
                let Some(l) = self.read::<4>() else {
                    return Ok(Stop::Eof);
                };
                (implicit_vr(tag), self.u32(l))
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
                (VR::from_binary(v).unwrap_or(VR::UN), len)
            };
            self.check(tag, len, end)?;
            let pixels = tag == (0x7FE0, 0x0010);
            if pixels && self.stop_at_pixels {
                return Ok(Stop::Done);
            }
            if let Some(size) = value_size(vr)
                && len != UNDEFINED
                && len % size != 0
            {
                return Err(format!(
                    "element ({:04X},{:04X}) of VR {} declares {len} bytes, not a whole number of {size}-byte values",
                    tag.0,
                    tag.1,
                    vr.to_string()
                ));
            }
            // Sequences: SQ, undefined length, or (implicit VR and UN) a first item.
            let sequence = len == UNDEFINED
                || vr == VR::SQ
                || ((self.implicit || vr == VR::UN)
                    && !pixels
                    && len >= 8
                    && self.next_is_item()?);
            if sequence {
                let was_implicit = self.implicit;
                if vr == VR::UN {
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

/// The VR dicom-rs's implicit VR decoder gives `tag`: OW for pixel data and
/// overlay data, otherwise the standard dictionary's (relaxed), UN for tags it
/// does not know.
fn implicit_vr(tag: (u16, u16)) -> VR {
    if tag == (0x7FE0, 0x0010) || (tag.0 >> 8 == 0x60 && tag.1 == 0x3000) {
        return VR::OW;
    }
    StandardDataDictionary
        .by_tag(Tag(tag.0, tag.1))
        .map_or(VR::UN, |e| e.vr().relaxed())
}

/// Bytes per value of the VRs dicom-rs reads as numbers (a whole number of them).
fn value_size(vr: VR) -> Option<u32> {
    match vr {
        VR::SS | VR::US | VR::OW => Some(2),
        VR::AT | VR::FL | VR::OF | VR::SL | VR::UL | VR::OL => Some(4),
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => Some(8),
        _ => None,
    }
}

/// VRs with a 2-byte reserved field and a 4-byte length (explicit VR).
fn long_vr(vr: [u8; 2]) -> bool {
    // As the parser reads it: the VRs of PS3.5 table 7.1-2 have a 16-bit length,
    // every other one, unknown ones included (read as UN), a 32-bit length after
    // two reserved bytes.
    !matches!(
        &vr,
        b"AE"
            | b"AS"
            | b"AT"
            | b"CS"
            | b"DA"
            | b"DS"
            | b"DT"
            | b"FL"
            | b"FD"
            | b"IS"
            | b"LO"
            | b"LT"
            | b"PN"
            | b"SH"
            | b"SL"
            | b"SS"
            | b"ST"
            | b"TM"
            | b"UI"
            | b"UL"
            | b"US"
    )
}
