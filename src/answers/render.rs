//! What `minimize` and `repair` print: the answer first, then the evidence for each part or
//! fix, each citing its trials by number, then the trial count and time.

use std::fmt::Write as _;

use crate::report::answers::{Minimized, PartStatus, Repaired, SearchKind, TrialEvidence};

/// One trial in a line, as the commands print it while they run.
pub fn trial_line(t: &TrialEvidence) -> String {
    let what = if t.change.is_empty() {
        "the case as it is".to_string()
    } else if t.change.len() > 4 {
        format!("{} changes", t.change.len())
    } else {
        t.change.join(", ")
    };
    let rerun = if t.rerun { " (re-run)" } else { "" };
    let line = match (&t.line, t.pass) {
        // Whole: the cause is often at the line's end.
        (Some(l), false) => format!(": {l}"),
        _ => String::new(),
    };
    format!("trial {}{rerun}: {what}: {}{line}", t.id, t.observed)
}

fn counts(trials: &[TrialEvidence], memo_hits: usize, elapsed_ms: u64) -> String {
    let reruns = trials.iter().filter(|t| t.rerun).count();
    format!(
        "trials: {} ({} configurations, {reruns} re-runs; {memo_hits} candidates answered from memory) in {:.1} s",
        trials.len(),
        trials.len() - reruns,
        elapsed_ms as f64 / 1000.0
    )
}

/// A `minimize` result as the command prints it.
pub fn minimized(m: &Minimized) -> String {
    let mut s = String::new();
    let what = match m.kind {
        SearchKind::Minimize => "minimize",
        SearchKind::LeaveOneOut => "leave-one-out",
    };
    let _ = writeln!(
        s,
        "{what} {} on {} ({} launcher, network {}), target: {}",
        m.asked.case,
        m.asked.runtime,
        m.asked.launcher,
        m.asked.network,
        m.asked.target.join(", ")
    );
    if m.kind == SearchKind::Minimize {
        let _ = writeln!(
            s,
            "minimal recipe: {} of {} parts, {} capabilities ({})",
            m.kept.len(),
            m.parts.len(),
            m.capabilities.len(),
            m.capabilities.join(", ")
        );
        let rest: Vec<String> = m
            .kept
            .iter()
            .filter(|p| !matches!(p, crate::report::answers::Part::Capability(_)))
            .map(|p| p.to_string())
            .collect();
        if !rest.is_empty() {
            let _ = writeln!(s, "  and: {}", rest.join("; "));
        }
    }
    for f in &m.parts {
        let status = match (m.kind, f.status) {
            (SearchKind::Minimize, PartStatus::NotNeeded) => "removed",
            (SearchKind::Minimize, PartStatus::Needed) => "kept",
            (SearchKind::LeaveOneOut, PartStatus::NotNeeded) => "not needed",
            (SearchKind::LeaveOneOut, PartStatus::Needed) => "needed",
            (_, PartStatus::Flaky) => "flaky",
        };
        let _ = writeln!(s, "  {status:<10} {}: {}", f.part, f.evidence);
        if let Some(cause) = f.cause(&m.trials, crate::trial::classify::Catalogue::builtin()) {
            let _ = writeln!(s, "  {:<10} {cause}", "");
        }
    }
    let ids: Vec<String> = m.confirmations.iter().map(|i| i.to_string()).collect();
    let _ = writeln!(
        s,
        "confirmed: {}/{} re-runs kept the target (trials {}){}",
        m.confirmed,
        m.confirmations.len(),
        ids.join(", "),
        if m.stable {
            ""
        } else {
            ": NOT STABLE, the result is flaky"
        }
    );
    if let Some(path) = &m.case_file {
        let _ = writeln!(
            s,
            "case file: {path} (extends {}, loads with the corpus, and ran as a confirmation)",
            m.asked.case
        );
    }
    let _ = writeln!(s, "{}", counts(&m.trials, m.memo_hits, m.elapsed_ms));
    s
}

/// A `repair` result as the command prints it.
pub fn repaired(r: &Repaired) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "repair {} on {} ({} launcher, network {}), target: {}",
        r.asked.case,
        r.asked.runtime,
        r.asked.launcher,
        r.asked.network,
        r.asked.target.join(", ")
    );
    let _ = writeln!(s, "as it is (trial 1): {}", r.failing);
    let _ = writeln!(
        s,
        "vocabulary: {} changes from the corpus; {}{}",
        r.vocabulary,
        if r.searched_pairs {
            "single changes, then pairs"
        } else {
            "single changes"
        },
        if r.budget_exhausted {
            " (stopped at the trial budget)"
        } else {
            ""
        }
    );
    if r.fixes.is_empty() {
        let _ = writeln!(s, "no fix found");
    }
    // Real fixes first; a degenerate one (it switches a feature off) after, saying so.
    for f in r.ranked_fixes() {
        let t = &r.trials[f.trial - 1];
        let _ = writeln!(
            s,
            "  fix: {}: trial {}: {}; confirmed {}/{}{}",
            f.changes.join(" and "),
            f.trial,
            t.observed,
            f.confirmed,
            f.confirmations.len(),
            f.degenerate()
                .map(|why| format!(" (degenerate: {why})"))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(s, "{}", counts(&r.trials, r.memo_hits, r.elapsed_ms));
    s
}
