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
