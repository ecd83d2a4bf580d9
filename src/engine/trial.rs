//! One trial through the outer engine: create and start the container, wait for the nested
//! dockerd exactly as the OCI launcher does (`info` on its socket in the bind-mounted io
//! directory), read the container's logs and exit code, remove it, and end what the engine
//! leaked.

use std::time::{Duration, Instant};

use bollard::errors::Error as DockerError;
use bollard::query_parameters::{
    CreateContainerOptions, LogsOptions, RemoveContainerOptions, WaitContainerOptions,
};
use futures_util::StreamExt;

use super::container::{OWNER_LABEL, express};
use super::daemon::OuterEngine;
use super::error::engine_message;
use super::sweep;
use crate::launch::bundle;
use crate::launch::scratch::{Leftovers, TrialDir, leak_check, processes_mentioning};
use crate::observe;
use crate::observe::Readiness;
use crate::outcome::Verdict;
use crate::plan::Trial;
use crate::runner::{RunContext, TrialError, TrialResult};

enum Observed {
    /// The engine started the container; dockerd's readiness wait ended this way.
    Waited(Readiness<Option<i32>>),
    /// The engine refused (create or start), or could not pull the case's image.
    LaunchFailed(String),
}

/// Runs `trial` through `engine` and removes everything it started.
pub async fn run(
    trial: &Trial,
    ctx: &RunContext,
    engine: &OuterEngine,
) -> Result<TrialResult, TrialError> {
    let expression = express(trial).map_err(|e| TrialError::NotExpressible(e.0))?;
    // An engine started for other trials gets this one's runtime by a reload.
    engine
        .ensure_runtimes(std::slice::from_ref(&expression.runtime))
        .await
        .map_err(|e| TrialError::Engine(e.to_string()))?;
    let Some(runtime_name) = engine.runtime_name(&expression.runtime) else {
        return Err(TrialError::Engine(format!(
            "the outer engine has no runtime {} for this trial",
            expression.runtime.name
        )));
    };
    if !trial.runtime.path.exists() {
        return Err(TrialError::MissingRunsc(trial.runtime.path.clone()));
    }
    // A root filesystem that is missing or cannot be imported is the host's problem (an
    // error); an image that cannot be pulled is what this host gives the case (an outcome).
    let image = match &trial.case.image {
        Some(reference) => engine
            .named_image(reference)
            .await
            .map(|i| i.reference)
            .map_err(|why| format!("the outer engine cannot pull the image {reference}: {why}")),
        None => {
            let rootfs = ctx.inventory.rootfs(&trial.case.rootfs).ok_or_else(|| {
                TrialError::MissingRootfs {
                    name: trial.case.rootfs.clone(),
                }
            })?;
            let image = engine
                .image(rootfs)
                .await
                .map_err(|e| TrialError::Engine(e.to_string()))?;
            Ok(image.reference)
        }
    };
    let mut dir = TrialDir::create(&ctx.home, &trial.runtime.path, &trial.name())?;
    if ctx.keep_scratch {
        dir.keep();
    }
    bundle::write_io(trial, &dir.io())?;
    let name = format!("dindcheck-{}", dir.id());
    let docker = engine.docker();

    let mut id = None;
    let observed = match image {
        Err(why) => Observed::LaunchFailed(why),
        Ok(image) => {
            let mut body = expression.container_body(&image, &dir.io());
            if let Some(h) = body.host_config.as_mut() {
                h.runtime = Some(runtime_name.clone());
            }
            if let Some(l) = body.labels.as_mut() {
                l.insert(OWNER_LABEL.to_string(), std::process::id().to_string());
            }
            let options = CreateContainerOptions {
                name: Some(name.clone()),
                ..Default::default()
            };
            match docker.create_container(Some(options), body).await {
                Err(e) => Observed::LaunchFailed(engine_message(&e)),
                Ok(created) => {
                    id = Some(created.id.clone());
                    observe_container(trial, engine, &created.id, &dir).await
                }
            }
        }
    };

    // Workloads run while the container is still up, before its logs are read, as the OCI
    // launcher does, so that dockerd's errors during the probes are in the logs.
    let probes = match &observed {
        Observed::Waited(Readiness::Ready { .. }) => {
            let image = ctx.inventory.images.busybox.as_deref();
            crate::probe::run(&trial.case.selected_probes(), &dir.socket(), image).await
        }
        _ => Vec::new(),
    };
    let output = match &id {
        Some(id) => logs(docker, id).await,
        None => String::new(),
    };
    // Remove the container, then end whatever of it the engine left running.
    let mut leftovers = Leftovers::default();
    if let Some(id) = &id {
        let rm = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        if let Err(e) = docker.remove_container(id, Some(rm)).await {
            tracing::warn!("failed to remove container {name}: {e}");
        }
        let (exec, runsc, cid) = (engine.exec_root(), trial.runtime.path.clone(), id.clone());
        leftovers = tokio::task::spawn_blocking(move || {
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
    }
    let root = dir.root().to_path_buf();
    let keep = ctx.keep_scratch;
    let scratch = dir.close();
    leftovers.containers.extend(scratch.containers);
    leftovers.processes.extend(scratch.processes);
    let mut leaks = leak_check(&root);
    if keep {
        leaks.retain(|l| !l.starts_with("directory"));
    }
    if let Some(id) = &id {
        leaks.extend(
            processes_mentioning(id)
                .into_iter()
                .map(|pid| format!("process {pid} of container {id} still running")),
        );
    }

    let mut outcome = crate::runner::initial_outcome(trial, &output, probes);
    match observed {
        Observed::Waited(waited) => crate::runner::settle(&mut outcome, waited, &output),
        Observed::LaunchFailed(message) => {
            outcome.verdict = Verdict::LaunchFailed;
            let line = observe::normalise(&message);
            outcome.decisive = Some(line.clone());
            outcome.error_lines.push(line);
        }
    }
    outcome.classify(crate::classify::Catalogue::builtin());
    Ok(TrialResult {
        outcome,
        leftovers,
        leaks,
    })
}

async fn observe_container(
    trial: &Trial,
    engine: &OuterEngine,
    id: &str,
    dir: &TrialDir,
) -> Observed {
    let docker = engine.docker();
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(trial.case.timeout_secs());
    match tokio::time::timeout_at(deadline, docker.start_container(id, None)).await {
        Err(_) => return Observed::Waited(Readiness::Timeout),
        Ok(Err(e)) => return Observed::LaunchFailed(engine_message(&e)),
        Ok(Ok(())) => {}
    }
    let mut wait = docker.wait_container(id, None::<WaitContainerOptions>);
    let exited = async move {
        match wait.next().await {
            Some(Ok(r)) => Some(r.status_code as i32),
            // bollard reports a non-zero exit as an error carrying the code.
            Some(Err(DockerError::DockerContainerWaitError { code, .. })) => Some(code as i32),
            _ => None,
        }
    };
    Observed::Waited(observe::wait_ready(&dir.socket(), started, deadline, exited).await)
}

/// Everything the container printed so far, stdout and stderr interleaved as the engine
/// stored them.
async fn logs(docker: &bollard::Docker, id: &str) -> String {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        ..Default::default()
    };
    let mut stream = docker.logs(id, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    text
}
