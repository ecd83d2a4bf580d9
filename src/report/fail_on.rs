//! `dindcheck run --fail-on …`: the conditions under which a run's exit status fails, for a
//! CI system that gates on the report without nextest (the conformance harness is the gate
//! under nextest). Each condition is read from the [`Results`] the report is rendered from.

use serde::{Deserialize, Serialize};

use super::results::{ClaimStatus, Results};
use crate::gate::BaselineComparison;
use crate::trial::classify::UNKNOWN;
use crate::trial::outcome::Verdict;

/// The exit status of a run in which a `--fail-on` condition held.
pub const EXIT_FAIL_ON: u8 = 3;

/// One `--fail-on` condition.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum FailOn {
    /// A trial's outcome differs from its recorded baseline.
    Changed,
    /// A trial has no recorded baseline yet.
    New,
    /// A case's claim is refuted by a trial.
    Refuted,
    /// A failure (a verdict or a probe) that no catalogue entry explains.
    Unknown,
    /// A trial whose dockerd did not become ready.
    NotReady,
    /// A repeated trial (`--repeat`) whose outcomes varied.
    Flaky,
}

impl FailOn {
    pub fn as_str(self) -> &'static str {
        match self {
            FailOn::Changed => "changed",
            FailOn::New => "new",
            FailOn::Refuted => "refuted",
            FailOn::Unknown => "unknown",
            FailOn::NotReady => "not-ready",
            FailOn::Flaky => "flaky",
        }
    }

    /// The trials for which this condition holds, in the results' order.
    pub fn trials(self, r: &Results) -> Vec<String> {
        match self {
            FailOn::Changed | FailOn::New => r
                .baselines
                .iter()
                .filter(|b| match b.comparison {
                    BaselineComparison::Changed { .. } => self == FailOn::Changed,
                    BaselineComparison::New => self == FailOn::New,
                    BaselineComparison::Same => false,
                })
                .map(|b| b.trial.clone())
                .collect(),
            FailOn::Refuted => r
                .claims
                .iter()
                .filter(|c| c.status == ClaimStatus::Refuted)
                .map(|c| c.trial.clone())
                .collect(),
            FailOn::Unknown => r
                .outcomes
                .iter()
                .filter(|o| {
                    o.diagnosis.as_deref() == Some(UNKNOWN)
                        || o.probes
                            .iter()
                            .any(|p| p.diagnosis.as_deref() == Some(UNKNOWN))
                })
                .map(|o| o.trial.clone())
                .collect(),
            FailOn::NotReady => r
                .outcomes
                .iter()
                .filter(|o| o.verdict != Verdict::Ready)
                .map(|o| o.trial.clone())
                .collect(),
            FailOn::Flaky => r
                .stability
                .iter()
                .filter(|s| s.is_flaky())
                .map(|s| s.trial.clone())
                .collect(),
        }
    }
}

/// Each condition of `conditions` that holds, with the trials it holds for.
pub fn failed_conditions(r: &Results, conditions: &[FailOn]) -> Vec<(FailOn, Vec<String>)> {
    let mut seen = Vec::new();
    conditions
        .iter()
        .filter(|c| {
            let first = !seen.contains(*c);
            seen.push(**c);
            first
        })
        .map(|c| (*c, c.trials(r)))
        .filter(|(_, trials)| !trials.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::results::{BaselineStatus, ClaimVerdict};

    fn results() -> Results {
        let json = include_str!("../../tests/fixtures/results-minimal.json");
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn each_condition_names_the_trials_it_holds_for() {
        let mut r = results();
        assert!(failed_conditions(&r, &[FailOn::Changed, FailOn::Refuted]).is_empty());
        r.baselines.push(BaselineStatus {
            trial: "a::oci::runsc-1".into(),
            baseline: "a".into(),
            comparison: BaselineComparison::Changed {
                expected: "ready\n".into(),
            },
        });
        r.baselines.push(BaselineStatus {
            trial: "b::oci::runsc-1".into(),
            baseline: "b".into(),
            comparison: BaselineComparison::New,
        });
        r.claims.push(ClaimVerdict {
            trial: "c::oci::runsc-1".into(),
            status: ClaimStatus::Refuted,
            evidence: "exited".into(),
        });
        let failed = failed_conditions(
            &r,
            &[
                FailOn::Changed,
                FailOn::New,
                FailOn::Refuted,
                FailOn::Changed,
            ],
        );
        assert_eq!(
            failed,
            [
                (FailOn::Changed, vec!["a::oci::runsc-1".to_string()]),
                (FailOn::New, vec!["b::oci::runsc-1".to_string()]),
                (FailOn::Refuted, vec!["c::oci::runsc-1".to_string()]),
            ]
        );
        // Conditions not asked for do not fail the run.
        assert!(failed_conditions(&r, &[FailOn::Unknown, FailOn::Flaky]).is_empty());
    }
}
