//! A self-contained HTML report: inline CSS, key slices as base64 PNG data URIs,
//! the HU histogram as inline SVG. No external resource is referenced.

use super::Report;
use super::base64_bytes::encode;
use super::tables::{self, Table};
use crate::analysis::{HuFigures, HuHistogram};
use std::fmt::Write;

/// Escapes text for HTML.
pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            _ => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:Helvetica,Arial,sans-serif;max-width:60em;margin:2em auto;\
color:#222;padding:0 1em}h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.15em;\
margin-top:1.6em;border-bottom:1px solid #ccc}table{border-collapse:collapse;margin:.4em 0}\
td,th{padding:.25em .7em;border-bottom:1px solid #e4e4e4;text-align:left}\
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}p.note{color:#555;font-size:.9em}\
.slices{display:flex;flex-wrap:wrap;gap:1em}figure{margin:0;max-width:32%}\
figure img{width:100%;height:auto;image-rendering:pixelated;background:#000}\
figcaption{font-size:.85em;color:#444}.disclaimer{color:#a33}.mono{font-family:monospace;\
word-break:break-all}";

/// The HTML document of a report.
pub fn html(r: &Report) -> String {
    let mut o = String::new();
    let _ = write!(
        o,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>lungscope report: {}</title><style>{STYLE}</style></head><body>\n",
        escape(&r.header.file_name)
    );
    let _ = writeln!(o, "<h1>lungscope report</h1>");
    let _ = writeln!(
        o,
        "<p class=\"disclaimer\">{}</p>",
        escape(tables::DISCLAIMER)
    );
    table(&mut o, &tables::study_table(r));
    for t in tables::figure_tables(r) {
        table(&mut o, &t);
    }
    if let HuFigures::Available { histogram, .. } = &r.analysis.hu {
        let _ = writeln!(o, "<h2>HU histogram</h2>");
        o += &histogram_svg(histogram);
        let _ = writeln!(
            o,
            "<p class=\"note\">Share of each region's voxels per {:.0} HU bin: whole lung (grey), infected (red).</p>",
            histogram.bin_hu
        );
    }
    let _ = writeln!(o, "<h2>Key axial slices</h2>");
    if r.key_slices.is_empty() {
        let _ = writeln!(o, "<p class=\"note\">No lung to show.</p>");
    }
    let _ = writeln!(o, "<div class=\"slices\">");
    for k in &r.key_slices {
        let _ = writeln!(
            o,
            "<figure><img alt=\"{zone} zone, axial slice {slice}\" width=\"{w}\" height=\"{h}\" \
             src=\"data:image/png;base64,{data}\"><figcaption>{cap}. Lung window W{ww:.0}/L{wl:.0}, \
             radiological view (patient right on the left).</figcaption></figure>",
            zone = k.zone.name(),
            slice = k.slice,
            w = k.width,
            h = k.height,
            data = encode(&k.png),
            cap = escape(&tables::key_slice_caption(k)),
            ww = k.window.width,
            wl = k.window.level,
        );
    }
    let _ = writeln!(o, "</div>");
    table(&mut o, &tables::notes_table(r));
    table(&mut o, &tables::stamp_table(r));
    o += "</body></html>\n";
    o
}

fn table(o: &mut String, t: &Table) {
    let _ = writeln!(o, "<h2>{}</h2>", escape(&t.title));
    if !t.rows.is_empty() {
        let kv = t.columns.is_empty();
        let _ = writeln!(o, "<table>");
        if !kv {
            o.push_str("<tr>");
            for (i, c) in t.columns.iter().enumerate() {
                let class = if i > 0 { " class=\"n\"" } else { "" };
                let _ = write!(o, "<th{class}>{}</th>", escape(c));
            }
            o.push_str("</tr>\n");
        }
        for row in &t.rows {
            o.push_str("<tr>");
            for (i, c) in row.iter().enumerate() {
                let class = if kv && i == 0 {
                    ""
                } else if kv {
                    " class=\"mono\""
                } else if i > 0 {
                    " class=\"n\""
                } else {
                    ""
                };
                let tag = if kv && i == 0 { "th" } else { "td" };
                let _ = write!(o, "<{tag}{class}>{}</{tag}>", escape(c));
            }
            o.push_str("</tr>\n");
        }
        let _ = writeln!(o, "</table>");
    }
    if let Some(n) = &t.note {
        let _ = writeln!(o, "<p class=\"note\">{}</p>", escape(n));
    }
}

/// Per-bin shares (%) of the lung and infected voxels.
pub fn histogram_shares(h: &HuHistogram) -> (Vec<f64>, Vec<f64>) {
    let share = |v: &[u64], out: [u64; 2]| {
        let n: u64 = v.iter().sum::<u64>() + out[0] + out[1];
        v.iter()
            .map(|&c| {
                if n == 0 {
                    0.0
                } else {
                    100.0 * c as f64 / n as f64
                }
            })
            .collect::<Vec<f64>>()
    };
    (
        share(&h.lung, h.lung_outside),
        share(&h.infected, h.infected_outside),
    )
}

/// The histogram as an inline SVG bar chart.
fn histogram_svg(h: &HuHistogram) -> String {
    let (lung, inf) = histogram_shares(h);
    let (w, ht, left, bottom) = (640.0, 220.0, 40.0, 30.0);
    let plot_w = w - left - 10.0;
    let plot_h = ht - bottom - 10.0;
    let max = lung
        .iter()
        .chain(&inf)
        .cloned()
        .fold(0.0f64, f64::max)
        .max(1e-9);
    let bw = plot_w / lung.len().max(1) as f64;
    let mut s = format!(
        "<svg width=\"{w}\" height=\"{ht}\" \
         viewBox=\"0 0 {w} {ht}\" role=\"img\" aria-label=\"HU histogram\">\n"
    );
    for (series, colour, off) in [(&lung, "#999", 0.0), (&inf, "#e0463c", 0.5)] {
        for (b, &v) in series.iter().enumerate() {
            let bh = v / max * plot_h;
            let _ = writeln!(
                s,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{colour}\"/>",
                left + b as f64 * bw + off * bw,
                10.0 + plot_h - bh,
                bw * 0.5,
                bh
            );
        }
    }
    let base = 10.0 + plot_h;
    let _ = writeln!(
        s,
        "<line x1=\"{left}\" y1=\"{base}\" x2=\"{}\" y2=\"{base}\" stroke=\"#333\"/>",
        left + plot_w
    );
    let n = lung.len();
    for b in (0..=n).step_by(8) {
        let x = left + b as f64 * bw;
        let hu = h.lo_hu + b as f64 * h.bin_hu;
        let _ = writeln!(
            s,
            "<text x=\"{x:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">{hu:.0}</text>",
            base + 16.0
        );
    }
    let _ = writeln!(
        s,
        "<text x=\"4\" y=\"20\" font-size=\"11\">{max:.1}%</text></svg>"
    );
    s
}
