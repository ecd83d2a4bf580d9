//! The report's opening: what a reader needs in a minute. Verdict counts, whether anything
//! changed since the baselines (the gate's answer), for each runtime the recipe to use, and
//! the root causes that explain the most trials. No timing figure appears here, so that a
//! rerun with the same outcomes leaves it unchanged.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::results::Results;
use super::table::{catalogue_link, cell};
use crate::classify::UNKNOWN;
use crate::gate::BaselineComparison;
use crate::outcome::{Outcome, Verdict};
use crate::probe::ProbeVerdict;

/// How many recipes and root causes the summary names before "and N more".
const TOP: usize = 5;

/// The summary section, first in the report.
pub(super) fn summary(md: &mut String, r: &Results) {
    let _ = writeln!(md, "## Summary\n");
    verdict_counts(md, r);
    baseline_line(md, r);
    recipes(md, r);
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
        super::table::launchers(r).len(),
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

/// How well a case did on one runtime: over its launchers, the trials that were ready with
/// every workload probe passing, and the probes that passed in all.
#[derive(Default)]
struct Standing<'a> {
    passing: Vec<&'a Outcome>,
    probes_ok: usize,
    probes_run: usize,
    best: Option<&'a Outcome>,
}

fn passes_every_probe(o: &Outcome) -> bool {
    o.verdict == Verdict::Ready
        && !o.probes.is_empty()
        && o.probes.iter().all(|p| p.verdict == ProbeVerdict::Ok)
}

fn probes_ok(o: &Outcome) -> usize {
    o.probes
        .iter()
        .filter(|p| p.verdict == ProbeVerdict::Ok)
        .count()
}

/// The command that reproduces one trial (a merged report's runtime loses its host suffix).
fn command(r: &Results, o: &Outcome) -> String {
    let runtime = o.runtime.split(" (").next().unwrap_or(&o.runtime);
    let mut c = format!(
        "dindcheck run --case {} --runtime {runtime} --launcher {}",
        o.case, o.launcher
    );
    if let Some(net) = &r.network_override {
        let _ = write!(c, " --runsc-network {net}");
    }
    c
}

/// For each runtime, the cases ready with every workload probe passing, best first (on the
/// most launchers, then by name); where none is, the closest (the most probes passing).
fn recipes(md: &mut String, r: &Results) {
    let _ = writeln!(md, "\n### Recommended recipe per runtime\n");
    for rt in &r.runtimes {
        let mut by_case: BTreeMap<&str, Standing> = BTreeMap::new();
        for o in r.outcomes.iter().filter(|o| o.runtime == rt.name) {
            let s = by_case.entry(o.case.as_str()).or_default();
            if o.verdict != Verdict::Ready {
                continue;
            }
            if passes_every_probe(o) {
                s.passing.push(o);
            }
            s.probes_ok += probes_ok(o);
            s.probes_run += o.probes.len();
            if s.best.is_none_or(|b| probes_ok(o) > probes_ok(b)) {
                s.best = Some(o);
            }
        }
        let mut passing: Vec<(&str, &Standing)> = by_case
            .iter()
            .filter(|(_, s)| !s.passing.is_empty())
            .map(|(c, s)| (*c, s))
            .collect();
        passing.sort_by(|a, b| b.1.passing.len().cmp(&a.1.passing.len()).then(a.0.cmp(b.0)));
        let _ = write!(md, "- **{}** ({}): ", cell(&rt.name), cell(&rt.version));
        if !passing.is_empty() {
            let _ = writeln!(
                md,
                "{} case(s) ready with every workload probe passing, best first:",
                passing.len()
            );
            for (case, s) in passing.iter().take(TOP) {
                let launchers: Vec<&str> = s.passing.iter().map(|o| o.launcher.as_str()).collect();
                let _ = writeln!(
                    md,
                    "  - [{case}](cases/{case}.md) ({}): `{}`",
                    launchers.join(", "),
                    command(r, s.passing[0])
                );
            }
            more(md, passing.len());
            continue;
        }
        let mut closest: Vec<(&str, &Outcome)> = by_case
            .iter()
            .filter_map(|(c, s)| Some((*c, s.best?)))
            .collect();
        if closest.is_empty() {
            let _ = writeln!(md, "no case became ready.");
            continue;
        }
        closest.sort_by(|a, b| probes_ok(b.1).cmp(&probes_ok(a.1)).then(a.0.cmp(b.0)));
        let _ = writeln!(
            md,
            "no case passes every workload probe; the closest (most probes passing):"
        );
        for (case, o) in closest.iter().take(TOP.min(3)) {
            let failed: Vec<String> = o
                .probes
                .iter()
                .filter(|p| p.verdict != ProbeVerdict::Ok)
                .map(|p| match &p.diagnosis {
                    Some(d) => format!("{} {}", p.probe, catalogue_link(&format!("✖ {d}"), d)),
                    None => format!("{} {}", p.probe, p.verdict.as_str()),
                })
                .collect();
            let _ = writeln!(
                md,
                "  - [{case}](cases/{case}.md): {}/{} probes ({}), `{}`",
                probes_ok(o),
                o.probes.len(),
                if failed.is_empty() {
                    "no probe ran".to_string()
                } else {
                    format!("not: {}", failed.join(", "))
                },
                command(r, o)
            );
        }
    }
}

fn more(md: &mut String, total: usize) {
    if total > TOP {
        let _ = writeln!(md, "  - and {} more", total - TOP);
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
