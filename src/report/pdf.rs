//! A PDF report (A4) with `pdf-writer`: the standard Helvetica fonts (never
//! embedded, present in every reader), the key slices as Flate-compressed RGB
//! images, the HU histogram as vector bars. Text is limited to the WinAnsi
//! character set; other characters print as `?`.

use super::Report;
use super::html::histogram_shares;
use super::tables::{self, Table};
use crate::analysis::HuFigures;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use std::io::Write;

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const MARGIN: f32 = 50.0;
const BODY: f32 = 9.0;
/// Height of the histogram chart (points).
const HIST_H: f32 = 130.0;
const FONT: Name<'static> = Name(b"F1");
const BOLD: Name<'static> = Name(b"F2");

/// Advance widths of Helvetica for ASCII 32..=126, in 1/1000 em (Adobe AFM).
const HELVETICA: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, 556, 556, 556,
    556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667,
    611, 778, 722, 278, 500, 667, 556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667,
    667, 611, 278, 278, 278, 469, 556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500,
    222, 833, 556, 556, 556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
];

/// Text width in points (bold approximated as 6 % wider).
fn text_width(s: &str, size: f32, bold: bool) -> f32 {
    let w: u32 = s
        .bytes()
        .map(|b| {
            u32::from(
                HELVETICA
                    .get(usize::from(b.wrapping_sub(32)))
                    .copied()
                    .unwrap_or(556),
            )
        })
        .sum();
    w as f32 / 1000.0 * size * if bold { 1.06 } else { 1.0 }
}

/// Maps text to printable ASCII (the common subset of WinAnsi and the standard
/// encoding), replacing what the standard fonts cannot show.
pub fn pdf_text(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            ' '..='~' => c,
            '\u{2013}' | '\u{2014}' | '\u{2212}' => '-',
            '\u{00d7}' => 'x',
            '\u{2018}' | '\u{2019}' => '\'',
            '\u{201c}' | '\u{201d}' => '"',
            '\t' | '\n' | '\r' => ' ',
            _ => '?',
        })
        .collect()
}

