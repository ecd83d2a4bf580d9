//! The harness's `DINDCHECK_*` environment, read once into typed settings: what the
//! conformance harness runs with (the CLI reads the same variables through its options).

use std::path::PathBuf;

use crate::case::RunscNetwork;
use crate::inventory;
use crate::trial::launch::Launcher;

/// The settings of a run that has no command line.
#[derive(Clone, Debug)]
pub struct Environment {
    /// `DINDCHECK_HOME`: where `scripts/setup-host` installed runsc and the root filesystems.
    pub home: PathBuf,
    /// `DINDCHECK_RUNSC_NETWORK`: replaces every case's runsc network mode.
    pub network: Option<RunscNetwork>,
    /// `DINDCHECK_LAUNCHER`: `oci`, `engine` or `both` (the default).
    pub launchers: Vec<Launcher>,
    /// `DINDCHECK_RUNTIMES`: a comma-separated subset of the inventory's runtimes.
    pub runtimes: Vec<String>,
    /// `DINDCHECK_ENGINE`: `unix:///path` of an existing engine for the engine launcher.
    pub engine: Option<String>,
    /// Whether a missing runsc, inventory or root filesystem is a failure (the default: a
    /// gate that tested nothing must not pass) rather than a skip (`DINDCHECK_ALLOW_SKIP=1`).
    pub require: bool,
    /// `DINDCHECK_RUNSC_PATHS`: runsc binaries of the user's own, colon-separated.
    pub runsc_paths: Vec<PathBuf>,
    /// `DINDCHECK_CASES`: a directory of case files instead of this repository's `cases/`.
    pub cases: Option<PathBuf>,
    /// `DINDCHECK_BASELINES`: a directory of baselines instead of `tests/baselines/`.
    pub baselines: Option<PathBuf>,
    /// `DINDCHECK_RESULTS_DIR`: each trial also writes its results (a `results.json` of one
    /// trial) there, for `dindcheck report --merge DIR…` (nextest runs each trial in a
    /// process of its own: there is no end of the run to write one file at).
    pub results_dir: Option<PathBuf>,
    /// `DINDCHECK_ALLOW`: the conformance harness's `--allow` (comma-separated
    /// permissions, `host-cgroup-write`, `tcp-listener`), for a gate whose own corpus needs
    /// them.
    pub allow: Vec<crate::case::Permission>,
}

/// A variable whose value cannot be used: which one, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{variable}: {message}")]
pub struct EnvironmentError {
    pub variable: &'static str,
    pub message: String,
}

impl Environment {
    /// Reads the environment. A bad value is reported and its setting left at its default,
    /// so that the rest still applies.
    pub fn read() -> (Environment, Vec<EnvironmentError>) {
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        let mut errors = Vec::new();
        let network = var("DINDCHECK_RUNSC_NETWORK").and_then(|v| {
            v.parse::<RunscNetwork>()
                .map_err(|message| {
                    errors.push(EnvironmentError {
                        variable: "DINDCHECK_RUNSC_NETWORK",
                        message,
                    })
                })
                .ok()
        });
        let launchers = Launcher::parse_selection(&var("DINDCHECK_LAUNCHER").unwrap_or_default())
            .unwrap_or_else(|e| {
                errors.push(EnvironmentError {
                    variable: "DINDCHECK_LAUNCHER",
                    message: e.to_string(),
                });
                Vec::new()
            });
        let runtimes = var("DINDCHECK_RUNTIMES")
            .map(|list| list.split(',').map(|s| s.trim().to_string()).collect())
            .unwrap_or_default();
        let allow = var("DINDCHECK_ALLOW")
            .map(|list| {
                list.split(',')
                    .filter_map(|p| {
                        <crate::case::Permission as clap::ValueEnum>::from_str(p.trim(), false)
                            .map_err(|message| {
                                errors.push(EnvironmentError {
                                    variable: "DINDCHECK_ALLOW",
                                    message,
                                })
                            })
                            .ok()
                    })
                    .collect()
            })
            .unwrap_or_default();
        let env = Environment {
            home: inventory::home(),
            network,
            launchers,
            runtimes,
            engine: var("DINDCHECK_ENGINE"),
            require: require(),
            runsc_paths: var(crate::own_runsc::PATHS_ENV)
                .map(|v| {
                    std::env::split_paths(&v)
                        .filter(|p| !p.as_os_str().is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            cases: var("DINDCHECK_CASES").map(PathBuf::from),
            baselines: var("DINDCHECK_BASELINES").map(PathBuf::from),
            results_dir: var("DINDCHECK_RESULTS_DIR").map(PathBuf::from),
            allow,
        };
        (env, errors)
    }
}

/// The variable that lets a host without runsc, an inventory or a root filesystem skip the
/// trials and tests that need them instead of failing.
pub const ALLOW_SKIP: &str = "DINDCHECK_ALLOW_SKIP";

/// Whether a host without runsc, an inventory or a root filesystem fails the gate and the
/// tests: always, unless `DINDCHECK_ALLOW_SKIP=1` (a gate green without testing anything
/// must be asked for).
pub fn require() -> bool {
    !std::env::var(ALLOW_SKIP).is_ok_and(|v| v == "1")
}
