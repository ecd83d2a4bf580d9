//! What every table of the markdown report shares: escaping text for a cell, the compact
//! form of an outcome, and the header of a table whose columns are the view's (runtime,
//! launcher) pairs.

use std::fmt::Write as _;

use crate::report::Results;
use crate::report::format::view::{View, is_not_expressible};
use crate::trial::outcome::{Outcome, Verdict};

/// A table cell: no `|`, no newline, no HTML, no backtick that could open a code span, and no
/// link or image to anywhere but an anchor of the report itself (lines come from sandbox
/// output, which a case controls: `![x](https://…)` or `[x](javascript:…)` must stay text).
pub fn cell(text: &str) -> String {
    let s = text
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ");
    // `](` opens a link's destination: keep only `](#anchor)`, escape every other one.
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        out.push_str(if after.starts_with('#') { "](" } else { "]\\(" });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Text for inside a fenced block in a `<details>`: the fence must not be closable by it.
pub(super) fn fenced(text: &str) -> String {
    text.replace("```", "'''")
}

pub(super) fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Ready => "✔",
        Verdict::Exited | Verdict::LaunchFailed => "✖",
        Verdict::Timeout => "⧗",
    }
}

/// The compact form of an outcome in the matrix.
pub fn matrix_cell(o: &Outcome) -> String {
    cell(&summary_line(o))
}

/// One line of plain text that sums up an outcome (the matrix cell, unescaped): for the
/// terminal.
pub fn summary_line(o: &Outcome) -> String {
    match o.verdict {
        Verdict::Ready => format!(
            "✔ ready in {:.1} s",
            o.ready_ms.unwrap_or(0) as f64 / 1000.0
        ),
        v => {
            let id = o
                .diagnosis
                .as_deref()
                .map(|d| format!(" [{d}]"))
                .unwrap_or_default();
            match o.decisive.as_deref() {
                // The whole line: it carries the cause, often at its end (issue 24:
                // "…apply caps: operation not permitted" was cut off).
                Some(why) => format!("{} {}{}: {}", verdict_mark(v), v, id, why),
                None => format!("{} {}{}", verdict_mark(v), v, id),
            }
        }
    }
}

/// The matrix's cell for an outcome: the verdict and the catalogue id that explains it,
/// linked to the catalogue entry (the full line is on the case's page). No timing figure, so
/// that a rerun with the same outcomes leaves the matrix unchanged.
pub(super) fn short_cell(o: &Outcome) -> String {
    match o.verdict {
        Verdict::Ready if o.probes.is_empty() => "✔ ready".into(),
        Verdict::Ready => {
            let ok = o
                .probes
                .iter()
                .filter(|p| p.verdict == crate::trial::probe::ProbeVerdict::Ok)
                .count();
            format!("✔ ready, {ok}/{} probes", o.applicable_probes().count())
        }
        v => match o.diagnosis.as_deref() {
            Some(id) => catalogue_link(&format!("{} {}", verdict_mark(v), cell(id)), id),
            None => format!("{} {v}", verdict_mark(v)),
        },
    }
}

/// `text` linked to the entry for catalogue id `id` on the catalogue page (its heading's
/// anchor), or to the report's catalogue gaps for `unknown`. Both links are relative to the
/// output directory, so they work from `REPORT.md` and from every page beside it.
pub(super) fn catalogue_link(text: &str, id: &str) -> String {
    if id == crate::trial::classify::UNKNOWN {
        format!("[{text}](REPORT.md#catalogue-gaps)")
    } else {
        format!(
            "[{text}]({}#{})",
            crate::report::format::files::CATALOGUE_PAGE,
            anchor(id)
        )
    }
}
pub(super) fn not_run_cell(r: &Results, case: &str, launcher: &str, runtime: &str) -> String {
    let name = format!("{case}::{launcher}::{runtime}");
    if is_not_expressible(r, case, launcher, runtime) {
        "– not expressible".into()
    } else if r.not_run.iter().any(|n| n.trial == name) {
        "not run (see [Not run](#not-run))".into()
    } else {
        "–".into()
    }
}

/// GitHub's heading anchor for a case name (lowercase letters, digits, `-`, `_` stay).
pub(super) fn anchor(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A probe's cell in a table of probes: ✔ (↻ when it passed on its second attempt), ✖ with
/// its catalogue entry, skipped, n/a, or empty when it did not run.
pub(super) fn probe_cell(r: Option<&crate::trial::probe::ProbeResult>) -> String {
    use crate::trial::probe::ProbeVerdict;
    let Some(r) = r else {
        return String::new();
    };
    match r.verdict {
        ProbeVerdict::Ok if r.retried.is_some() => "✔ ↻".to_string(),
        ProbeVerdict::Ok => "✔".to_string(),
        ProbeVerdict::Failed => {
            let id = r
                .diagnosis
                .as_deref()
                .unwrap_or(crate::trial::classify::UNKNOWN);
            catalogue_link(&format!("✖ {id}"), id)
        }
        ProbeVerdict::Skipped => "– skipped".to_string(),
        ProbeVerdict::NotApplicable => "n/a".to_string(),
    }
}

/// A table's header: the leading `first` columns (`a | b`), then one per column.
pub(super) fn header(view: &View, first: &str) -> String {
    let mut header = format!("| {first} |");
    let mut rule = String::from("|---|");
    for _ in first.matches(" | ") {
        rule.push_str("---|");
    }
    for (rt, l) in &view.columns {
        let _ = write!(header, " {} {} |", cell(rt), cell(l));
        rule.push_str("---|");
    }
    format!("{header}\n{rule}")
}
