//! The launchers by name: how a trial's sandbox is started. Plain data, so that planning can
//! cross cases with launchers without knowing what a launcher does; each launcher's work is
//! its own module ([`super::oci`], [`super::engine`]), registered in [`super::registry`].

use serde::{Deserialize, Serialize};

/// How a trial's sandbox is started.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Launcher {
    /// A hand-made OCI bundle under `runsc create/start` ([`super::oci`]).
    Oci,
    /// `docker run --runtime=runsc…` through an outer Docker Engine ([`super::engine`]).
    Engine,
}

impl Launcher {
    pub const ALL: [Launcher; 2] = [Launcher::Oci, Launcher::Engine];

    pub fn as_str(self) -> &'static str {
        match self {
            Launcher::Oci => "oci",
            Launcher::Engine => "engine",
        }
    }

    /// What the launcher is, in a few words, for the report's header.
    pub fn description(self) -> &'static str {
        match self {
            Launcher::Oci => "`oci`, an OCI bundle under `runsc run`",
            Launcher::Engine => "`engine`, `docker run --runtime=runsc` through an outer dockerd",
        }
    }

    /// `oci`, `engine` or `both`, as `--launcher` and `DINDCHECK_LAUNCHER` take it.
    pub fn parse_selection(s: &str) -> Result<Vec<Launcher>, UnknownLauncher> {
        match s {
            "oci" => Ok(vec![Launcher::Oci]),
            "engine" => Ok(vec![Launcher::Engine]),
            "both" | "" => Ok(Launcher::ALL.to_vec()),
            _ => Err(UnknownLauncher(s.to_string())),
        }
    }
}

impl std::fmt::Display for Launcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A launcher selection that names no launcher.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown launcher `{0}`: expected oci, engine or both")]
pub struct UnknownLauncher(pub String);

/// Why a launcher cannot run a case faithfully. Such a trial is reported as "not
/// expressible with this launcher" instead of being run as something else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not expressible with this launcher: {0}")]
pub struct NotExpressible(pub String);
