//! The report's answers: "Minimal recipes", "One change that fixes it" and "Why each flag,
//! measured", rendered from what `dindcheck minimize` and `dindcheck repair` saved
//! ([`crate::report::answers`]); nothing here runs or recomputes a trial. `REPORT.md` has the fixes
//! ([`fixes`]); the other two are pages of their own ([`super::pages`]).

use std::fmt::Write as _;

use super::table::cell;
use crate::report::answers::{Answers, Minimized, Part, PartFinding, PartStatus, SearchKind};
use crate::trial::classify::Catalogue;

fn search_line(m: &Minimized) -> String {
    format!(
        "{} trials ({} answered from memory) in {:.0} s, {}; target {}; {} launcher, network {}",
        m.trials.len(),
        m.memo_hits,
        m.elapsed_ms as f64 / 1000.0,
        m.asked.generated,
        m.asked.target.join(", "),
        m.asked.launcher,
        m.asked.network
    )
}

/// `. Why: cause …` for a needed part: the catalogue's cause of what broke without it.
fn because(f: &PartFinding, m: &Minimized) -> String {
    f.cause(&m.trials, Catalogue::builtin())
        .map(|c| format!(". Why: {}", cell(&c)))
        .unwrap_or_default()
}

/// "Minimal recipes", only when some saved result feeds it (so each of the three).
pub(super) fn minimal_recipes(md: &mut String, a: &Answers) {
    let mut found: Vec<&Minimized> = a
        .minimized
        .iter()
        .filter(|m| m.kind == SearchKind::Minimize)
        .collect();
    if found.is_empty() {
        return;
    }
    // Per runtime, the smallest stable recipe first: the smallest known to work.
    found.sort_by_key(|m| {
        (
            m.asked.runtime.clone(),
            !m.stable,
            m.kept.len(),
            m.asked.case.clone(),
        )
    });
    let _ = writeln!(
        md,
        "\n## Minimal recipes\n\nThe least each case needs, found by `dindcheck minimize` \
         (ddmin over its parts, every configuration a real trial) and confirmed by re-runs. \
         Per runtime, the first row is the smallest recipe known to work.\n"
    );
    let _ = writeln!(
        md,
        "| runtime | from case | parts kept | capabilities | dockerd, runsc, mounts, setup | confirmed |\n|---|---|---|---|---|---|"
    );
    for m in &found {
        let rest: Vec<String> = m
            .kept
            .iter()
            .filter(|p| !matches!(p, Part::Capability(_)))
            .map(|p| p.to_string())
            .collect();
        let _ = writeln!(
            md,
            "| {} | {} | {} of {} | {}: {} | {} | {}/{}{} |",
            cell(&m.asked.runtime),
            cell(&m.asked.case),
            m.kept.len(),
            m.parts.len(),
            m.capabilities.len(),
            cell(&m.capabilities.join(", ")),
            cell(&rest.join("; ")),
            m.confirmed,
            m.confirmations.len(),
            if m.stable { "" } else { " ⚠ flaky" }
        );
    }
    for m in &found {
        let _ = writeln!(
            md,
            "\n**{} on {}**: {}.{}\n",
            cell(&m.asked.case),
            cell(&m.asked.runtime),
            cell(&search_line(m)),
            m.case_file
                .as_ref()
                .map(|p| format!(" Case file: `{}`.", cell(p)))
                .unwrap_or_default()
        );
        for f in m.parts.iter().filter(|f| f.status != PartStatus::NotNeeded) {
            let what = if f.status == PartStatus::Flaky {
                "kept, flaky"
            } else {
                "kept"
            };
            let _ = writeln!(
                md,
                "- {what}: {}: {}{}",
                cell(&f.part.to_string()),
                cell(&f.evidence),
                because(f, m)
            );
        }
        let removed: Vec<String> = m
            .parts
            .iter()
            .filter(|f| f.status == PartStatus::NotNeeded)
            .map(|f| format!("{} (trial {})", f.part, f.trials[0]))
            .collect();
        if !removed.is_empty() {
            let _ = writeln!(
                md,
                "- removed, the target held without them: {}",
                cell(&removed.join(", "))
            );
        }
    }
}

