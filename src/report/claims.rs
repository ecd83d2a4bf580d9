//! Claims: whether each case's claim (`claimed = "works"` or `"fails"`, and per probe) holds
//! on each runtime, with the evidence: the data `results.json` carries. The claims table is
//! rendered by the markdown format (`format/markdown/claims.rs`).

use super::results::{CaseInfo, ClaimStatus, ClaimVerdict, Results};
use crate::case::Claimed;
use crate::trial::classify::Catalogue;
use crate::trial::outcome::{Outcome, Verdict};
use crate::trial::probe::ProbeVerdict;

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

/// A claim as the report and the evidence spell it.
pub fn word(k: Claimed) -> &'static str {
    match k {
        Claimed::Works => "works",
        Claimed::Fails => "fails",
    }
}
