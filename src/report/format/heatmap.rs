//! The heat map (`heatmap.svg` beside the report): one row per case, one column per runtime
//! and launcher, each cell coloured by its verdict and labelled in words a person reads
//! without hovering: `✔ 5/7` (probes passed of those that apply, and how many did not
//! apply), `✖ 3` or `timeout 3` (the number of its diagnosis in the legend below the map),
//! `not expr.`.
//! The diagnosis stays in each cell's `<title>` too (a tooltip where the SVG is opened on
//! its own). Plain SVG 1.1 with no script or external reference, so that GitHub renders it
//! from the report's relative image link.
//!
//! The colours: full pass, most probes passing and few probes passing are three distinct
//! fills (issue 24: a trial with 1 of 7 probes passing had the colour of one with 6), a
//! failure is red, a timeout dark orange, and a trial the launcher cannot express is a
//! dashed outline rather than a fill near the background's.
//!
//! Written by hand rather than with an SVG crate: it is rectangles and text, and the one
//! thing to get right, escaping, is `xml`. `tests/heatmap.rs` renders it to PNG (resvg).

use std::fmt::Write as _;

use super::files::HEATMAP_FILE;
use super::view::{View, is_not_expressible};
use crate::report::results::Results;
use crate::trial::outcome::{Outcome, Verdict};
use crate::trial::probe::ProbeVerdict;

const CELL_W: usize = 100;
const CELL_H: usize = 20;
const LABEL_W: usize = 300;
const HEAD_H: usize = 44;
const LINE_H: usize = 16;

/// One kind of cell: its legend label, its fill, its text colour, and its outline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Paint {
    label: &'static str,
    fill: &'static str,
    text: &'static str,
    dashed: bool,
}

const fn paint(label: &'static str, fill: &'static str, text: &'static str) -> Paint {
    Paint {
        label,
        fill,
        text,
        dashed: false,
    }
}

const FULL: Paint = paint("ready, every probe passing", "#1a7f37", "#ffffff");
const MOST: Paint = paint(
    "ready, half the probes or more passing",
    "#8dd9a0",
    "#1f2328",
);
const FEW: Paint = paint(
    "ready, fewer than half the probes passing",
    "#f2cc60",
    "#1f2328",
);
const FAILED: Paint = paint(
    "exited / launch-failed (✖ N: diagnosis N)",
    "#cf222e",
    "#ffffff",
);
const TIMEOUT: Paint = paint("timeout (timeout N: diagnosis N)", "#953800", "#ffffff");
const NOT_RUN: Paint = paint("not run (the host could not run it)", "#afb8c1", "#1f2328");
const NOT_EXPRESSIBLE: Paint = Paint {
    label: "not expressible with this launcher",
    fill: "#ffffff",
    text: "#57606a",
    dashed: true,
};

/// The legend's colours, in its order.
const LEGEND: [Paint; 7] = [FULL, MOST, FEW, FAILED, TIMEOUT, NOT_RUN, NOT_EXPRESSIBLE];

