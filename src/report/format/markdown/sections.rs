//! The report's tables beside the matrix: the host checks, the outer engine's figures, the
//! workload probes, the catalogue's gaps and entries, the design note's table, before and
//! after, and what changed since the baselines.

use std::fmt::Write as _;

use super::table::{cell, header, short_cell};
use crate::doctor::{Diagnosis, Status};
use crate::gate::BaselineComparison;
use crate::report::format::view::{View, is_not_expressible};
use crate::report::gaps::{Exploration, Gaps, of_answers, of_outcomes};
use crate::report::results::{BaselineStatus, CaseInfo, EngineFigures, Results};
use crate::report::stability::Stability;
use crate::trial::classify::{Catalogue, UNKNOWN};
use crate::trial::outcome::Outcome;
use crate::trial::probe::{Probe, ProbeVerdict};

/// The design note's comparison table, with the measured outcome beside its verdicts.
pub(super) fn design_note(md: &mut String, r: &Results, view: &View) {
    let rows: Vec<&CaseInfo> = r
        .cases
        .iter()
        .filter(|c| c.source.starts_with("design note"))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## The design note's table, measured\n");
    let _ = writeln!(
        md,
        "{}",
        header(view, "approach (case) | the note's verdict")
    );
    for c in rows {
        let _ = write!(md, "| {} | {} |", cell(&c.name), cell(&c.claim));
        for col in &view.columns {
            let text = view
                .get(&c.name, *col)
                .map_or_else(|| "–".into(), short_cell);
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
}

/// For each case that extends another: what it changes, and how the outcome changed.
pub(super) fn before_after(md: &mut String, r: &Results, view: &View) {
    let rows: Vec<&CaseInfo> = r.cases.iter().filter(|c| c.extends.is_some()).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Before and after\n");
    let _ = writeln!(
        md,
        "What each case changes relative to the case it extends, and the outcome before → \
         after (– where the base is abstract and not run itself).\n"
    );
    let _ = writeln!(md, "{}", header(view, "case | extends | changes"));
    for c in rows {
        let parent = c.extends.as_deref().unwrap_or_default();
        let changes = if c.changes.is_empty() {
            "(nothing but its description)".to_string()
        } else {
            c.changes
                .iter()
                .map(|l| cell(l))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = write!(md, "| {} | {} | {} |", cell(&c.name), cell(parent), changes);
        for col in &view.columns {
            let short_verdict = |name: &str| match view.get(name, *col) {
                Some(o) => o.verdict.to_string(),
                None if is_not_expressible(r, name, col.1, col.0) => "not expressible".into(),
                None => "–".into(),
            };
            let _ = write!(
                md,
                " {} → {} |",
                short_verdict(parent),
                short_verdict(&c.name)
            );
        }
        md.push('\n');
    }
}

pub(super) fn changed_since_baseline(md: &mut String, r: &Results) {
    let changed: Vec<&BaselineStatus> = r
        .baselines
        .iter()
        .filter(|b| b.comparison != BaselineComparison::Same)
        .collect();
    // "No change" is the summary's line; the section lists changes only.
    if changed.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Changed since baseline\n");
    for b in changed {
        match &b.comparison {
            BaselineComparison::New => {
                let _ = writeln!(md, "- `{}`: no baseline recorded yet", cell(&b.trial));
            }
            BaselineComparison::Changed { expected } => {
                let was = expected.lines().collect::<Vec<_>>().join("; ");
                let _ = writeln!(md, "- `{}`: was {}", cell(&b.trial), cell(&was));
            }
            BaselineComparison::Same => {}
        }
    }
}

pub(super) fn engine_figures(md: &mut String, e: &EngineFigures) {
    if let Some(address) = &e.existing {
        let _ = writeln!(
            md,
            "Outer engine: the existing dockerd {} at `{}` (not started or stopped by dindcheck).",
            cell(&e.dockerd),
            cell(address)
        );
    } else {
        let _ = writeln!(
            md,
            "Outer engine: dockerd {}, started in {:.1} s, stopped in {}.",
            cell(&e.dockerd),
            e.start_ms as f64 / 1000.0,
            e.stop_ms
                .map_or("?".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
        );
    }
    if !e.reload_ms.is_empty() {
        let each: Vec<String> = e
            .reload_ms
            .iter()
            .map(|ms| format!("{:.1} s", *ms as f64 / 1000.0))
            .collect();
        let _ = writeln!(
            md,
            "Reloaded (SIGHUP) for runtimes it lacked: {} time(s), in {}.",
            e.reload_ms.len(),
            each.join(", ")
        );
    }
    for i in &e.imports {
        let _ = writeln!(
            md,
            "Image `{}`: {}.",
            cell(&i.image),
            match (i.rootfs.is_empty(), i.import_ms) {
                (false, None) => "already imported".to_string(),
                (false, Some(ms)) => format!("imported in {:.1} s", ms as f64 / 1000.0),
                (true, None) => "already in the engine".to_string(),
                (true, Some(ms)) => format!("pulled in {:.1} s", ms as f64 / 1000.0),
            }
        );
    }
    if !e.reaped.is_empty() || !e.leaked_at_stop.is_empty() {
        let _ = writeln!(
            md,
            "Ended at the engine's start (left by a dead run): {}; after it stopped: {}.",
            cell(&e.reaped.join(", ")),
            cell(&e.leaked_at_stop.join(", "))
        );
    }
    md.push('\n');
}

/// The workload probes of every trial that reached readiness, but the network ones (which
/// [`super::network::network_matrix`] shows): one row per case × runtime, one column per probe.
pub(super) fn probe_matrix(md: &mut String, r: &Results) {
    let ready: Vec<&Outcome> = r.outcomes.iter().filter(|o| !o.probes.is_empty()).collect();
    if ready.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Workload probes\n");
    let _ = writeln!(
        md,
        "Run against each ready dockerd before the teardown: ✔ ok · ✖ failed, with the \
         catalogue entry · – skipped · ↻ passed on its second attempt (a failed probe is tried \
         once more before it counts). Durations and details are on each case's page.\n"
    );
    let local = || Probe::ALL.into_iter().filter(|p| !p.is_network());
    let mut header = String::from("| case | runtime |");
    let mut rule = String::from("|---|---|");
    for p in local() {
        let _ = write!(header, " {p} |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for o in ready {
        let column = format!("{} {}", o.runtime, o.launcher);
        let _ = write!(md, "| {} | {} |", cell(&o.case), cell(&column));
        for p in local() {
            let text = super::table::probe_cell(o.probes.iter().find(|r| r.probe == p));
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
}

/// Failures that no entry of the error catalogue explains, from every input of the report:
/// the run's trials and every saved search's ([`crate::report::gaps`]), clustered by their lines.
pub(super) fn catalogue_gaps(md: &mut String, r: &Results) {
    let gaps = Gaps::of(
        of_outcomes(&r.outcomes)
            .into_iter()
            .chain(of_answers(&r.answers)),
    );
    let _ = writeln!(md, "\n## Catalogue gaps\n");
    if let Some(e) = &r.exploration {
        exploration(md, e);
    }
    if gaps.unknown == 0 {
        let _ = writeln!(
            md,
            "None: every failure ({} in all: the run's trials and the searches' trials) is \
             explained by an entry of `catalogue/errors.toml`.",
            gaps.failures
        );
        return;
    }
    let _ = writeln!(
        md,
        "Failures that no entry of `catalogue/errors.toml` explains (add a signature), over \
         the run's trials and the searches' trials: {}. Each line once, with how often it \
         was seen and where first (`dindcheck gaps reports/` lists them with the explained \
         ones):\n",
        gaps.rate()
    );
    unexplained_lines(md, &gaps);
}

/// Each unexplained cluster: how often, an example, and where first.
fn unexplained_lines(md: &mut String, gaps: &Gaps) {
    for c in gaps.unexplained() {
        let _ = writeln!(
            md,
            "- {}×: {} (first: {})",
            c.count,
            cell(&c.example),
            cell(&c.configuration)
        );
    }
}

/// The catalogue's coverage over the exploration sweep: configurations nobody wrote down,
/// as a user's own recipe is.
fn exploration(md: &mut String, e: &Exploration) {
    let _ = writeln!(
        md,
        "Over the exploration sweep (`scripts/explore`: {} searches around the corpus's \
         recipes, saved under `{}`), measured by `dindcheck gaps {}`: {}.\n",
        e.searches,
        cell(&e.dir),
        cell(&e.dir),
        e.gaps.rate()
    );
    if e.gaps.unknown > 0 {
        let _ = writeln!(md, "Its unexplained lines:\n");
    }
    unexplained_lines(md, &e.gaps);
    let _ = writeln!(md, "\nIn this report's own inputs:\n");
}

/// One catalogue id as the report shows it for a failure: the id, the layer at fault, the
/// explanation and the remedy.
pub(super) fn explain(id: &str) -> String {
    match Catalogue::builtin().get(id) {
        Some(s) => format!(
            "`{}` ({}): {} **Remedy**: {}",
            s.id,
            s.layer.as_str(),
            cell(&s.explanation),
            cell(&s.remedy)
        ),
        None if id == UNKNOWN => {
            "`unknown`: no entry of the error catalogue explains it (see Catalogue gaps)."
                .to_string()
        }
        None => format!("`{}` (not in this build's catalogue)", cell(id)),
    }
}

/// The diagnosis of a trial's verdict and each of its probes, in its details.
pub(super) fn trial_diagnosis(md: &mut String, o: &Outcome) {
    if let Some(d) = &o.diagnosis {
        let _ = writeln!(
            md,
            "- **Diagnosis** (from the decisive line): {}",
            explain(d)
        );
    }
    // Entries other lines matched: context, never the cause (dockerd logs errors on its
    // way to the real failure).
    let also: Vec<String> = o
        .catalogue_ids
        .iter()
        .filter(|id| Some(id.as_str()) != o.diagnosis.as_deref() && id.as_str() != UNKNOWN)
        .filter(|id| {
            !o.probes
                .iter()
                .any(|p| p.diagnosis.as_deref() == Some(id.as_str()))
        })
        .map(|id| format!("`{}`", cell(id)))
        .collect();
    if !also.is_empty() && o.diagnosis.is_some() {
        let _ = writeln!(md, "- **Also seen** (not the cause): {}", also.join(", "));
    }
    for p in &o.probes {
        let ms = p.ms as f64 / 1000.0;
        let line = match p.verdict {
            ProbeVerdict::Ok if p.retried.is_some() => format!(
                "- probe `{}`: ✔ ok in {ms:.1} s, on its second attempt (the first failed: {})",
                p.probe,
                cell(p.retried.as_deref().unwrap_or(""))
            ),
            ProbeVerdict::Ok => match &p.transfer {
                Some(t) => format!(
                    "- probe `{}`: ✔ ok in {ms:.1} s ({:.0} MiB delivered in {:.1} s: {:.1} MiB/s)",
                    p.probe,
                    t.bytes as f64 / (1024.0 * 1024.0),
                    t.ms as f64 / 1000.0,
                    t.mib_per_s()
                ),
                None => format!("- probe `{}`: ✔ ok in {ms:.1} s", p.probe),
            },
            ProbeVerdict::NotApplicable => format!(
                "- probe `{}`: n/a: {}",
                p.probe,
                cell(p.detail.as_deref().unwrap_or(""))
            ),
            ProbeVerdict::Skipped => format!(
                "- probe `{}`: – skipped: {}",
                p.probe,
                cell(p.detail.as_deref().unwrap_or(""))
            ),
            ProbeVerdict::Failed => format!(
                "- probe `{}`: ✖ failed after {ms:.1} s: {}\n  - **Diagnosis**: {}",
                p.probe,
                cell(p.detail.as_deref().unwrap_or("")),
                explain(p.diagnosis.as_deref().unwrap_or(UNKNOWN))
            ),
        };
        let _ = writeln!(md, "{line}");
    }
    if o.diagnosis.is_some() || !o.probes.is_empty() {
        md.push('\n');
    }
}

/// Every catalogue entry that this run's outcomes named, with its references; says how many.
pub(super) fn catalogue_entries(md: &mut String, r: &Results) -> usize {
    let mut ids: Vec<&str> = Vec::new();
    for o in &r.outcomes {
        for id in &o.catalogue_ids {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
    }
    let catalogue = Catalogue::builtin();
    let entries: Vec<_> = catalogue
        .signatures
        .iter()
        .filter(|s| ids.contains(&s.id.as_str()))
        .collect();
    if entries.is_empty() {
        return 0;
    }
    let count = entries.len();
    let _ = writeln!(md, "## Error catalogue entries seen in this run\n");
    for s in entries {
        let _ = writeln!(md, "### `{}`\n", s.id);
        let _ = writeln!(md, "- **Layer**: {}", s.layer.as_str());
        let _ = writeln!(md, "- **Explanation**: {}", cell(&s.explanation));
        let _ = writeln!(md, "- **Remedy**: {}", cell(&s.remedy));
        if !s.references.is_empty() {
            let _ = writeln!(md, "- **References**: {}", s.references.join(" · "));
        }
        md.push('\n');
    }
    count
}

/// What was still there after a trial's teardown (processes, its scratch directory): a
/// failure of the harness's cleanup, listed only when there is any.
pub(super) fn teardown_leaks(md: &mut String, r: &Results) {
    let leaked: Vec<&Outcome> = r.outcomes.iter().filter(|o| !o.leaks.is_empty()).collect();
    if leaked.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Left after the teardown\n\nThe harness's cleanup missed these: they were still \
         there after the trial was torn down (please report it).\n"
    );
    for o in leaked {
        let _ = writeln!(md, "- `{}`: {}", cell(&o.trial), cell(&o.leaks.join("; ")));
    }
}

/// The report header's section: what doctor found before the cases ran.
pub(super) fn host_checks(d: &Diagnosis) -> String {
    let mut md = String::new();
    let (ok, warn, fail) = d.counts();
    let _ = writeln!(
        md,
        "**Host checks** (`dindcheck doctor{}`, {:.1} s): {ok} ✔, {warn} ⚠, {fail} ✖.{}\n",
        if d.quick { " --quick" } else { "" },
        d.elapsed_ms as f64 / 1000.0,
        if warn + fail > 0 {
            " The ones that are not ✔ (trials that depend on them are listed under Not run):"
        } else {
            ""
        }
    );
    let notable: Vec<_> = d.checks.iter().filter(|c| c.status != Status::Ok).collect();
    if !notable.is_empty() {
        let _ = writeln!(
            md,
            "| | subject | check | found | remedy |\n|---|---|---|---|---|"
        );
        for c in notable {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} |",
                c.status.mark(),
                cell(&c.subject),
                cell(&c.name),
                cell(&c.summary),
                cell(c.remedy.as_deref().unwrap_or(""))
            );
        }
        md.push('\n');
    }
    md
}

/// The report's "Stability" section: every repeated trial's flake rate, and each variant of
/// the flaky ones. Empty when no trial was repeated.
pub(super) fn stability(md: &mut String, stability: &[Stability]) {
    if stability.is_empty() {
        return;
    }
    let runs = stability.iter().map(|s| s.runs).max().unwrap_or(0);
    let flaky: Vec<&Stability> = stability.iter().filter(|s| s.is_flaky()).collect();
    let executions: usize = stability.iter().map(|s| s.runs).sum();
    let off: usize = flaky.iter().map(|s| s.runs - s.variants[0].count).sum();
    let _ = writeln!(md, "\n## Stability\n");
    let _ = writeln!(
        md,
        "Every trial ran {runs} times (`dindcheck run --repeat {runs}`); outcomes compared as \
         the conformance gate compares them (never timings). **{} of {} trials flaky**; {off} \
         of {executions} executions ({:.1} %) gave another outcome than their trial's most \
         frequent one.\n",
        flaky.len(),
        stability.len(),
        if executions == 0 {
            0.0
        } else {
            100.0 * off as f64 / executions as f64
        }
    );
    if flaky.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "| trial | runs | flake rate | variants (count: outcome) |\n|---|---|---|---|"
    );
    for s in &flaky {
        let variants: Vec<String> = s
            .variants
            .iter()
            .map(|v| {
                format!(
                    "{}: {}",
                    v.count,
                    cell(&v.outcome.trim().replace('\n', "; "))
                )
            })
            .collect();
        let _ = writeln!(
            md,
            "| `{}` | {} | {:.0} % | {} |",
            cell(&s.trial),
            s.runs,
            100.0 * s.flake_rate(),
            variants.join("<br>")
        );
    }
}

/// How precisely readiness was timed and what the trials cost around what they measure:
/// the median and worst detection overhead (ready instant − dockerd's own "API listen on"),
/// and the median per-trial overhead (wall − ready or exit − probes). One line, or none when
/// no trial recorded its timing.
pub(super) fn timing_figures(md: &mut String, outcomes: &[Outcome]) {
    let timed: Vec<(&Outcome, &crate::trial::outcome::Timing)> = outcomes
        .iter()
        .filter_map(|o| o.timing.as_ref().map(|t| (o, t)))
        .collect();
    if timed.is_empty() {
        return;
    }
    let mut detection: Vec<i64> = timed.iter().filter_map(|(_, t)| t.detection_ms).collect();
    let mut overhead: Vec<i64> = timed
        .iter()
        .map(|(o, t)| {
            let measured = o.ready_ms.or(t.waited_ms);
            t.overhead_ms(measured) as i64
        })
        .collect();
    let mut line = String::from("Timing: ");
    if let Some(m) = median(&mut detection) {
        let _ = write!(
            line,
            "readiness seen a median {m} ms (worst {} ms) after dockerd's own log says it began to serve ({} ready trials); ",
            detection.iter().max().copied().unwrap_or(m),
            detection.len()
        );
    }
    if let Some(m) = median(&mut overhead) {
        let _ = write!(
            line,
            "median per-trial overhead (wall − ready or exit − probes) {m} ms over {} trials.",
            overhead.len()
        );
    }
    let _ = writeln!(md, "{line}\n");
}

fn median(values: &mut [i64]) -> Option<i64> {
    values.sort_unstable();
    values.get(values.len() / 2).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::{Check, Topic};

    #[test]
    fn the_host_checks_section_lists_only_what_is_not_ok() {
        let d = Diagnosis {
            kernel: "6.18.44".into(),
            home: "/var/lib/dindcheck".into(),
            quick: false,
            checks: vec![
                Check::new("runsc-20240729", Topic::SandboxStarts, "trivial sandbox").ok("starts"),
                Check::new(
                    "runsc-20240729",
                    Topic::Platform("kvm".into()),
                    "platform kvm",
                )
                .fail("hangs | stuck", "use systrap"),
            ],
            elapsed_ms: 7_250,
        };
        let md = host_checks(&d);
        assert!(
            md.contains("| ✖ | runsc-20240729 | platform kvm | hangs \\| stuck | use systrap |"),
            "{md}"
        );
        assert!(!md.contains("trivial sandbox"), "{md}");
    }
}
