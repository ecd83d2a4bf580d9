//! The engine launcher's part of a trial: the case as a container through the outer engine
//! (created, started, its exit awaited), its logs as the trial's output, and its removal,
//! with the sweep of whatever of its sandbox the engine leaked.

use std::time::{Duration, Instant};

use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

use super::container::{Expression, OWNER_LABEL, express};
use super::daemon::OuterEngine;
use super::error::{EngineError, engine_message};
use super::sweep;
use crate::inventory::Inventory;
use crate::trial::launch::bundle;
use crate::trial::launch::sandbox::{Ended, Launch, LaunchError, Refusal, RefusalKind, Start};
use crate::trial::launch::scratch::{Leftovers, TrialDir, still_running_after};
use crate::trial::plan::Trial;

/// One trial's container on the outer engine.
pub struct Engine<'a> {
    engine: &'a OuterEngine,
    expression: Expression,
    /// The engine's name for the trial's runtime.
    runtime: String,
    /// The image to run, or why the engine could not have it (an outcome of the case, not an
    /// error of the harness: the trial is a launch failure).
    image: Result<String, String>,
    /// The container, once created.
    id: Option<String>,
}

impl<'a> Engine<'a> {
    /// Translates the trial into a container, gives the engine the trial's runtime (by a
    /// reload when it lacks it) and has it check, import or pull the image.
    pub async fn prepare(
        trial: &Trial,
        inventory: &Inventory,
        engine: &'a OuterEngine,
    ) -> Result<Engine<'a>, LaunchError> {
        let expression = express(trial)?;
        if !engine.is_running() {
            return Err(EngineError::Stopped("the outer engine is no longer running").into());
        }
        // An engine started for other trials gets this one's runtime by a reload.
        engine
            .ensure_runtimes(std::slice::from_ref(&expression.runtime))
            .await?;
        let Some(runtime) = engine.runtime_name(&expression.runtime) else {
            return Err(EngineError::NoRuntime(expression.runtime.name.clone()).into());
        };
        if !trial.runtime.path.exists() {
            return Err(LaunchError::MissingRunsc(trial.runtime.path.clone()));
        }
        // A root filesystem that is missing or cannot be imported is the host's problem (an
        // error); an image that the engine does not have is what this host gives the case (an
        // outcome: dindcheck never pulls).
        let image = match &trial.case.image {
            Some(reference) => engine
                .named_image(reference)
                .await
                .map(|i| i.reference)
                .map_err(|why| {
                    format!("the outer engine does not have the image {reference}: {why}")
                }),
            None => {
                let rootfs = inventory.rootfs(&trial.case.rootfs).ok_or_else(|| {
                    LaunchError::MissingRootfs {
                        name: trial.case.rootfs.clone(),
                    }
                })?;
                Ok(engine.image(rootfs).await?.reference)
            }
        };
        Ok(Engine {
            engine,
            expression,
            runtime,
            image,
            id: None,
        })
    }
}

/// Why a trial under this launcher has no network probes (docs/networking.md, "Network
/// probes"): the outer container runs with Docker's `--network=none`, so that no route leads
/// from it off the machine, and the harness has no namespace of its own on its far side.
pub const NO_UPLINK: &str = "the engine launcher runs the sandbox with Docker's --network=none: \
     no uplink of the harness's to reach it from";