/// Text for an SVG element or attribute: no markup survives from a case or a log.
fn xml(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The diagnoses of the trials that did not become ready, most trials first: a failing
/// cell shows its diagnosis's number in this list, which the legend spells out.
fn diagnoses(r: &Results) -> Vec<(&str, usize)> {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for o in r.outcomes.iter().filter(|o| o.verdict != Verdict::Ready) {
        let id = o
            .diagnosis
            .as_deref()
            .unwrap_or(crate::trial::classify::UNKNOWN);
        match counted.iter_mut().find(|(d, _)| *d == id) {
            Some((_, n)) => *n += 1,
            None => counted.push((id, 1)),
        }
    }
    counted.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    counted
}

/// One cell: its paint, its label, its tooltip.
fn trial_cell(o: &Outcome, diagnoses: &[(&str, usize)]) -> (Paint, String, String) {
    let applicable: Vec<_> = o.applicable_probes().collect();
    let passed = applicable
        .iter()
        .filter(|p| p.verdict == ProbeVerdict::Ok)
        .count();
    let not_applicable = o.probes.len() - applicable.len();
    let failing: Vec<String> = applicable
        .iter()
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
        Verdict::Ready => {
            let paint = if failing.is_empty() {
                FULL
            } else if 2 * passed >= applicable.len() {
                MOST
            } else {
                FEW
            };
            let mut label = if o.probes.is_empty() {
                "✔ ready".to_string()
            } else {
                format!("✔ {passed}/{}", applicable.len())
            };
            if not_applicable > 0 {
                let _ = write!(label, " · {not_applicable} n/a");
            }
            let tip = if failing.is_empty() {
                "ready".to_string()
            } else {
                format!("ready; probes not passing: {}", failing.join(", "))
            };
            (paint, label, tip)
        }
        v => {
            let id = o
                .diagnosis
                .as_deref()
                .unwrap_or(crate::trial::classify::UNKNOWN);
            let number = diagnoses
                .iter()
                .position(|(d, _)| *d == id)
                .map_or(0, |i| i + 1);
            let (paint, mark) = if v == Verdict::Timeout {
                // In words: the report's ⧗ is in few fonts (DejaVu Sans has none).
                (TIMEOUT, "timeout")
            } else {
                (FAILED, "✖")
            };
            (paint, format!("{mark} {number}"), format!("{v}: {id}"))
        }
    }
}

