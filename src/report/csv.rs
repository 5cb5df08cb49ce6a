//! CSV: one header row and one row per study (RFC 4180 quoting), for batch
//! summaries. Numbers are written in full precision.
//!
//! Text cells (file names, descriptions, notes) that a spreadsheet would take for a
//! formula (starting with `=`, `+`, `-`, `@`, a tab or a carriage return) get a
//! leading `'` (the OWASP rule against CSV injection); numbers, negative ones
//! included, are written as they are.

use super::{Report, ReportError};
use crate::analysis::{HuFigures, Side, Zone};
use crate::fsutil::{refuse_inputs, write_atomic};
use std::path::Path;

/// The columns of a report row as `(name, value)` pairs, in order.
pub fn csv_fields(r: &Report) -> Vec<(String, String)> {
    let q = &r.analysis.quantities;
    let mut f: Vec<(String, String)> = Vec::new();
    let mut put = |k: &str, v: String| f.push((k.to_string(), v));
    put("schema_version", r.schema_version.to_string());
    put("file_name", text_cell(&r.header.file_name));
    put("created_utc", text_cell(&r.header.created_utc));
    put(
        "dims",
        format!(
            "{}x{}x{}",
            r.header.dims[0], r.header.dims[1], r.header.dims[2]
        ),
    );
    put(
        "spacing_mm",
        format!(
            "{}x{}x{}",
            r.header.spacing_mm[0], r.header.spacing_mm[1], r.header.spacing_mm[2]
        ),
    );
    let scope = &r.analysis.scope;
    let valid = scope.infection_percent_valid;
    // Out of scope: the infection cells stay empty, so no spreadsheet reads a
    // percentage that does not stand.
    let pct = |v: f64| if valid { v.to_string() } else { String::new() };
    for (name, a) in [("total", &q.total), ("left", &q.left), ("right", &q.right)] {
        put(&format!("{name}_lung_voxels"), a.lung_voxels.to_string());
        put(
            &format!("{name}_infected_voxels"),
            a.infected_voxels.to_string(),
        );
        put(&format!("{name}_lung_ml"), a.lung_ml.to_string());
        put(&format!("{name}_infected_ml"), pct(a.infected_ml));
        put(
            &format!("{name}_infection_percent"),
            pct(a.infection_percent),
        );
    }
    for side in Side::BOTH {
        for zone in Zone::ALL {
            let v = q
                .zone(side, zone)
                .map(|z| pct(z.amounts.infection_percent))
                .unwrap_or_default();
            put(
                &format!(
                    "{}_{}_zone_percent",
                    side.name().to_lowercase(),
                    zone.name().to_lowercase()
                ),
                v,
            );
        }
    }
    let s = &r.analysis.severity;
    put(
        "severity_score",
        if valid {
            s.total.to_string()
        } else {
            String::new()
        },
    );
    put(
        "severity_lobes",
        match s.source {
            crate::analysis::LobeSource::LobeMask => "lobe_mask".into(),
            crate::analysis::LobeSource::ZoneApproximation => "zone_approximation".into(),
        },
    );
    for l in &s.lobes {
        put(
            &format!("score_{}", l.lobe.key()),
            if valid {
                l.score.to_string()
            } else {
                String::new()
            },
        );
    }
    let (avail, inf_mean, inf_median, inf_std) = match &r.analysis.hu {
        HuFigures::Available { infected, .. } => (
            "yes",
            infected.as_ref().map(|i| i.mean.to_string()),
            infected.as_ref().map(|i| i.median.to_string()),
            infected.as_ref().map(|i| i.std.to_string()),
        ),
        HuFigures::Absent { .. } => ("no", None, None, None),
    };
    put("hu_available", avail.into());
    put("infected_mean_hu", inf_mean.unwrap_or_default());
    put("infected_std_hu", inf_std.unwrap_or_default());
    put("infected_median_hu", inf_median.unwrap_or_default());
    for name in ["infiltrated", "collapsed"] {
        put(
            &format!("{name}_percent_of_lung"),
            r.analysis
                .hu
                .band(name)
                .map(|b| b.percent_of_lung.to_string())
                .unwrap_or_default(),
        );
    }
    let n = &r.analysis.notes;
    put(
        "lung_split",
        n.split
            .as_ref()
            .map(|s| s.method.key().to_string())
            .unwrap_or_else(|| "labels".into()),
    );
    put(
        "lung_labels_look_swapped",
        u8::from(n.lung_labels_look_swapped).to_string(),
    );
    put(
        "infection_outside_lung_voxels",
        n.infection_outside_lung_voxels.to_string(),
    );
    let p = &r.provenance;
    put("segmentation", text_cell(&p.segmentation.describe()));
    put("input_sha256", text_cell(&p.input.sha256));
    put("lungscope_version", text_cell(&p.lungscope_version));
    // The scope columns come last, so the earlier columns keep their places.
    put(
        "scope",
        serde_json::to_value(scope.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
    );
    put("infection_percent_valid", u8::from(valid).to_string());
    put("scope_note", text_cell(&scope.message));
    f
}

/// The header row (no line end).
pub fn csv_header(r: &Report) -> String {
    join(csv_fields(r).into_iter().map(|(k, _)| k))
}

/// The study's row (no line end).
pub fn csv_row(r: &Report) -> String {
    join(csv_fields(r).into_iter().map(|(_, v)| v))
}

/// A CSV document: the header and one row per report (the header is taken from
/// the first report; all reports of one schema have the same columns).
pub fn csv_document(reports: &[Report]) -> String {
    let mut out = String::new();
    if let Some(first) = reports.first() {
        out += &csv_header(first);
        out += "\r\n";
    }
    for r in reports {
        out += &csv_row(r);
        out += "\r\n";
    }
    out
}

/// Appends the report's row to the CSV at `path`, writing the header first if the
/// file does not exist or is empty. The file is rewritten atomically; a file with
/// other columns is refused.
pub fn append_csv_row(path: &Path, r: &Report, inputs: &[&Path]) -> Result<(), ReportError> {
    refuse_inputs(path, inputs)?;
    let header = csv_header(r);
    let mut text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(ReportError::io("read", path, e)),
    };
    if text.trim().is_empty() {
        text = format!("{header}\r\n");
    } else {
        let first = text.lines().next().unwrap_or("").trim_end_matches('\r');
        if first != header {
            return Err(ReportError::CsvHeaderMismatch {
                path: path.to_path_buf(),
            });
        }
        if !text.ends_with('\n') {
            text += "\r\n";
        }
    }
    text += &csv_row(r);
    text += "\r\n";
    write_atomic(path, text.as_bytes())?;
    Ok(())
}

