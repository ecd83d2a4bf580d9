//! The OCI launcher: a hand-made OCI bundle ([`super::bundle`]) under `runsc create` and
//! `runsc start` ([`super::runsc`]), in the trial's own runsc `--root`.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::future::LocalBoxFuture;
use tokio::io::AsyncReadExt;

use super::bundle;
use super::launcher::{Launcher, NotExpressible};
use super::netns::TrialNetwork;
use super::run::{LauncherRun, Prepared, Registration, RunFigures};
use super::runsc::{Runsc, RunscFailure, exit_status_from_logs, parse_wait_status};
use super::sandbox::{DynLaunch, Ended, Launch, LaunchError, Refusal, RefusalKind, Start};
use super::scratch::{Leftovers, TrialDir};
use crate::case::RunscNetwork;
use crate::inventory::Inventory;
use crate::trial::plan::Trial;

/// The decisive line of a trial whose `runsc create` or `start` never returned.
pub const LAUNCH_HANG_MARKER: &str = "dindcheck: runsc create/start did not return";

/// The OCI launcher runs a root filesystem from the setup, never an image.
pub fn expressible(trial: &Trial) -> Result<(), NotExpressible> {
    match &trial.case.image {
        None => Ok(()),
        Some(image) => Err(NotExpressible(format!(
            "the case runs the image `{image}`; the OCI launcher runs a root filesystem \
             from the setup, not an image"
        ))),
    }
}

/// The OCI launcher in the launchers' table: it needs nothing run-wide.
pub const REGISTRATION: Registration = Registration {
    launcher: Launcher::Oci,
    expressible,
    needs_rootfs: |_| true,
    run: |_| Box::new(OciRun),
    reap: |_| Vec::new(),
    stop_own: || 0,
};

/// The OCI launcher's run-wide part: each trial has its own runsc `--root`, so there is
/// nothing to start or stop for the run.
struct OciRun;

impl LauncherRun for OciRun {
    fn prepare<'a>(
        &'a mut self,
        _trials: &'a [Trial],
        _inventory: &'a Inventory,
    ) -> LocalBoxFuture<'a, Result<Prepared, LaunchError>> {
        Box::pin(async { Ok(Prepared::default()) })
    }

    fn launch<'a>(
        &'a self,
        trial: &'a Trial,
        inventory: &'a Inventory,
    ) -> LocalBoxFuture<'a, Result<Box<dyn DynLaunch + 'a>, LaunchError>> {
        Box::pin(async move { Ok(Box::new(Oci::prepare(trial, inventory)?) as Box<dyn DynLaunch>) })
    }

    fn stop<'a>(&'a mut self, _figures: &'a mut RunFigures) -> LocalBoxFuture<'a, ()> {
        Box::pin(async {})
    }
}

/// Why a trial under this launcher has no network probes: runsc's `--network=none`.
pub const NO_SANDBOX_NETWORK: &str =
    "the sandbox has no network (runsc --network=none): only loopback, no uplink to reach";

/// One trial's bundle and runsc.
pub struct Oci {
    rootfs: PathBuf,
    /// The trial's own network namespaces, for runsc's sandbox networking; deleted when the
    /// launcher is dropped, after the teardown.
    network: Option<TrialNetwork>,
}

impl Oci {
    /// Checks that this host has the trial's root filesystem and runsc binary.
    pub fn prepare(trial: &Trial, inventory: &Inventory) -> Result<Oci, LaunchError> {
        let rootfs =
            inventory
                .rootfs(&trial.case.rootfs)
                .ok_or_else(|| LaunchError::MissingRootfs {
                    name: trial.case.rootfs.clone(),
                })?;
        if !trial.runtime.path.exists() {
            return Err(LaunchError::MissingRunsc(trial.runtime.path.clone()));
        }
        Ok(Oci {
            rootfs: rootfs.path.clone(),
            network: None,
        })
    }
}

impl Launch for Oci {
    fn uplink(&self) -> Result<&str, String> {
        self.network
            .as_ref()
            .map(TrialNetwork::uplink_name)
            .ok_or_else(|| NO_SANDBOX_NETWORK.to_string())
    }

