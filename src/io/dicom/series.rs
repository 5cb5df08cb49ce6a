//! Grouping image frames into series, listing them and choosing one.

use super::geometry::{self, FrameGeom};
use super::header::FileHeader;
use super::{DicomError, SeriesChoice, SeriesSummary};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// `file` relative to `root`, as text for messages.
pub(super) fn rel(root: &Path, file: &Path) -> String {
    file.strip_prefix(root)
        .unwrap_or(file)
        .to_string_lossy()
        .into_owned()
}

/// One frame of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct FrameRef {
    /// Index into [`Index::files`].
    pub file: usize,
    /// Frame number in that file (0-based).
    pub frame: u32,
}

/// Frames of one series with one orientation and image size.
#[derive(Debug, Clone)]
pub(super) struct Series {
    pub uid: String,
    pub rows: u32,
    pub cols: u32,
    pub refs: Vec<FrameRef>,
}

/// Everything found under the input.
#[derive(Debug)]
pub(super) struct Index {
    pub root: PathBuf,
    pub files: Vec<FileHeader>,
    pub series: Vec<Series>,
    /// Notes for `VolumeInfo::warnings` (skipped files, dropped localizers).
    pub notes: Vec<String>,
}

/// Groups frames by series UID, orientation and image size; drops localizers
/// (unless the input was a single file).
pub(super) fn group(
    root: &Path,
    files: Vec<FileHeader>,
    mut notes: Vec<String>,
    drop_localizers: bool,
) -> Index {
    type Key = (Option<i64>, String, Option<[i64; 6]>, u32, u32);
    let mut groups: BTreeMap<Key, Vec<FrameRef>> = BTreeMap::new();
    let mut localizers = 0usize;
    for (fi, h) in files.iter().enumerate() {
        if drop_localizers && h.localizer {
            localizers += 1;
            continue;
        }
        for (f, fr) in h.frames.iter().enumerate() {
            let ori = fr
                .orientation
                .map(|o| o.map(|x| (x * 1000.0).round() as i64));
            groups
                .entry((h.series_number, h.series_uid.clone(), ori, h.rows, h.cols))
                .or_default()
                .push(FrameRef {
                    file: fi,
                    frame: u32::try_from(f).unwrap_or(u32::MAX),
                });
        }
    }
    if localizers > 0 {
        notes.push(format!("dropped {localizers} localizer image(s)"));
    }
    let series = groups
        .into_iter()
        .map(|((_, uid, _, rows, cols), refs)| Series {
            uid,
            rows,
            cols,
            refs,
        })
        .collect();
    Index {
        root: root.to_path_buf(),
        files,
        series,
        notes,
    }
}

impl Series {
    /// The geometry of each frame, labelled by file name (and frame number).
    pub(super) fn frames(&self, files: &[FileHeader]) -> Vec<FrameGeom> {
        self.refs
            .iter()
            .map(|r| {
                let h = &files[r.file];
                let fr = &h.frames[r.frame as usize];
                let name = h
                    .path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                FrameGeom {
                    label: if h.frames.len() > 1 {
                        format!("{name} frame {}", r.frame + 1)
                    } else {
                        name
                    },
                    position: fr.position,
                    orientation: fr.orientation,
                    pixel_spacing: fr.pixel_spacing,
                    thickness: fr.thickness,
                }
            })
            .collect()
    }
}

impl Index {
    /// One summary per series, in index order.
    pub(super) fn summaries(&self) -> Vec<SeriesSummary> {
        self.series
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let first = &self.files[s.refs[0].file];
                SeriesSummary {
                    index: i + 1,
                    uid: s.uid.clone(),
                    number: first.series_number,
                    description: first.description.clone(),
                    modality: first.modality.clone(),
                    images: s.refs.len(),
                    size: [s.cols, s.rows],
                    slice_spacing_mm: geometry::median_spacing(&s.frames(&self.files)),
                    kernel: first.kernel.clone(),
                    date: first.date.clone(),
                }
            })
            .collect()
    }

    fn listing(&self) -> String {
        self.summaries()
            .iter()
            .map(SeriesSummary::line)
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// The series to read.
    pub(super) fn choose(&self, choice: Option<&SeriesChoice>) -> Result<&Series, DicomError> {
        let path = self.root.clone();
        if self.series.is_empty() {
            let detail = if self.notes.is_empty() {
                String::new()
            } else {
                format!(" ({})", self.notes.join("; "))
            };
            return Err(DicomError::NoImages { detail, path });
        }
        let chosen = match choice {
            None if self.series.len() == 1 => &self.series[0],
            None => {
                return Err(DicomError::SeveralSeries {
                    count: self.series.len(),
                    list: self.listing(),
                    path,
                });
            }
            Some(c) => {
                let found: Vec<&Series> = match c {
                    SeriesChoice::Index(i) => {
                        self.series.get(i.wrapping_sub(1)).into_iter().collect()
                    }
                    SeriesChoice::Uid(u) => {
                        let exact: Vec<&Series> =
                            self.series.iter().filter(|s| &s.uid == u).collect();
                        if exact.is_empty() {
                            self.series
                                .iter()
                                .filter(|s| s.uid.starts_with(u.as_str()))
                                .collect()
                        } else {
                            exact
                        }
                    }
                };
                match found.as_slice() {
                    [one] => *one,
                    _ => {
                        return Err(DicomError::NoSuchSeries {
                            choice: if found.len() > 1 {
                                format!("{c} (matches {} series; use the index)", found.len())
                            } else {
                                c.to_string()
                            },
                            list: self.listing(),
                            path,
                        });
                    }
                }
            }
        };
        let first = &self.files[chosen.refs[0].file];
        if let Some(other) = chosen
            .refs
            .iter()
            .map(|r| &self.files[r.file])
            .find(|h| h.modality != first.modality)
        {
            return Err(DicomError::Inconsistent {
                reason: format!(
                    "one series mixes modalities {} and {} ({})",
                    first.modality,
                    other.modality,
                    rel(&self.root, &other.path)
                ),
                path,
            });
        }
        Ok(chosen)
    }
}
