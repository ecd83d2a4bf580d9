//! The order a run starts its trials in: longest first, by an earlier run's wall times.
//!
//! A run of many trials at `--jobs N` ends when its last trial does. Started in the plan's
//! order, a slow trial met late leaves the other jobs idle while it finishes alone; started
//! in decreasing order of their earlier wall time, the short trials fill the gaps at the end
//! (the longest-processing-time rule). A trial with no earlier time (a new case, a new
//! runtime) may be the slowest of all: those start first. The order changes no outcome, and
//! the results are put back in the plan's order ([`super::Run::results`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::report::Results;
use crate::trial::plan::Trial;

/// `dindcheck run`'s options that read an earlier run's results.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct EarlierArgs {
    /// Start the trials longest first by the wall times of this results.json. Default: the
    /// output directory's results.json, when there is one.
    #[arg(long, value_name = "RESULTS.json")]
    pub timings: Option<PathBuf>,
    /// Take the outcomes of this results.json as they are for the trials whose inputs (the
    /// case, runsc, the root filesystem, the kernel, dindcheck, the probes) are unchanged
    /// and that it did not see vary; run the others. The report marks each reused outcome.
    #[arg(long, value_name = "RESULTS.json", conflicts_with = "repeat")]
    pub reuse: Option<PathBuf>,
}

/// What a run takes from an earlier one.
#[derive(Debug, Clone, Default)]
pub struct Earlier {
    pub timings: Timings,
    pub reuse: Option<super::reuse::Reuse>,
}

impl EarlierArgs {
    /// What is at hand for a run that writes to `out`: the timings of the file given (or
    /// of the results reused), else of `out`'s results.json when it exists and can be read
    /// (a file of another schema gives none); the outcomes to reuse.
    pub fn read(&self, out: &Path) -> Result<Earlier, super::SessionError> {
        let timings = match self.timings.as_ref().or(self.reuse.as_ref()) {
            Some(given) => Timings::read(given)?,
            None => Timings::read(&out.join("results.json")).unwrap_or_default(),
        };
        let reuse = self
            .reuse
            .as_deref()
            .map(super::reuse::Reuse::read)
            .transpose()?;
        Ok(Earlier { timings, reuse })
    }
}

/// Each trial's wall time in an earlier run, by trial name.
#[derive(Debug, Clone, Default)]
pub struct Timings(HashMap<String, u64>);

impl Timings {
    /// The wall time of every outcome of `results` that has one.
    pub fn from_results(results: &Results) -> Timings {
        Timings(
            results
                .outcomes
                .iter()
                .filter_map(|o| Some((o.trial.clone(), o.timing.as_ref()?.wall_ms)))
                .collect(),
        )
    }

    /// The timings of the `results.json` at `path`.
    pub fn read(path: &Path) -> Result<Timings, super::SessionError> {
        let read = super::read_results(&[path.to_path_buf()])?;
        Ok(read
            .first()
            .map(|(_, results)| Timings::from_results(results))
            .unwrap_or_default())
    }

    /// How many trials have a time.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// `trials` in the order to start them: those with no earlier time first (in their own
/// order), then the others by decreasing earlier wall time (ties in their own order).
pub fn longest_first(trials: &[Trial], timings: &Timings) -> Vec<Trial> {
    let mut ordered = trials.to_vec();
    ordered
        .sort_by_key(|t| std::cmp::Reverse(timings.0.get(&t.name()).copied().unwrap_or(u64::MAX)));
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(name: &str) -> Trial {
        crate::session::reuse::tests::trial(|c| c.name = name.into())
    }

    #[test]
    fn unknown_trials_start_first_then_the_longest() {
        let trials: Vec<Trial> = ["short", "new-a", "long", "middle", "new-b", "tie"]
            .into_iter()
            .map(trial)
            .collect();
        let timings = Timings(
            [
                ("short", 5_000),
                ("long", 90_000),
                ("middle", 30_000),
                ("tie", 5_000),
            ]
            .into_iter()
            .map(|(c, ms)| (format!("{c}::oci::runsc-1"), ms))
            .collect(),
        );
        let order: Vec<String> = longest_first(&trials, &timings)
            .iter()
            .map(|t| t.case.name.clone())
            .collect();
        assert_eq!(order, ["new-a", "new-b", "long", "middle", "short", "tie"]);
    }

    #[test]
    fn without_timings_the_plans_order_is_kept() {
        let trials: Vec<Trial> = ["b", "a", "c"].into_iter().map(trial).collect();
        let order: Vec<String> = longest_first(&trials, &Timings::default())
            .iter()
            .map(|t| t.case.name.clone())
            .collect();
        assert_eq!(order, ["b", "a", "c"]);
    }
}