/// A text cell made safe for spreadsheets: a leading `'` when it starts with `=`,
/// `+`, `-`, `@`, a tab or a carriage return (OWASP's CSV injection rule). Only for
/// text; numbers are written unchanged.
pub fn text_cell(text: &str) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    }
}

fn join(cells: impl Iterator<Item = String>) -> String {
    cells.map(|c| quote(&c)).collect::<Vec<_>>().join(",")
}

/// Quotes a cell if it holds a comma, quote or line break.
pub fn quote(cell: &str) -> String {
    if cell.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", cell.replace('"', "\"\""))
    } else {
        cell.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_follows_rfc4180() {
        assert_eq!(quote("plain"), "plain");
        assert_eq!(quote("a,b"), "\"a,b\"");
        assert_eq!(quote("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(quote("two\nlines"), "\"two\nlines\"");
    }

    #[test]
    fn formula_text_is_escaped() {
        for (text, want) in [
            ("=HYPERLINK(\"http://x\")", "'=HYPERLINK(\"http://x\")"),
            ("+1", "'+1"),
            ("-cmd", "'-cmd"),
            ("@SUM(A1)", "'@SUM(A1)"),
            ("\tx", "'\tx"),
            ("\rx", "'\rx"),
            ("case_ct.nii.gz", "case_ct.nii.gz"),
            ("", ""),
        ] {
            assert_eq!(text_cell(text), want);
        }
    }
}
