//! The report's long sections, each a page of its own beside `REPORT.md` (as the case pages
//! are): the minimal recipes, why each flag is needed, the workload probes and the catalogue
//! entries a run met. `REPORT.md` links each with a one-line summary, so that it stays short
//! however many searches, probes and failures a run has.

use std::fmt::Write as _;

use crate::report::answers::SearchKind;
use crate::report::results::Results;
use crate::trial::probe::ProbeVerdict;

use crate::report::format::files::{
    CATALOGUE_PAGE, MINIMAL_RECIPES_PAGE, NETWORKING_PAGE, PROBES_PAGE, WHY_EACH_FLAG_PAGE,
};

/// One page beside `REPORT.md`: its file name, its title, the line `REPORT.md` links it
/// with, and its text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub file: &'static str,
    pub title: &'static str,
    pub summary: String,
    pub text: String,
}

/// The pages that have something to show, in the order `REPORT.md` lists them.
pub fn pages(r: &Results) -> Vec<Page> {
    let mut pages = Vec::new();
    let searches = |kind| r.answers.minimized.iter().filter(move |m| m.kind == kind);
    let minimal = searches(SearchKind::Minimize).count();
    let mut section = String::new();
    super::answers::minimal_recipes(&mut section, &r.answers);
    push(
        &mut pages,
        MINIMAL_RECIPES_PAGE,
        "Minimal recipes",
        format!(
            "{minimal} recipe{} cut to the least it needs by `dindcheck minimize`, with every \
             part's evidence.",
            plural(minimal)
        ),
        section,
    );
    let measured = searches(SearchKind::LeaveOneOut).count();
    let mut section = String::new();
    super::answers::why_each_flag(&mut section, &r.answers);
    push(
        &mut pages,
        WHY_EACH_FLAG_PAGE,
        "Why each flag, measured",
        format!(
            "{measured} recipe{} with each part removed alone \
             (`dindcheck minimize --leave-one-out`), beside the design note's reason for it.",
            plural(measured)
        ),
        section,
    );
    let ready = r.outcomes.iter().filter(|o| !o.probes.is_empty());
    let (mut ok, mut failed) = (0, 0);
    for p in ready.clone().flat_map(|o| &o.probes) {
        match p.verdict {
            ProbeVerdict::Ok => ok += 1,
            ProbeVerdict::Failed => failed += 1,
            ProbeVerdict::Skipped | ProbeVerdict::NotApplicable => {}
        }
    }
    let mut section = String::new();
    super::sections::probe_matrix(&mut section, r);
    push(
        &mut pages,
        PROBES_PAGE,
        "Workload probes",
        format!(
            "the workload probes of the {} ready trials: {ok} passed, {failed} failed.",
            ready.count()
        ),
        section,
    );
    let mut section = String::new();
    super::network::network_matrix(
        &mut section,
        r,
        crate::report::format::files::CASES_DIR,
        None,
    );
    let networked = r
        .outcomes
        .iter()
        .filter(|o| {
            o.probes
                .iter()
                .any(|p| p.probe.is_network() && p.verdict != ProbeVerdict::NotApplicable)
        })
        .count();
    push(
        &mut pages,
        NETWORKING_PAGE,
        "Networking",
        format!(
            "the network probes (egress, egress-host, publish, dns, bulk) of the {networked} \
             ready trial{} with a sandbox network the harness reaches.",
            plural(networked)
        ),
        section,
    );
    let mut section = String::new();
    let entries = super::sections::catalogue_entries(&mut section, r);
    push(
        &mut pages,
        CATALOGUE_PAGE,
        "Error catalogue entries seen in this run",
        format!(
            "the {entries} catalogue entr{} this run's failures named: layer, explanation, \
             remedy and references.",
            if entries == 1 { "y" } else { "ies" }
        ),
        section,
    );
    pages
}

fn push(
    pages: &mut Vec<Page>,
    file: &'static str,
    title: &'static str,
    summary: String,
    section: String,
) {
    if section.trim().is_empty() {
        return;
    }
    // The section's own heading becomes the page's title.
    let body = section
        .trim_start()
        .strip_prefix(&format!("## {title}"))
        .unwrap_or(&section)
        .trim_start();
    let text = format!("# {title}\n\nPart of the [dindcheck report](REPORT.md).\n\n{body}");
    pages.push(Page {
        file,
        title,
        summary,
        text,
    });
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// `REPORT.md`'s list of the pages, one line each.
pub(super) fn list(md: &mut String, pages: &[Page]) {
    if pages.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## On pages of their own\n");
    for p in pages {
        let _ = writeln!(md, "- [{}]({}): {}", p.title, p.file, p.summary);
    }
}
