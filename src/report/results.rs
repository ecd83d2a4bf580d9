//! What a run produced, as data: [`Results`] is what the markdown is rendered from and what
//! `results.json` holds (versioned by [`SCHEMA_VERSION`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::case::{Case, Claimed};
use crate::gate::BaselineComparison;
use crate::inventory::{Rootfs, Runtime};
use crate::trial::launch::Launcher;
/// The outer engine's figures are the engine launcher's own ([`crate::trial::launch::engine::run`]).
pub use crate::trial::launch::engine::EngineFigures;
pub use crate::trial::launch::engine::image::ImportFigure;
use crate::trial::outcome::Outcome;
pub use crate::trial::plan::NotRun;

pub const SCHEMA_VERSION: u32 = 1;

/// Everything a run produced: what the markdown is rendered from.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Results {
    pub schema: u32,
    /// When the run finished: RFC 3339, UTC (`2026-12-02T06:17:28Z`; results written before
    /// had `2026-12-02 06:17 UTC`).
    pub generated: String,
    /// The machine the run was on (its host name).
    #[serde(default)]
    pub host: String,
    pub dindcheck_version: String,
    pub host_kernel: String,
    /// The network mode that replaced every case's own, if any.
    pub network_override: Option<String>,
    pub runtimes: Vec<RuntimeInfo>,
    /// The root filesystems the run's trials used, as the inventory has them.
    pub rootfs: Vec<Rootfs>,
    pub cases: Vec<CaseInfo>,
    pub outcomes: Vec<Outcome>,
    /// Trials that could not be attempted, with the reason (a host problem, not an outcome).
    pub not_run: Vec<NotRun>,
    /// False when the run was interrupted before every trial finished.
    pub complete: bool,
    /// Each trial's outcome against its recorded baseline (empty when none were consulted).
    #[serde(default)]
    pub baselines: Vec<BaselineStatus>,
    /// The launchers of the run, in column order (`oci`, `engine`).
    #[serde(default)]
    pub launchers: Vec<Launcher>,
    /// Trials whose launcher cannot express the case, with the reason.
    #[serde(default)]
    pub not_expressible: Vec<NotRun>,
    /// Engine trials whose sandbox the engine left running after the container was removed
    /// (what was found, and ended).
    #[serde(default)]
    pub leaked: Vec<NotRun>,
    /// The outer engine of the engine launcher, when it ran.
    #[serde(default)]
    pub engine: Option<EngineFigures>,
    /// Each claim judged against each trial of its case (absent in results written before
    /// claims were judged in the data).
    #[serde(default)]
    pub claims: Vec<ClaimVerdict>,
    /// What `dindcheck doctor`'s quick checks found before the cases ran (absent in results
    /// written before doctor existed, or with `--no-doctor`).
    #[serde(default)]
    pub host_checks: Option<crate::doctor::Diagnosis>,
    /// How each trial's outcome varied when the run repeated it (`--repeat N`); empty for a
    /// run of one repetition.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stability: Vec<super::stability::Stability>,
    /// For results merged by `report --merge`: each input's header figures (empty for a run).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged_from: Vec<MergedInput>,
    /// For merged results: trials whose outcome two inputs disagree about (the first input's
    /// is the one shown).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub disagreements: Vec<NotRun>,
    /// What `dindcheck minimize` and `repair` saved in the output directory's `answers/`,
    /// read when the report is written (never recomputed).
    #[serde(default, skip_serializing_if = "super::answers::Answers::is_empty")]
    pub answers: super::answers::Answers,
    /// The catalogue's coverage over the exploration sweep saved beside the report
    /// (`explore/`, written by `scripts/explore`), read when the report is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exploration: Option<super::gaps::Exploration>,
}

/// One input of `report --merge`, as its header described it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct MergedInput {
    /// The `results.json` it came from, as given on the command line.
    pub file: String,
    pub host: String,
    pub generated: String,
    pub dindcheck_version: String,
    pub host_kernel: String,
    pub trials: usize,
    pub complete: bool,
    /// Its outer engine's figures, when it ran one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<EngineFigures>,
    /// Its host checks' counts (`N ✔, N ⚠, N ✖`), when they ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_checks: Option<String>,
}

/// Whether one trial bears out its case's claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ClaimStatus {
    Holds,
    Refuted,
    /// The trial failed before the recipe was tried (its image could not be had): no
    /// evidence either way.
    NotTried,
    /// A probe the claim is about did not run.
    NotCheckable,
}

/// A claim judged against one trial's outcome, as `results.json` carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ClaimVerdict {
    pub trial: String,
    pub status: ClaimStatus,
    /// What was measured: the verdict and its line, the probes the claim names (or the
    /// catalogue id of the failure that kept the recipe from being tried).
    pub evidence: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct BaselineStatus {
    pub trial: String,
    pub baseline: String,
    #[serde(flatten)]
    pub comparison: BaselineComparison,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RuntimeInfo {
    pub name: String,
    pub version: String,
    pub platform: String,
    /// Why this runsc's sandbox networking cannot start on the host, when it cannot: its
    /// `sandbox` cases then ran with `none` (absent: the cases ran in their own modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_network: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CaseInfo {
    pub name: String,
    pub description: String,
    pub source: String,
    pub claim: String,
    pub rootfs: String,
    pub extends: Option<String>,
    pub network: String,
    /// What is at `/sys/fs/cgroup` (`gvisor`, `host-bind`, …), the caveat a minimal recipe
    /// carries (absent in results written before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    #[serde(default)]
    pub claimed: Option<Claimed>,
    #[serde(default)]
    pub claimed_probes: BTreeMap<crate::trial::probe::Probe, Claimed>,
    /// What this case changes relative to the case it extends.
    #[serde(default)]
    pub changes: Vec<String>,
    /// What of the host this case lets its sandbox write (`docs/security.md`): the report
    /// flags it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub host_writes: Vec<String>,
}

impl CaseInfo {
    /// `parent`: the case `c` extends, if any, for the before/after view.
    pub fn from_case(c: &Case, parent: Option<&Case>) -> CaseInfo {
        CaseInfo {
            claimed: c.claimed,
            claimed_probes: c.claimed_probes.clone(),
            changes: parent
                .map(|p| crate::case::load::changes(p, c))
                .unwrap_or_default(),
            name: c.name.clone(),
            description: c.description.clone(),
            source: c.source.clone(),
            claim: c.claim.clone(),
            // What holds dockerd: the rootfs, or for a case that names one, the image.
            rootfs: match &c.image {
                Some(image) => format!("image {image}"),
                None => c.rootfs.clone(),
            },
            extends: c.extend.clone(),
            network: c.runsc.network.as_str().into(),
            cgroup: Some(c.cgroup.as_str().into()),
            host_writes: match c.cgroup {
                crate::case::CgroupMode::HostBindRw => vec![
                    "`cgroup = \"host-bind-rw\"`: the sandbox can write the host's cgroup tree \
                     (cgroups it creates there are removed after the trial)"
                        .into(),
                ],
                _ => Vec::new(),
            },
        }
    }
}

impl RuntimeInfo {
    pub fn from_runtime(r: &Runtime, version: &str) -> RuntimeInfo {
        RuntimeInfo {
            name: r.name.clone(),
            version: version.to_string(),
            platform: r.platform.clone().unwrap_or_else(|| "default".into()),
            sandbox_network: r.sandbox_network.clone(),
        }
    }
}
