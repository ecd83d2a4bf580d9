//! Claims: whether each case's claim (`claimed = "works"` or `"fails"`, and per probe) holds
//! on each runtime, with the evidence.

use std::fmt::Write as _;

use super::results::{CaseInfo, ClaimStatus, ClaimVerdict, Results};
use super::table::{View, cell, is_not_expressible};
use crate::case::Claimed;
use crate::classify::Catalogue;
use crate::outcome::{Outcome, Verdict};
use crate::probe::ProbeVerdict;

/// The verdict of every outcome whose case states a claim, in the outcomes' order.
pub fn judge_all(r: &Results) -> Vec<ClaimVerdict> {
    r.outcomes
        .iter()
        .filter_map(|o| judge(r.cases.iter().find(|c| c.name == o.case)?, o))
        .collect()
}

/// Whether `o` bears out what the case's author claimed; `None` when the case claims nothing.
pub fn judge(c: &CaseInfo, o: &Outcome) -> Option<ClaimVerdict> {
    let claimed = c.claimed?;
    let verdict = |status, evidence| {
        Some(ClaimVerdict {
            trial: o.trial.clone(),
            status,
            evidence,
        })
    };
    // A failure before the recipe was tried (its image could not be had) is no evidence.
    if let Some(id) = &o.diagnosis
        && Catalogue::builtin().get(id).is_some_and(|s| s.untested)
    {
        return verdict(ClaimStatus::NotTried, id.clone());
    }
    let ready = o.verdict == Verdict::Ready;
    let mut holds = match claimed {
        Claimed::Works => ready,
        Claimed::Fails => !ready,
    };
    let mut evidence = match (o.verdict, o.decisive.as_deref()) {
        (Verdict::Ready, _) => "dockerd ready".to_string(),
        (v, Some(why)) => format!("{v}: {why}"),
        (v, None) => v.to_string(),
    };
    // Probes only run on a ready dockerd; a claim about them needs one.
    if ready {
        for (probe, want) in &c.claimed_probes {
            let got = o.probes.iter().find(|p| p.probe == *probe);
            let seen = match got.map(|p| p.verdict) {
                Some(ProbeVerdict::Ok) => Some(Claimed::Works),
                Some(ProbeVerdict::Failed) => Some(Claimed::Fails),
                _ => None,
            };
            match seen {
                Some(k) => {
                    holds &= k == *want;
                    evidence.push_str(&format!("; {} {}", probe.as_str(), word(k)));
                }
                None => {
                    let why = match got {
                        Some(p) if p.verdict == ProbeVerdict::NotApplicable => "is not applicable",
                        _ => "did not run",
                    };
                    let evidence = format!("{evidence}: probe {} {why}", probe.as_str());
                    return verdict(ClaimStatus::NotCheckable, evidence);
                }
            }
        }
    }
    let status = if holds {
        ClaimStatus::Holds
    } else {
        ClaimStatus::Refuted
    };
    verdict(status, evidence)
}

fn word(k: Claimed) -> &'static str {
    match k {
        Claimed::Works => "works",
        Claimed::Fails => "fails",
    }
}

/// The claims table's cell for a case's claim against one trial (`None`: it did not run).
pub(super) fn claim_cell(c: &CaseInfo, o: Option<&Outcome>) -> String {
    let Some(v) = o.and_then(|o| judge(c, o)) else {
        return "–".into();
    };
    // A failed trial's evidence is its decisive line, which the case's page shows: the
    // table names the verdict and its catalogue id instead.
    let evidence = match o {
        Some(o) if o.verdict != Verdict::Ready => match &o.diagnosis {
            Some(id) => format!("{}: {id}", o.verdict),
            None => o.verdict.to_string(),
        },
        _ => v.evidence.clone(),
    };
    match v.status {
        ClaimStatus::NotTried => format!("– not tried ({})", v.evidence),
        ClaimStatus::NotCheckable => format!("– ({})", cell(&v.evidence)),
        ClaimStatus::Holds => format!("✔ holds ({})", cell(&evidence)),
        ClaimStatus::Refuted => format!("✖ refuted ({})", cell(&evidence)),
    }
}

pub(super) fn claims(md: &mut String, r: &Results, view: &View) {
    let _ = writeln!(md, "\n## Claims\n");
    let _ = writeln!(
        md,
        "Each case's claim against what was measured: ✔ holds, ✖ refuted, – not checkable \
         (the case states no `claimed` outcome, the trial did not run, or it failed before \
         the recipe was tried). \"works\" means dockerd became ready.\n"
    );
    let _ = writeln!(md, "{}", view.header("case | claim | claimed"));
    for c in &r.cases {
        let mut claimed = c.claimed.map_or("–".to_string(), |k| word(k).to_string());
        for (probe, k) in &c.claimed_probes {
            claimed.push_str(&format!("; {} {}", probe.as_str(), word(*k)));
        }
        let _ = write!(
            md,
            "| {} | {} | {} |",
            cell(&c.name),
            cell(&c.claim),
            claimed
        );
        for col in view.columns {
            let text = match view.get(&c.name, *col) {
                None if is_not_expressible(r, &c.name, col.1, col.0) => {
                    "– not expressible".to_string()
                }
                o => claim_cell(c, o),
            };
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
}
