//! What can keep a run from starting or finishing: each a user's or the host's problem,
//! with what to do about it.

use std::path::PathBuf;

use crate::case::CaseError;
use crate::inventory::InventoryError;
use crate::output::OutputError;
use crate::report::MergeError;
use crate::trial::launch::LaunchError;

#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SessionError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Cases(Box<CaseError>),
    #[error("no such case: {}", .0.join(", "))]
    UnknownCases(Vec<String>),
    #[error("invalid case file for {}: see its error above", .0.join(", "))]
    InvalidCases(Vec<String>),
    #[error(transparent)]
    Inventory(#[from] InventoryError),
    #[error("the inventory lists no runsc: rerun scripts/setup-host, or give one with --runsc")]
    NoRunsc,
    #[error(transparent)]
    OwnRunsc(#[from] crate::own_runsc::OwnRunscError),
    #[error("failed to import the image: {0}")]
    Import(#[from] crate::rootfs_import::ImportError),
    /// A launcher could not prepare for the run (the outer engine did not start).
    #[error(transparent)]
    Launcher(#[from] LaunchError),
    #[error("failed to start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a dindcheck results file: {source}")]
    NotResults {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("failed to merge the results: {0}")]
    Merge(#[from] MergeError),
}

/// Whose problem an error that stops a command is: it decides the exit status
/// (`docs/usage.md`, "Exit status").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The command line, or a file it names, is wrong: the user can fix it by asking
    /// differently.
    Usage,
    /// This host cannot do it (no inventory or runsc, an engine that does not start, an
    /// output directory that cannot be written, a trial that could not be attempted).
    Host,
    /// `minimize` or `repair` has nothing to answer: the case does not keep the target as it
    /// is (nothing to minimise), or already keeps it (nothing to repair).
    NoAnswer,
}

impl SessionError {
    pub fn fault(&self) -> Fault {
        use SessionError as E;
        match self {
            E::Cases(_)
            | E::UnknownCases(_)
            | E::InvalidCases(_)
            | E::OwnRunsc(_)
            | E::Import(_)
            | E::Read { .. }
            | E::NotResults { .. }
            | E::Merge(_) => Fault::Usage,
            E::Inventory(
                InventoryError::UnknownRuntime { .. } | InventoryError::UnknownPlatform { .. },
            ) => Fault::Usage,
            E::Inventory(_) | E::NoRunsc | E::Launcher(_) | E::Runtime(_) | E::Output(_) => {
                Fault::Host
            }
        }
    }
}
