//! How much a trial's outcome varies from run to run (`dindcheck run --repeat N`).
//!
//! Nested containers under gVisor are not fully deterministic: in about 350 trial
//! executions one exec probe's detached container failed to start ("cannot start a stopped
//! process") instead of the usual exec failure. A harness whose verdicts people rely on has to
//! measure that instead of failing at random: with `--repeat N` every trial runs N times, the
//! outcomes are compared by the part the conformance gate compares ([`Outcome::baseline`],
//! never timings), and a trial with more than one variant is **flaky**, with each variant and
//! how often it occurred.

use serde::{Deserialize, Serialize};

use crate::trial::outcome::Outcome;

/// One distinct outcome of a repeated trial.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Variant {
    /// How many of the runs gave it.
    pub count: usize,
    /// The outcome as the gate compares it (verdict, explaining line, diagnosis, probes).
    pub outcome: String,
}

/// How one trial's outcome varied over its runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Stability {
    pub trial: String,
    pub runs: usize,
    /// Most frequent first (ties in the order they first occurred).
    pub variants: Vec<Variant>,
}

impl Stability {
    pub fn is_flaky(&self) -> bool {
        self.variants.len() > 1
    }

    /// The share of runs that did not give the most frequent outcome.
    pub fn flake_rate(&self) -> f64 {
        let top = self.variants.first().map_or(0, |v| v.count);
        if self.runs == 0 {
            0.0
        } else {
            (self.runs - top) as f64 / self.runs as f64
        }
    }
}

/// Folds the outcomes of repeated runs (several per trial, in any order) into one outcome
/// per trial, in order of each trial's first outcome, and, when any trial ran more than once,
/// the stability of every trial. A trial's outcome is the first run of its most frequent
/// variant: the report shows what usually happens, and the Stability section what else did.
pub fn fold_repeats(outcomes: Vec<Outcome>) -> (Vec<Outcome>, Vec<Stability>) {
    let mut trials: Vec<(String, Vec<Outcome>)> = Vec::new();
    for o in outcomes {
        match trials.iter_mut().find(|(t, _)| *t == o.trial) {
            Some((_, runs)) => runs.push(o),
            None => trials.push((o.trial.clone(), vec![o])),
        }
    }
    let repeated = trials.iter().any(|(_, runs)| runs.len() > 1);
    let mut folded = Vec::new();
    let mut stability = Vec::new();
    for (trial, runs) in trials {
        let mut variants: Vec<(Variant, usize)> = Vec::new();
        for (i, o) in runs.iter().enumerate() {
            let key = o.baseline();
            match variants.iter_mut().find(|(v, _)| v.outcome == key) {
                Some((v, _)) => v.count += 1,
                None => variants.push((
                    Variant {
                        count: 1,
                        outcome: key,
                    },
                    i,
                )),
            }
        }
        // Stable sort: ties keep the order in which they first occurred.
        variants.sort_by_key(|(v, _)| std::cmp::Reverse(v.count));
        let first_of_top = variants[0].1;
        let n = runs.len();
        folded.push(runs.into_iter().nth(first_of_top).expect("a run"));
        if repeated {
            stability.push(Stability {
                trial,
                runs: n,
                variants: variants.into_iter().map(|(v, _)| v).collect(),
            });
        }
    }
    (folded, stability)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trial::outcome::Verdict;

    fn outcome(trial: &str, verdict: Verdict) -> Outcome {
        let mut o: Outcome = serde_json::from_value(serde_json::json!({
            "trial": trial, "case": "c", "runtime": "r", "launcher": "oci", "network": "none",
            "network_substituted": false, "verdict": "ready", "ready_ms": 1, "exit_code": null,
            "decisive": null, "error_lines": [], "log_tail": []
        }))
        .unwrap();
        o.verdict = verdict;
        o
    }

    #[test]
    fn the_most_frequent_variant_is_the_outcome_and_the_others_are_counted() {
        let runs = vec![
            outcome("a", Verdict::Exited),
            outcome("b", Verdict::Ready),
            outcome("a", Verdict::Ready),
            outcome("a", Verdict::Ready),
            outcome("b", Verdict::Ready),
        ];
        let (folded, stability) = fold_repeats(runs);
        assert_eq!(folded.len(), 2);
        assert_eq!(folded[0].trial, "a");
        assert_eq!(folded[0].verdict, Verdict::Ready);
        assert!(stability[0].is_flaky());
        assert_eq!(stability[0].variants[0].count, 2);
        assert_eq!(stability[0].variants[1].count, 1);
        assert!((stability[0].flake_rate() - 1.0 / 3.0).abs() < 1e-9);
        assert!(!stability[1].is_flaky());
    }

    #[test]
    fn a_single_run_has_no_stability_figures() {
        let (folded, stability) = fold_repeats(vec![outcome("a", Verdict::Ready)]);
        assert_eq!(folded.len(), 1);
        assert!(stability.is_empty());
    }
}
