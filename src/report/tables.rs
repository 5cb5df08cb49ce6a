//! The human-readable content of a report as plain tables, shared by the HTML and
//! PDF writers so both show the same figures with the same wording.

use super::Report;
use crate::analysis::{HuFigures, LobeSource, RegionHu, ScopeStatus, Side, SplitMethod, Zone};

/// A titled table of text cells.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// Heading above the table.
    pub title: String,
    /// Column headings (empty for key/value tables).
    pub columns: Vec<String>,
    /// Rows of cells.
    pub rows: Vec<Vec<String>>,
    /// A sentence below the table.
    pub note: Option<String>,
}

impl Table {
    fn new(title: &str, columns: &[&str]) -> Self {
        Self {
            title: title.into(),
            columns: columns.iter().map(|c| c.to_string()).collect(),
            rows: Vec::new(),
            note: None,
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn kv(&mut self, k: &str, v: impl Into<String>) {
        self.rows.push(vec![k.to_string(), v.into()]);
    }
}

/// The study header table.
pub fn study_table(r: &Report) -> Table {
    let h = &r.header;
    let mut t = Table::new("Study", &[]);
    t.kv("File", h.file_name.clone());
    t.kv("Report date (UTC)", h.created_utc.clone());
    t.kv(
        "Dimensions",
        format!("{} x {} x {} voxels", h.dims[0], h.dims[1], h.dims[2]),
    );
    t.kv(
        "Voxel size",
        format!(
            "{:.3} x {:.3} x {:.3} mm ({:.4} mL)",
            h.spacing_mm[0], h.spacing_mm[1], h.spacing_mm[2], r.analysis.quantities.voxel_ml
        ),
    );
    t.kv("Storage orientation", h.orientation.clone());
    let scope = &r.analysis.scope;
    t.kv(
        "Scope",
        match scope.status {
            ScopeStatus::InScope => format!("in scope: {}", scope.message),
            ScopeStatus::Partial => format!("partial: {}", scope.message),
            ScopeStatus::OutOfScope => format!(
                "OUT OF SCOPE: {}. No infection % or severity score is given.",
                scope.message
            ),
        },
    );
    t.kv(
        "Intensities",
        format!(
            "{}: {}",
            if h.hu_check.looks_like_hu {
                "Hounsfield units"
            } else {
                "not Hounsfield units"
            },
            h.hu_check.reason
        ),
    );
    t
}

/// Volumes and infection per lung.
pub fn volume_table(r: &Report) -> Table {
    let q = &r.analysis.quantities;
    let mut t = Table::new(
        "Lung volumes and infection",
        &["", "Lung (mL)", "Infected (mL)", "Infection (%)"],
    );
    let valid = r.analysis.scope.infection_percent_valid;
    for (name, a) in [
        ("Left lung", &q.left),
        ("Right lung", &q.right),
        ("Both lungs", &q.total),
    ] {
        t.row(vec![
            name.into(),
            format!("{:.1}", a.lung_ml),
            if valid {
                format!("{:.1}", a.infected_ml)
            } else {
                "not given".into()
            },
            if valid {
                format!("{:.2}", a.infection_percent)
            } else {
                "not given".into()
            },
        ]);
    }
    if !valid {
        t.note = Some(format!(
            "Out of scope: {}. Infection figures are not given.",
            r.analysis.scope.message
        ));
        return t;
    }
    t.note = Some(
        "Infection % = infected lung voxels / lung voxels (infection is counted inside the lungs)."
            .into(),
    );
    t
}

/// Involvement per zone.
pub fn zone_table(r: &Report) -> Table {
    let q = &r.analysis.quantities;
    let mut t = Table::new("Involvement by zone", &["Zone", "Left (%)", "Right (%)"]);
    for zone in Zone::ALL {
        let cell = |side| {
            q.zone(side, zone)
                .map(|z| format!("{:.2}", z.amounts.infection_percent))
                .unwrap_or_else(|| "-".into())
        };
        t.row(vec![
            zone.name().into(),
            cell(Side::Left),
            cell(Side::Right),
        ]);
    }
    t.note = Some(
        "Each lung is cut into thirds of its own cranio-caudal extent; a zone's involvement is its \
         infected share."
            .into(),
    );
    t
}

/// The severity score per lobe.
pub fn severity_table(r: &Report) -> Table {
    let s = &r.analysis.severity;
    let title = match s.source {
        LobeSource::LobeMask => "CT severity score (lobes from lobe mask)",
        LobeSource::ZoneApproximation => "CT severity score (approximate lobes)",
    };
    let mut t = Table::new(title, &["Lobe", "Involvement (%)", "Score (0-5)"]);
    for l in &s.lobes {
        t.row(vec![
            l.lobe.name().into(),
            format!("{:.2}", l.amounts.infection_percent),
            l.score.to_string(),
        ]);
    }
    t.row(vec![
        "Total".into(),
        String::new(),
        format!("{} / 25", s.total),
    ]);
    t.note = Some(format!(
        "{} Bands: 0 none, 1 <5%, 2 5-25%, 3 26-50%, 4 51-75%, 5 >75%.",
        s.note
    ));
    t
}

/// HU statistics, or why they are absent.
pub fn hu_tables(r: &Report) -> Vec<Table> {
    match &r.analysis.hu {
        HuFigures::Absent { reason } => {
            let mut t = Table::new("HU statistics", &[]);
            t.note = Some(format!("Not reported: {reason}."));
            vec![t]
        }
        HuFigures::Available {
            infected,
            lung,
            bands,
            ..
        } => {
            let mut t = Table::new(
                "HU statistics",
                &[
                    "Region", "Voxels", "Mean", "SD", "P5", "P25", "Median", "P75", "P95",
                ],
            );
            for (name, reg) in [("Infected", infected), ("Whole lung", lung)] {
                t.row(region_row(name, reg.as_ref()));
            }
            let mut b = Table::new(
                "Lung density bands",
                &["Band", "HU range", "Volume (mL)", "% of lung"],
            );
            for band in bands {
                b.row(vec![
                    band.name.clone(),
                    format!("{:.0} to {:.0}", band.lo_hu, band.hi_hu),
                    format!("{:.1}", band.ml),
                    format!("{:.2}", band.percent_of_lung),
                ]);
            }
            b.note = Some("Bands as in 3D Slicer's Lung CT Analyzer, [low, high) HU.".into());
            vec![t, b]
        }
    }
}

fn region_row(name: &str, r: Option<&RegionHu>) -> Vec<String> {
    match r {
        None => vec![name.into(), "0".into()],
        Some(r) => {
            let f = |x: f64| format!("{x:.1}");
            vec![
                name.into(),
                r.voxels.to_string(),
                f(r.mean),
                f(r.std),
                f(r.p5),
                f(r.p25),
                f(r.median),
                f(r.p75),
                f(r.p95),
            ]
        }
    }
}

/// Notes on the input.
pub fn notes_table(r: &Report) -> Table {
    let n = &r.analysis.notes;
    let mut t = Table::new("Notes", &[]);
    match &n.split {
        Some(s) => {
            let how = match s.method {
                SplitMethod::SeparateComponents => "separate lungs on either side of the midline",
                SplitMethod::MidlinePlane => "lungs touching; cut along the midline plane",
                SplitMethod::SingleLung => "a single lung, placed by the body centre",
            };
            t.kv(
                "Left/right split",
                format!(
                    "made here: {how} (midline x = {:.1} mm; connected components: {}, of which specks: {})",
                    s.midline_x_mm, s.components, s.specks
                ),
            );
        }
        None => t.kv("Left/right split", "from the lung labels"),
    }
    if n.lung_labels_look_swapped {
        t.kv(
            "Lung labels",
            "label 1 (left lung) lies on the patient's right of label 2 according to the \
             image orientation; the labels were used as given, so left and right may be swapped",
        );
    }
    if n.infection_outside_lung_voxels > 0 {
        t.kv(
            "Infection outside the lungs",
            format!("{} voxels, not counted", n.infection_outside_lung_voxels),
        );
    }
    if n.unknown_label_voxels > 0 {
        t.kv(
            "Unknown labels",
            format!("{} voxels ignored", n.unknown_label_voxels),
        );
    }
    if r.analysis.severity.lung_voxels_outside_lobes > 0 {
        t.kv(
            "Lung outside the lobe mask",
            format!("{} voxels", r.analysis.severity.lung_voxels_outside_lobes),
        );
    }
    t
}

/// The reproducibility stamp.
pub fn stamp_table(r: &Report) -> Table {
    let p = &r.provenance;
    let mut t = Table::new("Reproducibility", &[]);
    t.kv("lungscope", p.lungscope_version.clone());
    t.kv("Report schema", r.schema_version.to_string());
    t.kv(
        "Input",
        format!("{} (sha256 {})", p.input.name, p.input.sha256),
    );
    t.kv("Segmentation", p.segmentation.describe());
    for m in &p.mask_files {
        t.kv("Mask file", format!("{} (sha256 {})", m.name, m.sha256));
    }
    t.kv("Preprocessing", p.preprocessing.clone());
    let th: Vec<String> = p
        .thresholds
        .iter()
        .map(|(k, v)| format!("{k} = {v}"))
        .collect();
    t.kv("Thresholds", th.join(", "));
    t
}

/// All tables in report order (key slices and the histogram go between the
/// figures and the notes).
pub fn figure_tables(r: &Report) -> Vec<Table> {
    if !r.analysis.scope.infection_percent_valid {
        return vec![volume_table(r)];
    }
    let mut v = vec![volume_table(r), zone_table(r), severity_table(r)];
    v.extend(hu_tables(r));
    v
}

/// A one-line caption of a key slice.
pub fn key_slice_caption(k: &super::KeySliceImage) -> String {
    format!(
        "{} zone: axial slice {} ({} infected of {} lung voxels in this zone)",
        k.zone.name(),
        k.slice,
        k.infected_voxels,
        k.lung_voxels
    )
}

/// The disclaimer printed on every human-readable report.
pub const DISCLAIMER: &str =
    "Research software: figures are measured on the segmentation shown and are not a diagnosis.";