fn rect(svg: &mut String, x: usize, y: usize, w: usize, h: usize, p: Paint) {
    let (stroke, dash) = if p.dashed {
        ("#57606a", r#" stroke-dasharray="3 2""#)
    } else {
        ("#ffffff", "")
    };
    let _ = write!(
        svg,
        r##"<rect x="{x}" y="{y}" width="{w}" height="{h}" fill="{}" stroke="{stroke}"{dash}>"##,
        p.fill
    );
}

/// The heat map of `r` as an SVG document.
pub fn heatmap(r: &Results) -> String {
    let view = &View::of(r);
    let diagnoses = diagnoses(r);
    let cols = view.columns.len();
    let width = (LABEL_W + cols * CELL_W + 10).max(LABEL_W + 420);
    let legend_y = HEAD_H + r.cases.len() * CELL_H + 16;
    let diagnoses_y = legend_y + (LEGEND.len() + 1) * LINE_H + 8;
    let height = diagnoses_y + (diagnoses.len() + 1) * LINE_H + 8;
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
            y + CELL_H - 6,
            xml(&c.name)
        );
        for (i, col) in view.columns.iter().enumerate() {
            let (paint, label, tip) = match view.get(&c.name, *col) {
                Some(o) => trial_cell(o, &diagnoses),
                None if is_not_expressible(r, &c.name, col.1, col.0) => (
                    NOT_EXPRESSIBLE,
                    "not expr.".into(),
                    "not expressible with this launcher".into(),
                ),
                None => (NOT_RUN, "not run".into(), "not run".into()),
            };
            let x = LABEL_W + i * CELL_W;
            rect(&mut svg, x, y, CELL_W, CELL_H, paint);
            let _ = writeln!(
                svg,
                r##"<title>{} · {} {}: {}</title></rect><text x="{}" y="{}" text-anchor="middle" fill="{}">{}</text>"##,
                xml(&c.name),
                xml(col.0),
                xml(col.1),
                xml(&tip),
                x + CELL_W / 2,
                y + CELL_H - 6,
                paint.text,
                xml(&label)
            );
        }
    }
    let _ = writeln!(
        svg,
        r##"<text x="{LABEL_W}" y="{}" font-weight="bold">Colours</text><text x="{}" y="{}" fill="#57606a">✔ passed/applicable probes · n/a: probes that do not apply (no sandbox network)</text>"##,
        legend_y + 10,
        LABEL_W + 60,
        legend_y + 10
    );
    for (i, p) in LEGEND.iter().enumerate() {
        let y = legend_y + (i + 1) * LINE_H;
        rect(&mut svg, LABEL_W, y, 12, 12, *p);
        let _ = writeln!(
            svg,
            r##"</rect><text x="{}" y="{}">{}</text>"##,
            LABEL_W + 18,
            y + 10,
            xml(p.label)
        );
    }
    if !diagnoses.is_empty() {
        let _ = writeln!(
            svg,
            r##"<text x="{LABEL_W}" y="{}" font-weight="bold">Diagnoses of the failing cells (trials)</text>"##,
            diagnoses_y + 10
        );
    }
    for (i, (id, n)) in diagnoses.iter().enumerate() {
        let _ = writeln!(
            svg,
            r##"<text x="{LABEL_W}" y="{}">{}  {} ({n})</text>"##,
            diagnoses_y + (i + 1) * LINE_H + 10,
            i + 1,
            xml(id)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// `heatmap.svg`, beside the report that shows it.
pub struct HeatMap;

impl super::Format for HeatMap {
    fn files(&self, r: &Results) -> Vec<super::File> {
        vec![(HEATMAP_FILE.into(), heatmap(r).into_bytes())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ready trial of the committed results with every probe applicable, its first `ok`
    /// probes passing and the others failing.
    fn ready_with(ok: usize) -> Outcome {
        let text = include_str!("../../../reports/results.json");
        let r: Results = serde_json::from_str(text).unwrap();
        let mut o = r
            .outcomes
            .into_iter()
            .find(|o| o.verdict == Verdict::Ready && o.probes.len() >= 7)
            .expect("a ready trial with its probes");
        o.probes.truncate(7);
        for (i, p) in o.probes.iter_mut().enumerate() {
            p.verdict = if i < ok {
                ProbeVerdict::Ok
            } else {
                ProbeVerdict::Failed
            };
        }
        o
    }

    #[test]
    fn full_most_and_few_probes_passing_are_distinct_colours_with_their_counts() {
        let cell = |ok| trial_cell(&ready_with(ok), &[]);
        let (full, most, few) = (cell(7), cell(6), cell(1));
        assert_eq!((full.0, full.1.as_str()), (FULL, "✔ 7/7"));
        assert_eq!((most.0, most.1.as_str()), (MOST, "✔ 6/7"));
        assert_eq!((few.0, few.1.as_str()), (FEW, "✔ 1/7"));
        let mut fills: Vec<&str> = LEGEND.iter().map(|p| p.fill).collect();
        fills.sort();
        fills.dedup();
        assert_eq!(
            fills.len(),
            LEGEND.len(),
            "every kind of cell has its own fill"
        );
        // Not expressible stands out from the background by its outline.
        let mut outline = String::new();
        rect(&mut outline, 0, 0, 1, 1, NOT_EXPRESSIBLE);
        assert!(outline.contains("stroke-dasharray"), "{outline}");
        // Probes that do not apply are counted apart, not as failures.
        let mut o = ready_with(7);
        o.probes[6].verdict = ProbeVerdict::NotApplicable;
        assert_eq!(trial_cell(&o, &[]).1, "✔ 6/6 · 1 n/a");
        assert_eq!(trial_cell(&o, &[]).0, FULL);
    }

    #[test]
    fn a_failing_cell_shows_the_number_of_its_diagnosis_in_the_legend() {
        let mut o = ready_with(0);
        o.verdict = Verdict::Exited;
        o.diagnosis = Some("devices-cgroup-missing".into());
        let legend = [("runsc-unknown-flag", 5), ("devices-cgroup-missing", 3)];
        let (paint, label, tip) = trial_cell(&o, &legend);
        assert_eq!((paint, label.as_str()), (FAILED, "✖ 2"));
        assert_eq!(tip, "exited: devices-cgroup-missing");
    }

    #[test]
    fn no_markup_survives_from_a_name() {
        assert_eq!(
            xml(r#"<script>"a"&'b'</script>"#),
            "&lt;script&gt;&quot;a&quot;&amp;&apos;b&apos;&lt;/script&gt;"
        );
    }
}
