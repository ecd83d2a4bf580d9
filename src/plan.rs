//! Crossing cases with runtimes: one [`Trial`] per case × runtime.

use serde::Serialize;

use crate::case::{Case, RunscNetwork};
use crate::inventory::Runtime;

/// Settings that apply to every trial of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunOptions {
    /// Replaces every case's runsc network mode. On hosts where runsc's sandbox networking
    /// cannot start (see `dindcheck doctor`), this is how the other findings stay visible.
    pub network_override: Option<RunscNetwork>,
}

/// One case on one runtime.
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    pub case: Case,
    pub runtime: Runtime,
    /// The network mode actually used (the case's, unless overridden).
    pub network: RunscNetwork,
}

impl Trial {
    pub fn new(case: &Case, runtime: &Runtime, options: &RunOptions) -> Trial {
        Trial {
            case: case.clone(),
            runtime: runtime.clone(),
            network: options.network_override.unwrap_or(case.runsc.network),
        }
    }

    /// `<case>::<runtime>`, the name under which tests and reports show the trial.
    pub fn name(&self) -> String {
        format!("{}::{}", self.case.name, self.runtime.name)
    }

    /// Whether the run replaced the case's own network mode.
    pub fn network_substituted(&self) -> bool {
        self.network != self.case.runsc.network
    }
}

/// Every runnable case × every runtime, in case order then runtime order.
pub fn plan<'a>(
    cases: impl IntoIterator<Item = &'a Case>,
    runtimes: &[Runtime],
    options: &RunOptions,
) -> Vec<Trial> {
    cases
        .into_iter()
        .filter(|c| !c.is_abstract)
        .flat_map(|c| runtimes.iter().map(move |r| Trial::new(c, r, options)))
        .collect()
}

/// One shard of a run: `count:K/N` keeps every N-th trial starting with the K-th, so that
/// N machines (or N CI jobs) share a corpus without a scheduler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Partition {
    pub index: usize,
    pub count: usize,
}

impl std::str::FromStr for Partition {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("`{s}` is not a partition: expected `count:K/N` with 1 <= K <= N");
        let (k, n) = s
            .strip_prefix("count:")
            .and_then(|r| r.split_once('/'))
            .ok_or_else(bad)?;
        let (index, count): (usize, usize) =
            (k.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?);
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }
}

impl Partition {
    pub fn select(&self, trials: Vec<Trial>) -> Vec<Trial> {
        trials
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % self.count == self.index - 1)
            .map(|(_, t)| t)
            .collect()
    }
}
