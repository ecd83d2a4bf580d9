//! The report's opening: what a reader needs in a minute. Verdict counts, whether anything
//! changed since the baselines (the gate's answer), the three answers of the first screen
//! (`recommend`: which recipe works here, the least it needs, the one change that fixes
//! yours), and the root causes that explain the most trials. No timing figure appears here, so that a
//! rerun with the same outcomes leaves it unchanged.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::table::catalogue_link;
use crate::gate::BaselineComparison;
use crate::report::results::Results;
use crate::trial::classify::UNKNOWN;
use crate::trial::outcome::Verdict;

/// How many root causes the summary names before "Also".
const TOP: usize = 5;

/// The summary section, first in the report.
pub(super) fn summary(md: &mut String, r: &Results) {
    let _ = writeln!(md, "## Summary\n");
    verdict_counts(md, r);
    baseline_line(md, r);
    super::recommend::first_screen(md, r);
    root_causes(md, r);
}

fn verdict_counts(md: &mut String, r: &Results) {
    let n = |v: Verdict| r.outcomes.iter().filter(|o| o.verdict == v).count();
    let mut parts = vec![
        format!("✔ {} ready", n(Verdict::Ready)),
        format!("✖ {} exited", n(Verdict::Exited)),
        format!("✖ {} launch-failed", n(Verdict::LaunchFailed)),
        format!("⧗ {} timeout", n(Verdict::Timeout)),
    ];
    if !r.not_run.is_empty() {
        parts.push(format!("{} not run", r.not_run.len()));
    }
    if !r.not_expressible.is_empty() {
        parts.push(format!("{} not expressible", r.not_expressible.len()));
    }
    if !r.disagreements.is_empty() {
        parts.push(format!(
            "{} disagreed on by the merged inputs (see [Inputs that disagree](#inputs-that-disagree))",
            r.disagreements.len()
        ));
    }
    let _ = writeln!(
        md,
        "- **{} trials** ({} cases × {} runtimes × {} launchers): {}.",
        r.outcomes.len(),
        r.cases.len(),
        r.runtimes.len(),
        crate::report::format::view::launchers(r).len(),
        parts.join(" · ")
    );
}

/// The gate's answer in one line (the list, when there is one, is its own section).
fn baseline_line(md: &mut String, r: &Results) {
    if r.baselines.is_empty() {
        let _ = writeln!(
            md,
            "- **Changed since baseline**: not compared (no baselines were consulted)."
        );
        return;
    }
    let changed = r
        .baselines
        .iter()
        .filter(|b| matches!(b.comparison, BaselineComparison::Changed { .. }))
        .count();
    let new = r
        .baselines
        .iter()
        .filter(|b| b.comparison == BaselineComparison::New)
        .count();
    if changed + new == 0 {
        let _ = writeln!(
            md,
            "- **Changed since baseline**: no change ({} trials match their baselines).",
            r.baselines.len()
        );
    } else {
        let _ = writeln!(
            md,
            "- **Changed since baseline**: {changed} changed, {new} without a baseline (see \
             [Changed since baseline](#changed-since-baseline))."
        );
    }
}

/// The catalogue ids that explain the most trials: a trial's verdict, or any of its probes.
fn root_causes(md: &mut String, r: &Results) {
    let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for o in &r.outcomes {
        if let Some(d) = o.diagnosis.as_deref() {
            counts.entry(d).or_default().0 += 1;
        }
        let mut seen: Vec<&str> = Vec::new();
        for p in &o.probes {
            if let Some(d) = p.diagnosis.as_deref()
                && !seen.contains(&d)
            {
                seen.push(d);
                counts.entry(d).or_default().1 += 1;
            }
        }
    }
    if counts.is_empty() {
        return;
    }
    let mut ranked: Vec<(&str, (usize, usize))> = counts.into_iter().collect();
    ranked.sort_by(|a, b| (b.1.0 + b.1.1).cmp(&(a.1.0 + a.1.1)).then(a.0.cmp(b.0)));
    let _ = writeln!(md, "\n### Top root causes\n");
    let _ = writeln!(
        md,
        "| cause | trials it explains | as the verdict | in a probe |"
    );
    let _ = writeln!(md, "|---|---|---|---|");
    for (id, (verdict, probe)) in ranked.iter().take(TOP) {
        let _ = writeln!(
            md,
            "| {} | {} | {verdict} | {probe} |",
            catalogue_link(&format!("`{id}`"), id),
            verdict + probe
        );
    }
    if ranked.len() > TOP {
        let rest: Vec<String> = ranked[TOP..]
            .iter()
            .map(|(id, (v, p))| format!("{} ({})", catalogue_link(&format!("`{id}`"), id), v + p))
            .collect();
        let _ = writeln!(md, "\nAlso: {}.", rest.join(", "));
    }
    if ranked.iter().any(|(id, _)| *id == UNKNOWN) {
        let _ = writeln!(
            md,
            "\n`unknown` failures are ones no catalogue entry explains: see [Catalogue gaps](#catalogue-gaps)."
        );
    }
}
