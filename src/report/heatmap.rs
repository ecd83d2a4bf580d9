//! The heat map (`heatmap.svg` beside the report): one row per case, one column per runtime
//! and launcher, each cell coloured by its verdict, with the diagnosis in the cell's
//! `<title>` (a tooltip where the SVG is opened on its own). Plain SVG 1.1 with no script or
//! external reference, so that GitHub renders it from the report's relative image link.
//!
//! Written by hand rather than with an SVG crate: it is rectangles and text, and the one
//! thing to get right, escaping, is [`xml`].

use std::fmt::Write as _;

use super::results::Results;
use super::table::{View, is_not_expressible};
use crate::outcome::{Outcome, Verdict};
use crate::probe::ProbeVerdict;

const CELL_W: usize = 92;
const CELL_H: usize = 18;
const LABEL_W: usize = 300;
const HEAD_H: usize = 44;

/// The colours of the legend, in its order: (label, fill).
const LEGEND: [(&str, &str); 6] = [
    ("ready, every probe passing", "#1a7f37"),
    ("ready, some probe failing", "#8dd9a0"),
    ("exited / launch-failed", "#cf222e"),
    ("timeout", "#bc4c00"),
    ("not run", "#d0d7de"),
    ("not expressible", "#f6f8fa"),
];

/// Text for an SVG element or attribute: no markup survives from a case or a log.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The fill and the tooltip of one cell.
fn paint(o: &Outcome) -> (&'static str, String) {
    let failing: Vec<String> = o
        .applicable_probes()
        .filter(|p| p.verdict != ProbeVerdict::Ok)
        .map(|p| {
            format!(
                "{} {}",
                p.probe,
                p.diagnosis.as_deref().unwrap_or("skipped")
            )
        })
        .collect();
    match o.verdict {
        Verdict::Ready if failing.is_empty() => (LEGEND[0].1, "ready".into()),
        Verdict::Ready => (
            LEGEND[1].1,
            format!("ready; probes not passing: {}", failing.join(", ")),
        ),
        v => (
            if v == Verdict::Timeout {
                LEGEND[3].1
            } else {
                LEGEND[2].1
            },
            format!("{v}: {}", o.diagnosis.as_deref().unwrap_or("no diagnosis")),
        ),
    }
}

/// The heat map of `r` as an SVG document.
pub(super) fn heatmap(r: &Results, view: &View) -> String {
    let cols = view.columns.len();
    let width = LABEL_W + cols * CELL_W + 10;
    let legend_y = HEAD_H + r.cases.len() * CELL_H + 16;
    let height = legend_y + LEGEND.len() * 16 + 8;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"##
    );
    let _ = writeln!(
        svg,
        r##"<title>dindcheck: verdict per case × runtime × launcher</title><rect width="{width}" height="{height}" fill="#ffffff"/>"##
    );
    for (i, (rt, l)) in view.columns.iter().enumerate() {
        let x = LABEL_W + i * CELL_W + CELL_W / 2;
        let _ = writeln!(
            svg,
            r##"<text x="{x}" y="16" text-anchor="middle">{}</text><text x="{x}" y="32" text-anchor="middle" fill="#57606a">{}</text>"##,
            xml(rt),
            xml(l)
        );
    }
    for (row, c) in r.cases.iter().enumerate() {
        let y = HEAD_H + row * CELL_H;
        let _ = writeln!(
            svg,
            r##"<text x="{}" y="{}" text-anchor="end">{}</text>"##,
            LABEL_W - 6,
            y + CELL_H - 5,
            xml(&c.name)
        );
        for (i, col) in view.columns.iter().enumerate() {
            let (fill, tip) = match view.get(&c.name, *col) {
                Some(o) => paint(o),
                None if is_not_expressible(r, &c.name, col.1, col.0) => {
                    (LEGEND[5].1, "not expressible with this launcher".into())
                }
                None => (LEGEND[4].1, "not run".into()),
            };
            let _ = writeln!(
                svg,
                r##"<rect x="{}" y="{y}" width="{}" height="{}" fill="{fill}" stroke="#ffffff"><title>{} · {} {}: {}</title></rect>"##,
                LABEL_W + i * CELL_W,
                CELL_W,
                CELL_H,
                xml(&c.name),
                xml(col.0),
                xml(col.1),
                xml(&tip)
            );
        }
    }
    for (i, (label, fill)) in LEGEND.iter().enumerate() {
        let y = legend_y + i * 16;
        let _ = writeln!(
            svg,
            r##"<rect x="{LABEL_W}" y="{y}" width="12" height="12" fill="{fill}" stroke="#8c959f"/><text x="{}" y="{}">{label}</text>"##,
            LABEL_W + 18,
            y + 10
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn no_markup_survives_from_a_name() {
        assert_eq!(
            xml(r#"<script>"a"&'b'</script>"#),
            "&lt;script&gt;&quot;a&quot;&amp;&apos;b&apos;&lt;/script&gt;"
        );
    }
}
