//! The seam between the trial flow (`crate::trial::run`) and the launchers: what a launcher does
//! for one trial ([`Launch`]), how its start ended ([`Start`]), and why a trial could not be
//! attempted at all ([`LaunchError`]). Everything else of a trial (its scratch directory,
//! readiness, probes, teardown and leak check, classification) is the flow's, the same for
//! every launcher.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;

use super::bundle::BundleError;
use super::engine::error::EngineError;
use super::launcher::NotExpressible;
use super::scratch::{Leftovers, TrialDir};
use crate::trial::plan::Trial;

/// One launcher's part of one trial, in the order the flow calls it. Prepared by the
/// launcher's run-wide part ([`super::run::LauncherRun::launch`]).
pub(crate) trait Launch {
    /// Writes what the sandbox reads into the trial's scratch directory.
    fn write(&mut self, trial: &Trial, dir: &TrialDir) -> Result<(), LaunchError>;
    /// Starts the sandbox. The trial's deadline is `timeout` from when the launcher starts
    /// its clock (the launch itself counts).
    async fn start(&mut self, trial: &Trial, dir: &TrialDir, timeout: Duration) -> Start;
    /// Everything the sandbox printed so far.
    async fn output(&self, dir: &TrialDir) -> String;
    /// Removes what the launcher started outside the scratch directory (which the flow
    /// cleans up next), returning what had to be ended.
    async fn remove(&mut self, trial: &Trial) -> Leftovers;
    /// What is still running after the teardown, beyond the scratch directory's own check.
    fn leaks(&self) -> Vec<String>;
    /// A fault of the host found after the trial (the outer engine died) that explains
    /// whatever the trial saw: the trial is then an error, not the case's outcome.
    fn host_fault(&self) -> Option<LaunchError> {
        None
    }
    /// Where the network probes reach the sandbox from: the trial's uplink namespace, when
    /// the launcher gave the sandbox one (docs/networking.md, "Network probes"). `Err` says
    /// why there is none, which the report shows as the network probes' "not applicable".
    fn uplink(&self) -> Result<&str, String>;
}

/// [`Launch`] behind a pointer: what the run-wide part of a launcher hands the trial flow,
/// whichever launcher it is. Every [`Launch`] is one.
pub trait DynLaunch {
    fn write(&mut self, trial: &Trial, dir: &TrialDir) -> Result<(), LaunchError>;
    fn start<'a>(
        &'a mut self,
        trial: &'a Trial,
        dir: &'a TrialDir,
        timeout: Duration,
    ) -> LocalBoxFuture<'a, Start>;
    fn output<'a>(&'a self, dir: &'a TrialDir) -> LocalBoxFuture<'a, String>;
    fn remove<'a>(&'a mut self, trial: &'a Trial) -> LocalBoxFuture<'a, Leftovers>;
    fn leaks(&self) -> Vec<String>;
    fn host_fault(&self) -> Option<LaunchError>;
    fn uplink(&self) -> Result<&str, String>;
}

impl<L: Launch> DynLaunch for L {
    fn write(&mut self, trial: &Trial, dir: &TrialDir) -> Result<(), LaunchError> {
        Launch::write(self, trial, dir)
    }
    fn start<'a>(
        &'a mut self,
        trial: &'a Trial,
        dir: &'a TrialDir,
        timeout: Duration,
    ) -> LocalBoxFuture<'a, Start> {
        Box::pin(Launch::start(self, trial, dir, timeout))
    }
    fn output<'a>(&'a self, dir: &'a TrialDir) -> LocalBoxFuture<'a, String> {
        Box::pin(Launch::output(self, dir))
    }
    fn remove<'a>(&'a mut self, trial: &'a Trial) -> LocalBoxFuture<'a, Leftovers> {
        Box::pin(Launch::remove(self, trial))
    }
    fn leaks(&self) -> Vec<String> {
        Launch::leaks(self)
    }
    fn host_fault(&self) -> Option<LaunchError> {
        Launch::host_fault(self)
    }
    fn uplink(&self) -> Result<&str, String> {
        Launch::uplink(self)
    }
}

/// How the sandbox ended, once it stops.
pub type Exit = Pin<Box<dyn Future<Output = Ended>>>;

/// How a sandbox that was running ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It stopped by itself, with this exit status (`None` when it cannot be learnt).
    Status(Option<i32>),
    /// It was SIGKILLed on the host, not ended by anything inside it (an operator, the
    /// host's OOM killer). The runner tells the sandbox's own memory limit (the case's
    /// outcome) from the rest (a host fault, saying nothing about the case) by its memory
    /// cgroup's OOM kills.
    KilledFromOutside,
}

/// How a launcher's start ended.
pub enum Start {
    /// The sandbox runs: readiness is measured from `started`, until `deadline`.
    Running {
        started: Instant,
        deadline: tokio::time::Instant,
        exited: Exit,
    },
    /// The launcher refused to start the sandbox.
    Refused(Refusal),
    /// The launcher's own call did not return by the deadline. `explanation`: the line that
    /// says so, when the launcher has one; without it the trial is an ordinary timeout.
    Hung { explanation: Option<String> },
}

/// Why a launcher refused to start a sandbox, in its own words.
#[derive(Debug, Clone)]
pub struct Refusal {
    pub message: String,
    pub status: Option<i32>,
    pub kind: RefusalKind,
}

/// How a refusal relates to what the sandbox printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    /// The message is the whole story (runsc's output, several lines): its lines are the
    /// trial's error lines and last lines.
    Output,
    /// One message (the engine's), added to whatever the sandbox printed.
    Message,
}

/// A trial that could not be attempted: a problem of this host or of the harness, not an
/// outcome of the case.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error(
        "root filesystem `{name}` is not on this host: add it to DINDCHECK_SUITES and rerun scripts/setup-host"
    )]
    MissingRootfs { name: String },
    #[error("runsc binary {0} is missing: rerun scripts/setup-host")]
    MissingRunsc(PathBuf),
    #[error(transparent)]
    Bundle(#[from] BundleError),
    #[error(transparent)]
    NotExpressible(#[from] NotExpressible),
    /// The engine launcher's own errors ([`super::engine::EngineError`]).
    #[error("the outer engine failed: {0}")]
    Engine(#[from] EngineError),
    #[error("failed to prepare the scratch directory: {0}")]
    Scratch(#[from] std::io::Error),
    #[error("failed to make the trial's network namespace: {0}")]
    Network(#[from] super::netns::NetnsError),
}
