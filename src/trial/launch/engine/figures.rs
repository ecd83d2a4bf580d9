//! What the outer engine of a run took, for the report (`results.json`'s `engine`): filled by
//! the engine launcher's run-wide part ([`super::run`]).

use serde::{Deserialize, Serialize};

/// What the outer engine of a run took: measured, never asserted.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct EngineFigures {
    /// The outer dockerd's version.
    pub dockerd: String,
    /// The address of an existing engine the run used (`--engine`), which it did not start.
    #[serde(default)]
    pub existing: Option<String>,
    /// From spawning dockerd to its first answer.
    pub start_ms: u64,
    /// From SIGTERM to its exit and the sweep of its exec-root.
    pub stop_ms: Option<u64>,
    pub imports: Vec<ImportFigure>,
    /// What a dead earlier run had left in the engine's slot (ended before this run).
    pub reaped: Vec<String>,
    /// Processes still under the engine's exec-root after it stopped (ended).
    pub leaked_at_stop: Vec<String>,
    /// Each reload (SIGHUP) that gave the running engine a runtime it lacked, in ms.
    #[serde(default)]
    pub reload_ms: Vec<u64>,
}

/// An image the outer engine used in a run, and how long its import took: for the report.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ImportFigure {
    /// The root filesystem imported; empty for an image a case names (pulled).
    pub rootfs: String,
    pub image: String,
    /// `None`: the image was already there under the rootfs's current content key.
    pub import_ms: Option<u64>,
}
