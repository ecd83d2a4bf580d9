//! What can go wrong with the outer engine, and the engine's own words for a refused
//! request.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("failed to prepare the engine's directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to start dockerd: {0}")]
    Spawn(std::io::Error),
    #[error("dockerd did not become ready: {reason}; its last lines:\n{log}")]
    NotReady { reason: String, log: String },
    #[error("the engine's socket path {0} is longer than a unix socket address allows")]
    SocketTooLong(PathBuf),
    #[error("the outer engine refused a request: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("failed to import {rootfs} as an image: {source}")]
    Import {
        rootfs: PathBuf,
        source: ImportFailure,
    },
    #[error(
        "`{0}` is not an engine address dindcheck can use: expected unix:///path/to/docker.sock"
    )]
    Address(String),
    #[error("no outer engine was started for the engine launcher")]
    NotStarted,
    #[error("the outer engine has no runtime {0} for this trial")]
    NoRuntime(String),
    #[error("{0}")]
    Stopped(&'static str),
    #[error(
        "the engine at {address} lacks runtimes the trials need; add them to its daemon.json \
         `runtimes` (any names) and reload it (SIGHUP):\n{missing}"
    )]
    MissingRuntimes { address: String, missing: String },
}

/// Why a root filesystem could not be imported as an image.
#[derive(Debug, thiserror::Error)]
pub enum ImportFailure {
    #[error("cannot read {path}: {source}")]
    Status {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot archive the rootfs: {0}")]
    Archive(std::io::Error),
    #[error("{0}")]
    Writer(#[from] tokio::task::JoinError),
    #[error("{0}")]
    Engine(#[from] bollard::errors::Error),
}

/// A case's image that the outer engine does not have: what the trial's outcome says.
/// dindcheck never pulls one: a pull is traffic to a registry off this machine
/// (docs/host-facts.md, "A Docker Engine with runsc as a runtime"), and ours reach none.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "dindcheck does not pull images (a pull would reach a registry off this machine): \
     load it into the outer engine first (`docker load`)"
)]
pub struct MissingImage;

/// The engine's own message for a refused request (`OCI runtime start failed: …`, a failed
/// pull's `Get "https://…/v2/": …`).
pub(crate) fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

pub(super) fn mkdir(p: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(p).map_err(|e| dir_err(p, e))
}

pub(super) fn write(p: &Path, text: &str) -> Result<(), EngineError> {
    std::fs::write(p, text).map_err(|e| dir_err(p, e))
}

pub(super) fn dir_err(p: &Path, source: std::io::Error) -> EngineError {
    EngineError::Dir {
        path: p.to_path_buf(),
        source,
    }
}