    fn write(&mut self, trial: &Trial, dir: &TrialDir) -> Result<(), LaunchError> {
        // The trial's own overlay view of the shared rootfs: mount points land there.
        let root = dir.rootfs_view(&self.rootfs)?;
        // Sandbox networking gets namespaces of the trial's own, with a link to nothing but
        // the trial's uplink namespace (docs/host-facts.md, "Sandbox networking").
        if trial.network == RunscNetwork::Sandbox {
            let offload = trial.case.runsc.uplink_offload.unwrap_or(true);
            self.network = Some(TrialNetwork::create(&dir.id(), offload)?);
        }
        let netns = self.network.as_ref().map(TrialNetwork::path);
        Ok(bundle::write(
            trial,
            &root,
            &dir.bundle(),
            &dir.io(),
            netns.as_deref(),
        )?)
    }

    async fn start(&mut self, trial: &Trial, dir: &TrialDir, timeout: Duration) -> Start {
        let runsc = Runsc::for_trial(trial, &dir.state(), &dir.logs());
        // runsc names its control socket after the container id in the abstract namespace
        // (docs/host-facts.md, "runsc's control socket is named after the container id"),
        // so ids must be unique on the host, not only in one `--root`.
        let id = format!("dindcheck-{}", dir.id());
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        // runsc itself may hang (a platform that never runs the container): it gets the same
        // deadline as readiness.
        let launch = async {
            runsc.create(&id, &dir.bundle(), &dir.output()).await?;
            runsc.start(&id).await
        };
        match tokio::time::timeout_at(deadline, launch).await {
            Err(_) => {
                // A platform that cannot run here hangs in `create` (docs/host-facts.md,
                // "Platforms"): say so.
                return Start::Hung {
                    explanation: Some(format!(
                        "{LAUNCH_HANG_MARKER} within {} s",
                        timeout.as_secs()
                    )),
                };
            }
            Ok(Err(f)) => return Start::Refused(refusal(f)),
            Ok(Ok(())) => {}
        }
        let mut wait = match runsc.spawn_wait(&id) {
            Ok(w) => w,
            Err(e) => {
                return Start::Refused(refusal(RunscFailure {
                    command: runsc.command_line(&["wait", &id]),
                    status: None,
                    output: e.to_string(),
                }));
            }
        };
        let mut wait_stdout = wait.stdout.take();
        let logs = dir.logs();
        let boot_exit = super::runsc::boot_log_exit(logs.clone());
        let waited = async move {
            let mut s = String::new();
            if let Some(out) = wait_stdout.as_mut() {
                let _ = out.read_to_string(&mut s).await;
            }
            let _ = wait.wait().await;
            // A container that exits takes its sandbox with it, and `runsc wait` cannot
            // always still learn the status ("sandbox no longer running and its exit status
            // is unavailable"); the sandbox's boot log records it either way.
            let recorded = exit_status_from_logs(&logs);
            let waited = parse_wait_status(&s);
            // gVisor's boot log records every exit of the application (every exited
            // baseline has its status); a sandbox that ended with no such record, killed
            // or with no status at all, was ended from outside.
            if recorded.is_none()
                && waited.is_none_or(|w| w == 128 + rustix::process::Signal::KILL.as_raw())
            {
                Ended::KilledFromOutside
            } else {
                Ended::Status(recorded.or(waited))
            }
        };
        // The boot log records the application's exit before `runsc wait` returns it.
        let exited = async move {
            tokio::select! {
                status = boot_exit => Ended::Status(Some(status)),
                ended = waited => ended,
            }
        };
        Start::Running {
            started,
            deadline,
            exited: Box::pin(exited),
        }
    }

    async fn output(&self, dir: &TrialDir) -> String {
        std::fs::read_to_string(dir.output()).unwrap_or_default()
    }

    /// Everything the OCI launcher started lives under the scratch directory.
    async fn remove(&mut self, _trial: &Trial) -> Leftovers {
        Leftovers::default()
    }

    fn leaks(&self) -> Vec<String> {
        Vec::new()
    }
}

fn refusal(f: RunscFailure) -> Refusal {
    Refusal {
        message: f.output,
        status: f.status,
        kind: RefusalKind::Output,
    }
}