pub(super) fn fixes(md: &mut String, a: &Answers) {
    if a.repaired.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## One change that fixes it\n\nFor failing cases, the changes that make them keep \
         their target, found by `dindcheck repair` among the changes the corpus itself makes \
         (single changes first, pairs only when none is enough), smallest first; a degenerate \
         fix, one that only switches a feature off, after the real ones, with what it \
         switches off.\n"
    );
    let _ = writeln!(
        md,
        "| case | runtime | as it is | fixes (trial: what it observed; confirmed) | searched |\n|---|---|---|---|---|"
    );
    for r in &a.repaired {
        let fixes: Vec<String> = r
            .ranked_fixes()
            .into_iter()
            .map(|f| {
                format!(
                    "{} (trial {}: {}; {}/{}){}",
                    f.changes.join(" and "),
                    f.trial,
                    r.trials[f.trial - 1].observed,
                    f.confirmed,
                    f.confirmations.len(),
                    f.degenerate()
                        .map(|why| format!(", degenerate: {why}"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let fixes = if fixes.is_empty() {
            "none found".to_string()
        } else {
            fixes.join("<br>")
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} changes{}, {} trials, {} |",
            cell(&r.asked.case),
            cell(&r.asked.runtime),
            cell(&r.failing),
            cell(&fixes).replace("&lt;br&gt;", "<br>"),
            r.vocabulary,
            match (r.searched_pairs, r.budget_exhausted) {
                (true, true) => " and pairs (stopped at the trial budget)",
                (true, false) => " and pairs",
                (false, true) => " (stopped at the trial budget)",
                (false, false) => "",
            },
            r.trials.len(),
            cell(&r.asked.generated)
        );
    }
}

/// What the design note says each part is for, as `docs/seed-recipes.md` records it.
fn note_reason(p: &Part) -> &'static str {
    match p {
        Part::Capability(_) => {
            "one of the note's 17 (gVisor's tutorial list); no reason given per capability"
        }
        Part::RunscFlag(f) if f == "--net-raw" => {
            "the note: the sandbox needs only runsc with --net-raw"
        }
        Part::DockerdArg(a) if a == "--userland-proxy=false" => {
            "the note: avoids the userland-proxy-path error (attempt 3's failure)"
        }
        Part::DockerdArg(a) if a == "--storage-driver=vfs" => "the note: vfs works everywhere",
        Part::DockerdArg(a)
            if ["--iptables=false", "--ip-forward=false", "--bridge=none"]
                .contains(&a.as_str()) =>
        {
            "attempt 4: Docker needs no cgroups once the features that use them are turned off"
        }
        _ => "–",
    }
}

pub(super) fn why_each_flag(md: &mut String, a: &Answers) {
    let measured: Vec<&Minimized> = a
        .minimized
        .iter()
        .filter(|m| m.kind == SearchKind::LeaveOneOut)
        .collect();
    if measured.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Why each flag, measured\n\nEach part of the recipe removed alone \
         (`dindcheck minimize --leave-one-out`), beside what the design note says it is for \
         (docs/seed-recipes.md).\n"
    );
    for m in measured {
        let _ = writeln!(
            md,
            "**{} on {}**: {}; the whole recipe kept it in {}/{} runs.\n",
            cell(&m.asked.case),
            cell(&m.asked.runtime),
            cell(&search_line(m)),
            m.confirmed,
            m.confirmations.len()
        );
        let _ = writeln!(
            md,
            "| part | needed | without it | the note's reason |\n|---|---|---|---|"
        );
        for f in &m.parts {
            let needed = match f.status {
                PartStatus::Needed => "✔ needed",
                PartStatus::NotNeeded => "– not needed",
                PartStatus::Flaky => "⚠ flaky",
            };
            let _ = writeln!(
                md,
                "| {} | {needed} | {}{} | {} |",
                cell(&f.part.to_string()),
                cell(&f.evidence),
                because(f, m),
                note_reason(&f.part)
            );
        }
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::answers::{Fix, Repaired, TrialEvidence};

    fn trial(id: usize, pass: bool, observed: &str) -> TrialEvidence {
        TrialEvidence {
            id,
            change: Vec::new(),
            pass,
            observed: observed.into(),
            line: None,
            ms: 0,
            rerun: false,
        }
    }

    fn minimized(kind: SearchKind) -> Minimized {
        Minimized {
            kind,
            asked: crate::report::answers::tests::asked(
                "gvisor-tutorial",
                "runsc-20240729",
                &["ready", "run-none"],
                "2026-12-02 06:00 UTC",
            ),
            parts: vec![
                PartFinding {
                    part: Part::Capability("SYS_ADMIN".into()),
                    status: PartStatus::Needed,
                    trials: vec![3],
                    evidence: "without it: exited (devices-cgroup-missing) (trial 3)".into(),
                },
                PartFinding {
                    part: Part::RunscFlag("--net-raw".into()),
                    status: PartStatus::NotNeeded,
                    trials: vec![2],
                    evidence: "removed".into(),
                },
            ],
            capabilities: vec!["SYS_ADMIN".into()],
            kept: vec![Part::Capability("SYS_ADMIN".into())],
            confirmations: vec![4, 5, 6],
            confirmed: 3,
            stable: true,
            case_file: None,
            trials: vec![
                trial(1, true, "ready; run-none ok"),
                trial(3, false, "exited (devices-cgroup-missing)"),
            ],
            memo_hits: 1,
            elapsed_ms: 1000,
        }
    }

    /// The three sections, as `REPORT.md` and its pages render them.
    fn sections(md: &mut String, a: &Answers) {
        minimal_recipes(md, a);
        fixes(md, a);
        why_each_flag(md, a);
    }

    #[test]
    fn saved_answers_become_the_three_sections() {
        let mut md = String::new();
        sections(&mut md, &Answers::default());
        assert!(md.is_empty(), "no saved answers, no sections");
        let answers = Answers {
            minimized: vec![
                minimized(SearchKind::Minimize),
                minimized(SearchKind::LeaveOneOut),
            ],
            repaired: vec![Repaired {
                asked: crate::report::answers::tests::asked(
                    "note-attempt-4-five-flags",
                    "runsc-20240729",
                    &["ready"],
                    "2026-12-02 06:00 UTC",
                ),
                failing: "exited (devices-cgroup-missing)".into(),
                vocabulary: 40,
                searched_pairs: false,
                budget_exhausted: false,
                fixes: vec![Fix {
                    changes: vec!["cgroup = \"gvisor\"".into()],
                    trial: 2,
                    confirmations: vec![3],
                    confirmed: 1,
                }],
                trials: vec![trial(1, false, "exited"), trial(2, true, "ready")],
                memo_hits: 0,
                elapsed_ms: 1000,
            }],
        };
        sections(&mut md, &answers);
        assert!(md.contains("## Minimal recipes"));
        assert!(
            md.contains("| runsc-20240729 | gvisor-tutorial | 1 of 2 | 1: SYS_ADMIN |"),
            "{md}"
        );
        // A kept part says what broke without it, and the catalogue's cause for that.
        assert!(
            md.contains(
                "- kept: CAP_SYS_ADMIN: without it: exited (devices-cgroup-missing) (trial 3). \
                 Why: cause devices-cgroup-missing (dockerd): dockerd (cgroup v1) refuses to \
                 start unless a 'devices' cgroup controller is mounted: it treats the devices \
                 cgroup as a hard requirement for container security.\n"
            ),
            "{md}"
        );
        assert!(md.contains("## One change that fixes it"));
        assert!(
            md.contains("cgroup = \"gvisor\" (trial 2: ready; 1/1)"),
            "{md}"
        );
        assert!(md.contains("## Why each flag, measured"));
        assert!(md.contains("| runsc --net-raw | – not needed | removed | the note: the sandbox needs only runsc with --net-raw |"), "{md}");
    }
}