impl Launch for Engine<'_> {
    fn uplink(&self) -> Result<&str, String> {
        Err(NO_UPLINK.to_string())
    }

    fn write(&mut self, trial: &Trial, dir: &TrialDir) -> Result<(), LaunchError> {
        Ok(bundle::write_io(trial, &dir.io())?)
    }

    async fn start(&mut self, _trial: &Trial, dir: &TrialDir, timeout: Duration) -> Start {
        let image = match &self.image {
            Ok(image) => image,
            Err(why) => return refused(why.clone()),
        };
        let mut body = self.expression.container_body(image, &dir.io());
        if let Some(h) = body.host_config.as_mut() {
            h.runtime = Some(self.runtime.clone());
            // The trial's own cgroup parent, named as the OCI launcher's sandboxes are: a
            // `host-bind-rw` trial removing what is new under `docker/` cannot take it, and the
            // scratch directory's cleanup removes it (docs/host-facts.md, "A Docker Engine with
            // runsc as a runtime"). An engine with systemd's driver puts it under a systemd
            // unit instead, which that removal spares too.
            if self.engine.cgroupfs {
                h.cgroup_parent = Some(format!("/dindcheck-{}", dir.id()));
            }
        }
        if let Some(l) = body.labels.as_mut() {
            l.insert(OWNER_LABEL.to_string(), std::process::id().to_string());
        }
        let options = CreateContainerOptions {
            name: Some(format!("dindcheck-{}", dir.id())),
            ..Default::default()
        };
        let docker = self.engine.docker();
        let id = match docker.create_container(Some(options), body).await {
            Err(e) => return refused(engine_message(&e)),
            Ok(created) => created.id,
        };
        self.id = Some(id.clone());
        let started = Instant::now();
        let deadline = tokio::time::Instant::now() + timeout;
        match tokio::time::timeout_at(deadline, docker.start_container(&id, None)).await {
            Err(_) => return Start::Hung { explanation: None },
            Ok(Err(e)) => return refused(engine_message(&e)),
            Ok(Ok(())) => {}
        }
        let docker = docker.clone();
        let exited = async move {
            let mut wait = docker.wait_container(&id, None::<WaitContainerOptions>);
            Ended::Status(match wait.next().await {
                Some(Ok(r)) => Some(r.status_code as i32),
                // bollard reports a non-zero exit as an error carrying the code.
                Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Some(code as i32),
                _ => None,
            })
        };
        Start::Running {
            started,
            deadline,
            exited: Box::pin(exited),
        }
    }

    /// Everything the container printed so far, stdout and stderr interleaved as the engine
    /// stored them.
    async fn output(&self, _dir: &TrialDir) -> String {
        let Some(id) = &self.id else {
            return String::new();
        };
        let options = LogsOptions {
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let mut stream = self.engine.docker().logs(id, Some(options));
        let mut text = String::new();
        while let Some(Ok(chunk)) = stream.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        }
        text
    }

    /// Removes the container, then ends whatever of it the engine left running
    /// (docs/host-facts.md, "A Docker Engine with runsc as a runtime").
    async fn remove(&mut self, trial: &Trial) -> Leftovers {
        let Some(id) = &self.id else {
            return Leftovers::default();
        };
        let rm = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        if let Err(e) = self.engine.docker().remove_container(id, Some(rm)).await {
            tracing::warn!("failed to remove container {id}: {e}");
        }
        let (exec, runsc, cid) = (
            self.engine.exec_root(),
            trial.runtime.path.clone(),
            id.clone(),
        );
        let leftovers = tokio::task::spawn_blocking(move || {
            sweep::sweep_container(exec.as_deref(), &runsc, &cid)
        })
        .await
        .unwrap_or_default();
        if !leftovers.is_empty() {
            tracing::warn!(
                "the outer engine leaked container {id}'s sandbox: ended {} runsc container(s) and processes {:?}",
                leftovers.containers.len(),
                leftovers.processes
            );
        }
        leftovers
    }

    /// An engine that died during the trial explains whatever the trial saw: a host fault,
    /// not the case's outcome.
    fn host_fault(&self) -> Option<LaunchError> {
        (!self.engine.is_running())
            .then_some(EngineError::Stopped("the outer engine stopped during the trial").into())
    }

    fn leaks(&self) -> Vec<String> {
        let Some(id) = &self.id else {
            return Vec::new();
        };
        // containerd answers the end of a container's shim by running the shim's `delete`,
        // which names the container too: it ends by itself, and only what is still there
        // after it had the time to is a leak.
        still_running_after(id, std::time::Duration::from_secs(5))
            .into_iter()
            .map(|pid| format!("process {pid} of container {id} still running"))
            .collect()
    }
}

fn refused(message: String) -> Start {
    Start::Refused(Refusal {
        message,
        status: None,
        kind: RefusalKind::Message,
    })
}
