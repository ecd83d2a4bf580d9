//! Crossing cases with runtimes and launchers: one [`Trial`] per case × launcher × runtime.
//! Which launcher can express which case is the launchers' own business
//! ([`crate::launch::expressible`]).

use serde::{Deserialize, Serialize};

use crate::case::{Case, RunscNetwork};
use crate::inventory::Runtime;
use crate::launch::launcher::Launcher;

/// Settings that apply to every trial of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunOptions {
    /// Replaces every case's runsc network mode. On hosts where runsc's sandbox networking
    /// cannot start (see `dindcheck doctor`), this is how the other findings stay visible.
    pub network_override: Option<RunscNetwork>,
    /// The launchers to run each case under. Empty means both.
    pub launchers: Vec<Launcher>,
}

/// A planned trial that was not run, and why: a problem of the host or of the harness, or
/// a case its launcher cannot express. Not an outcome of the case.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct NotRun {
    pub trial: String,
    pub reason: String,
}

/// A planned trial as `dindcheck list --json` prints it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ListedTrial {
    /// `<case>::<launcher>::<runtime>`.
    pub trial: String,
    pub case: String,
    pub runtime: String,
    pub launcher: Launcher,
    /// The runsc network mode the trial would use.
    pub network: RunscNetwork,
    /// Why the launcher cannot express the case (the trial is then not run), if it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_expressible: Option<String>,
}

/// One case on one runtime under one launcher.
#[derive(Clone, Debug, Serialize)]
pub struct Trial {
    pub case: Case,
    pub runtime: Runtime,
    pub launcher: Launcher,
    /// The network mode actually used (the case's, unless overridden).
    pub network: RunscNetwork,
}

impl Trial {
    pub fn new(case: &Case, runtime: &Runtime, launcher: Launcher, options: &RunOptions) -> Trial {
        Trial {
            case: case.clone(),
            runtime: runtime.clone(),
            launcher,
            network: options.network_override.unwrap_or(case.runsc.network),
        }
    }

    /// `<case>::<launcher>::<runtime>`, the name under which tests and reports show the
    /// trial.
    pub fn name(&self) -> String {
        format!(
            "{}::{}::{}",
            self.case.name, self.launcher, self.runtime.name
        )
    }

    /// Whether the run replaced the case's own network mode.
    pub fn network_substituted(&self) -> bool {
        self.network != self.case.runsc.network
    }
}

/// Every runnable case × every selected launcher × every runtime, in case order, then
/// launcher order, then runtime order.
pub fn plan<'a>(
    cases: impl IntoIterator<Item = &'a Case>,
    runtimes: &[Runtime],
    options: &RunOptions,
) -> Vec<Trial> {
    let launchers = if options.launchers.is_empty() {
        Launcher::ALL.to_vec()
    } else {
        options.launchers.clone()
    };
    let mut trials = Vec::new();
    for c in cases.into_iter().filter(|c| !c.is_abstract) {
        for l in &launchers {
            for r in runtimes {
                trials.push(Trial::new(c, r, *l, options));
            }
        }
    }
    trials
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
