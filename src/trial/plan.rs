//! Crossing cases with runtimes and launchers: one [`Trial`] per case × launcher × runtime.
//! Which launcher can express which case is the launchers' own business
//! ([`crate::trial::launch::expressible`]).

use serde::{Deserialize, Serialize};

use crate::case::{Case, RunscNetwork};
use crate::inventory::Runtime;
use crate::trial::launch::launcher::Launcher;

/// Settings that apply to every trial of a run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RunOptions {
    /// Replaces every case's runsc network mode. Without it each case runs in its own mode,
    /// except that a runtime whose sandbox networking cannot start on this host (see
    /// `dindcheck doctor`) runs `sandbox` cases with `none`.
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
    /// The network mode actually used: the case's, unless the run overrides it, or the
    /// runtime's sandbox networking cannot start on this host (then `none`).
    pub network: RunscNetwork,
}

impl Trial {
    pub fn new(case: &Case, runtime: &Runtime, launcher: Launcher, options: &RunOptions) -> Trial {
        Trial {
            case: case.clone(),
            runtime: runtime.clone(),
            launcher,
            network: network_for(case.runsc.network, runtime, options),
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

/// The network mode a case asking for `asked` gets on `runtime`: the run's override if any;
/// else `none` in place of `sandbox` where that runtime's sandbox networking cannot start on
/// this host (docs/host-facts.md, "Sandbox networking"); else the case's own.
fn network_for(asked: RunscNetwork, runtime: &Runtime, options: &RunOptions) -> RunscNetwork {
    match options.network_override {
        Some(n) => n,
        None if asked == RunscNetwork::Sandbox && runtime.sandbox_network.is_some() => {
            RunscNetwork::None
        }
        None => asked,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime(sandbox_network: Option<&str>) -> Runtime {
        Runtime {
            name: "runsc-x".into(),
            release: "x".into(),
            path: "/runsc".into(),
            platform: None,
            sandbox_network: sandbox_network.map(str::to_string),
        }
    }

    #[test]
    fn a_runtime_without_sandbox_networking_runs_sandbox_cases_with_none() {
        let none = RunOptions::default();
        let broken = runtime(Some("misdetects the root network namespace"));
        let (sandbox, host) = (RunscNetwork::Sandbox, RunscNetwork::Host);
        assert_eq!(network_for(sandbox, &broken, &none), RunscNetwork::None);
        assert_eq!(network_for(host, &broken, &none), host);
        assert_eq!(network_for(sandbox, &runtime(None), &none), sandbox);
        // An override is the run's word for every trial.
        let forced = RunOptions {
            network_override: Some(RunscNetwork::Host),
            ..RunOptions::default()
        };
        assert_eq!(network_for(sandbox, &runtime(None), &forced), host);
    }
}