/// Splits text into lines no wider than `width`.
fn wrap(s: &str, size: f32, bold: bool, width: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in s.split(' ') {
        let cand = if cur.is_empty() {
            word.to_string()
        } else {
            format!("{cur} {word}")
        };
        if text_width(&cand, size, bold) <= width || cur.is_empty() {
            cur = cand;
        } else {
            lines.push(std::mem::take(&mut cur));
            cur = word.to_string();
        }
        // A single word wider than the line (a hash) is cut.
        while text_width(&cur, size, bold) > width && cur.len() > 1 {
            let mut cut = cur.len();
            while cut > 1 && text_width(&cur[..cut], size, bold) > width {
                cut -= 1;
            }
            lines.push(cur[..cut].to_string());
            cur = cur[cut..].to_string();
        }
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// An image placed on a page.
struct Placed {
    page: usize,
    image: usize,
    rect: [f32; 4],
}

/// Page-by-page layout state.
struct Layout {
    pages: Vec<Content>,
    y: f32,
    placed: Vec<Placed>,
}

impl Layout {
    fn new() -> Self {
        Self {
            pages: vec![Content::new()],
            y: PAGE_H - MARGIN,
            placed: Vec::new(),
        }
    }

    fn page(&mut self) -> &mut Content {
        let n = self.pages.len() - 1;
        &mut self.pages[n]
    }

    /// Starts a new page if less than `h` points are left.
    fn ensure(&mut self, h: f32) {
        if self.y - h < MARGIN + 20.0 {
            self.pages.push(Content::new());
            self.y = PAGE_H - MARGIN;
        }
    }

    fn text_at(&mut self, x: f32, y: f32, size: f32, bold: bool, s: &str) {
        let t = pdf_text(s);
        let c = self.page();
        c.begin_text();
        c.set_font(if bold { BOLD } else { FONT }, size);
        c.next_line(x, y);
        c.show(Str(t.as_bytes()));
        c.end_text();
    }

    fn paragraph(&mut self, s: &str, size: f32, bold: bool, rgb: [f32; 3]) {
        let lines = wrap(&pdf_text(s), size, bold, PAGE_W - 2.0 * MARGIN);
        for line in lines {
            self.ensure(size * 1.35);
            self.y -= size * 1.35;
            self.page().set_fill_rgb(rgb[0], rgb[1], rgb[2]);
            let y = self.y;
            self.text_at(MARGIN, y, size, bold, &line);
            self.page().set_fill_gray(0.0);
        }
    }

    fn heading(&mut self, s: &str) {
        self.ensure(40.0);
        self.y -= 8.0;
        self.paragraph(s, 12.0, true, [0.1, 0.1, 0.1]);
        self.y -= 3.0;
        let y = self.y;
        let c = self.page();
        c.set_stroke_gray(0.75);
        c.set_line_width(0.5);
        c.move_to(MARGIN, y);
        c.line_to(PAGE_W - MARGIN, y);
        c.stroke();
        c.set_stroke_gray(0.0);
        self.y -= 2.0;
    }

    fn table(&mut self, t: &Table) {
        self.heading(&t.title);
        if !t.rows.is_empty() {
            if t.columns.is_empty() {
                self.kv_table(t);
            } else {
                self.grid_table(t);
            }
        }
        if let Some(n) = &t.note {
            self.y -= 2.0;
            self.paragraph(n, 8.0, false, [0.33, 0.33, 0.33]);
        }
    }

    fn kv_table(&mut self, t: &Table) {
        let key_w = t
            .rows
            .iter()
            .map(|r| text_width(&pdf_text(&r[0]), BODY, true))
            .fold(0.0f32, f32::max)
            + 12.0;
        let val_w = PAGE_W - 2.0 * MARGIN - key_w;
        for row in &t.rows {
            let lines = wrap(&pdf_text(row.get(1).map_or("", |s| s)), BODY, false, val_w);
            let h = BODY * 1.4 * lines.len().max(1) as f32;
            self.ensure(h);
            self.y -= BODY * 1.4;
            let y = self.y;
            self.text_at(MARGIN, y, BODY, true, &row[0]);
            for (i, line) in lines.iter().enumerate() {
                if i > 0 {
                    self.y -= BODY * 1.4;
                }
                let y = self.y;
                self.text_at(MARGIN + key_w, y, BODY, false, line);
            }
        }
    }

    fn grid_table(&mut self, t: &Table) {
        let n = t.columns.len();
        let mut widths = vec![0.0f32; n];
        for (i, c) in t.columns.iter().enumerate() {
            widths[i] = text_width(&pdf_text(c), BODY, true);
        }
        for row in &t.rows {
            for (i, c) in row.iter().enumerate().take(n) {
                widths[i] = widths[i].max(text_width(&pdf_text(c), BODY, false));
            }
        }
        let pad = 14.0;
        let total: f32 = widths.iter().sum::<f32>() + pad * n as f32;
        let scale = ((PAGE_W - 2.0 * MARGIN) / total).min(1.0);
        let size = BODY * scale;
        let widths: Vec<f32> = widths.iter().map(|w| (w + pad) * scale).collect();
        let draw_row = |l: &mut Layout, cells: &[String], bold: bool| {
            l.ensure(size * 1.5);
            l.y -= size * 1.5;
            let mut x = MARGIN;
            for (i, w) in widths.iter().enumerate() {
                let cell = cells.get(i).map_or("", |s| s.as_str());
                let tw = text_width(&pdf_text(cell), size, bold);
                // First column left-aligned, numbers right-aligned.
                let cx = if i == 0 { x } else { x + w - pad * scale - tw };
                let y = l.y;
                l.text_at(cx, y, size, bold, cell);
                x += w;
            }
        };
        draw_row(self, &t.columns, true);
        for row in &t.rows {
            draw_row(self, row, false);
        }
    }

    fn histogram(&mut self, shares: (Vec<f64>, Vec<f64>), lo_hu: f64, bin_hu: f64) {
        let (lung, inf) = shares;
        let (w, h) = (PAGE_W - 2.0 * MARGIN - 40.0, HIST_H);
        self.ensure(h + 30.0);
        let x0 = MARGIN + 30.0;
        let y0 = self.y - h - 6.0;
        let max = lung
            .iter()
            .chain(&inf)
            .cloned()
            .fold(0.0f64, f64::max)
            .max(1e-9);
        let bw = w / lung.len().max(1) as f32;
        for (series, rgb, off) in [
            (&lung, [0.6, 0.6, 0.6], 0.0),
            (&inf, [0.88, 0.27, 0.24], 0.5),
        ] {
            let c = self.page();
            c.set_fill_rgb(rgb[0], rgb[1], rgb[2]);
            for (b, &v) in series.iter().enumerate() {
                let bh = (v / max) as f32 * h;
                if bh > 0.0 {
                    c.rect(x0 + b as f32 * bw + off * bw, y0, bw * 0.5, bh);
                }
            }
            c.fill_nonzero();
        }
        let c = self.page();
        c.set_fill_gray(0.0);
        c.set_line_width(0.5);
        c.move_to(x0, y0);
        c.line_to(x0 + w, y0);
        c.stroke();
        for b in (0..=lung.len()).step_by(8) {
            let hu = lo_hu + b as f64 * bin_hu;
            let label = format!("{hu:.0}");
            let x = x0 + b as f32 * bw - text_width(&label, 7.0, false) / 2.0;
            self.text_at(x, y0 - 10.0, 7.0, false, &label);
        }
        self.text_at(MARGIN, y0 + h - 7.0, 7.0, false, &format!("{max:.1}%"));
        self.y = y0 - 14.0;
        self.paragraph(
            "Share of each region's voxels per HU bin: whole lung (grey), infected (red).",
            8.0,
            false,
            [0.33, 0.33, 0.33],
        );
    }
}

/// The PDF bytes of a report.
pub fn pdf(r: &Report) -> Vec<u8> {
    let mut l = Layout::new();
    l.paragraph("lungscope report", 18.0, true, [0.0, 0.0, 0.0]);
    l.y -= 4.0;
    l.paragraph(tables::DISCLAIMER, 8.0, false, [0.65, 0.2, 0.2]);
    l.table(&tables::study_table(r));
    for t in tables::figure_tables(r) {
        l.table(&t);
    }
    if let HuFigures::Available { histogram, .. } = &r.analysis.hu {
        // Keep the heading with the chart.
        l.ensure(HIST_H + 90.0);
        l.heading("HU histogram");
        l.histogram(
            histogram_shares(histogram),
            histogram.lo_hu,
            histogram.bin_hu,
        );
    }
    // Key slices: up to three side by side.
    let images: Vec<Option<(u32, u32, Vec<u8>)>> =
        r.key_slices.iter().map(|k| decode(&k.png)).collect();
    let gap = 10.0;
    let cell_w = (PAGE_W - 2.0 * MARGIN - 2.0 * gap) / 3.0;
    let tallest = images
        .iter()
        .flatten()
        .map(|(w, h, _)| cell_w * *h as f32 / *w as f32)
        .fold(0.0f32, f32::max);
    // Keep the heading with the images.
    l.ensure(tallest + 100.0);
    l.heading("Key axial slices");
    let top = l.y - 6.0;
    let mut lowest = top;
    for (i, (k, img)) in r.key_slices.iter().zip(&images).enumerate() {
        let x = MARGIN + i as f32 * (cell_w + gap);
        let mut y = top;
        if let Some((w, h, _)) = img {
            let ih = cell_w * *h as f32 / *w as f32;
            let page = l.pages.len() - 1;
            l.placed.push(Placed {
                page,
                image: i,
                rect: [x, top - ih, cell_w, ih],
            });
            y = top - ih;
        }
        for line in wrap(&pdf_text(&tables::key_slice_caption(k)), 7.0, false, cell_w) {
            y -= 9.0;
            l.text_at(x, y, 7.0, false, &line);
        }
        lowest = lowest.min(y);
    }
    l.y = lowest - 4.0;
    if !r.key_slices.is_empty() {
        l.paragraph(
            "Lung window W1500/L-600; radiological view (patient right on the image's left); \
             lungs outlined, infection filled.",
            8.0,
            false,
            [0.33, 0.33, 0.33],
        );
    }
    l.table(&tables::notes_table(r));
    l.table(&tables::stamp_table(r));
    assemble(l, &images, &r.provenance.lungscope_version)
}

/// PNG → (width, height, RGB bytes); `None` if the bytes do not decode.
fn decode(png: &[u8]) -> Option<(u32, u32, Vec<u8>)> {
    let img = image::load_from_memory_with_format(png, image::ImageFormat::Png).ok()?;
    let rgb = img.to_rgb8();
    Some((rgb.width(), rgb.height(), rgb.into_raw()))
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
    // Writing into a Vec cannot fail.
    let _ = e.write_all(data);
    e.finish().unwrap_or_default()
}

/// Writes the PDF objects: catalog, pages, fonts, images, content streams.
fn assemble(mut l: Layout, images: &[Option<(u32, u32, Vec<u8>)>], version: &str) -> Vec<u8> {
    let n_pages = l.pages.len();
    // Footers now that the page count is known.
    for p in 0..n_pages {
        let label = format!("lungscope {version} - page {} of {n_pages}", p + 1);
        let c = &mut l.pages[p];
        c.set_fill_gray(0.45);
        c.begin_text();
        c.set_font(FONT, 7.0);
        c.next_line(MARGIN, MARGIN - 20.0);
        c.show(Str(pdf_text(&label).as_bytes()));
        c.end_text();
    }
    let mut next = 1;
    let mut id = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let (catalog, tree, font, bold, info) = (id(), id(), id(), id(), id());
    let image_ids: Vec<Ref> = images.iter().map(|_| id()).collect();
    let page_ids: Vec<(Ref, Ref)> = (0..n_pages).map(|_| (id(), id())).collect();
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(tree);
    pdf.pages(tree)
        .kids(page_ids.iter().map(|p| p.0))
        .count(n_pages as i32);
    pdf.type1_font(font)
        .base_font(Name(b"Helvetica"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.type1_font(bold)
        .base_font(Name(b"Helvetica-Bold"))
        .encoding_predefined(Name(b"WinAnsiEncoding"));
    pdf.document_info(info)
        .title(TextStr("lungscope report"))
        .producer(TextStr(&format!("lungscope {version}")));
    for (img, &iid) in images.iter().zip(&image_ids) {
        // An undecodable image becomes a 1x1 grey placeholder, never a broken file.
        let (w, h, rgb) = img.clone().unwrap_or((1, 1, vec![128, 128, 128]));
        let data = zlib(&rgb);
        let mut x = pdf.image_xobject(iid, &data);
        x.filter(Filter::FlateDecode);
        x.width(w as i32);
        x.height(h as i32);
        x.color_space().device_rgb();
        x.bits_per_component(8);
        x.finish();
    }
    for (p, (content, (pid, cid))) in l.pages.into_iter().zip(&page_ids).enumerate() {
        let mut content = content;
        for pl in l.placed.iter().filter(|pl| pl.page == p) {
            let name = format!("Im{}", pl.image);
            let [x, y, w, h] = pl.rect;
            content.save_state();
            content.transform([w, 0.0, 0.0, h, x, y]);
            content.x_object(Name(name.as_bytes()));
            content.restore_state();
        }
        let mut page = pdf.page(*pid);
        page.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H));
        page.parent(tree);
        page.contents(*cid);
        let mut res = page.resources();
        res.fonts().pair(FONT, font).pair(BOLD, bold);
        let names: Vec<String> = (0..image_ids.len()).map(|i| format!("Im{i}")).collect();
        let mut xo = res.x_objects();
        for (name, &iid) in names.iter().zip(&image_ids) {
            xo.pair(Name(name.as_bytes()), iid);
        }
        xo.finish();
        res.finish();
        page.finish();
        pdf.stream(*cid, &content.finish());
    }
    pdf.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widths_and_wrapping() {
        assert!((text_width("Hello", 10.0, false) - 22.78).abs() < 0.01);
        let lines = wrap(
            "aaa bbb ccc ddd",
            10.0,
            false,
            text_width("aaa bbb", 10.0, false),
        );
        assert_eq!(lines, vec!["aaa bbb", "ccc ddd"]);
        let long = "0123456789".repeat(20);
        let lines = wrap(&long, 10.0, false, 100.0);
        assert!(lines.len() > 1 && lines.concat() == long);
        assert!(lines.iter().all(|l| text_width(l, 10.0, false) <= 100.0));
    }

    #[test]
    fn text_is_mapped_to_ascii() {
        assert_eq!(pdf_text("5–25 % × 2 µ"), "5-25 % x 2 ?");
    }
}
