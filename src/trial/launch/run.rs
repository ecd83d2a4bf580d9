//! The run-wide part of the launcher seam: what a launcher does once for a whole run, around
//! its trials ([`super::sandbox::Launch`] is its part of one trial). The session asks each
//! launcher, through [`super::registry::LauncherRuns`], to prepare for its trials (the engine launcher starts
//! the outer dockerd and imports the root filesystems), to launch each trial, and to stop and
//! say what it took; reaping what dead runs left is the registration's ([`Registration`],
//! listed in [`super::registry`]). Nobody else names what a launcher keeps for a run.

use std::path::{Path, PathBuf};

use futures_util::future::LocalBoxFuture;

use super::engine::figures::EngineFigures;
use super::launcher::{Launcher, NotExpressible};
use super::sandbox::{DynLaunch, LaunchError};
use crate::inventory::Inventory;
use crate::trial::plan::Trial;

/// What every launcher's run-wide part is given.
#[derive(Debug, Clone, Default)]
pub struct RunSettings {
    /// `DINDCHECK_HOME`: where a launcher keeps its run-wide state.
    pub home: PathBuf,
    /// An existing engine (`--engine unix:///path`) for the engine launcher, instead of one
    /// it starts.
    pub existing_engine: Option<String>,
}

impl RunSettings {
    /// Settings that start whatever a launcher needs under `home`.
    pub fn at(home: &Path) -> RunSettings {
        RunSettings {
            home: home.to_path_buf(),
            existing_engine: None,
        }
    }
}

/// What preparing the launchers did that a front end shows.
#[derive(Debug, Default)]
pub struct Prepared {
    /// What was made ready for the trials, one line each (`imported … as … in … ms`).
    pub imported: Vec<String>,
    /// What a dead run had left in the launchers' state, and was ended.
    pub reaped: Vec<String>,
}

/// What the launchers' run-wide parts took, for the report: each launcher with figures
/// fills its own field (each is a field of `results.json`).
#[derive(Debug, Default)]
pub struct RunFigures {
    pub engine: Option<EngineFigures>,
}

/// One launcher's run-wide part (a session, with it, may move to another thread).
pub trait LauncherRun: Send + Sync {
    /// Readies the launcher for `trials` (all of them its own; none when the run has none).
    fn prepare<'a>(
        &'a mut self,
        trials: &'a [Trial],
        inventory: &'a Inventory,
    ) -> LocalBoxFuture<'a, Result<Prepared, LaunchError>>;
    /// One trial's launcher, its host checks done (the runsc binary, the root filesystem or
    /// image, the engine's runtime), for the trial flow to drive.
    fn launch<'a>(
        &'a self,
        trial: &'a Trial,
        inventory: &'a Inventory,
    ) -> LocalBoxFuture<'a, Result<Box<dyn DynLaunch + 'a>, LaunchError>>;
    /// Whether what a trial's teardown had to end is this launcher's leak, which the report
    /// lists (the engine's: it should have ended the sandbox with the container).
    fn leftovers_leak(&self) -> bool {
        false
    }
    /// Stops what [`LauncherRun::prepare`] started, adding what it took to `figures`.
    fn stop<'a>(&'a mut self, figures: &'a mut RunFigures) -> LocalBoxFuture<'a, ()>;
}

/// What the rest of the program may ask of one launcher.
pub struct Registration {
    pub launcher: Launcher,
    /// Whether the launcher can run a trial's case faithfully; it decides for itself.
    pub expressible: fn(&Trial) -> Result<(), NotExpressible>,
    /// Whether the trial runs one of the setup's root filesystems (which the trial flow then
    /// checks is on this host, with its dockerd).
    pub needs_rootfs: fn(&Trial) -> bool,
    /// Its run-wide part, not yet prepared.
    pub run: fn(&RunSettings) -> Box<dyn LauncherRun>,
    /// Ends what dead runs left under a home (not this process's), one line per thing ended.
    pub reap: fn(&Path) -> Vec<String>,
    /// Ends what this process started run-wide, from a signal handler (no destructor runs):
    /// how many things it ended.
    pub stop_own: fn() -> usize,
}
