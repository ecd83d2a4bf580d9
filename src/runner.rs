//! Running trials: one [`run_trial`] launches, observes and removes one sandbox;
//! [`run_all`] runs many with bounded concurrency.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use crate::inventory::Inventory;
use crate::launch::bundle;
use crate::launch::runsc::{Runsc, RunscFailure, parse_wait_status};
use crate::launch::scratch::{Leftovers, TrialDir};
use crate::observe::{self, Readiness};
use crate::observe::{exit_status_from_logs, runsc_log_errors};
use crate::outcome::{Outcome, Verdict};
use crate::plan::Trial;

/// How many lines of output an outcome keeps for the report.
const TAIL_LINES: usize = 15;
/// The decisive line of a trial whose `runsc create` or `start` never returned.
pub const LAUNCH_HANG_MARKER: &str = "dindcheck: runsc create/start did not return";

/// What every trial of a run shares.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub home: PathBuf,
    pub inventory: Inventory,
    /// Keep each trial's scratch directory (processes are ended all the same).
    pub keep_scratch: bool,
    /// The outer engine that trials of the engine launcher run through, when there are any.
    pub engine: Option<std::sync::Arc<crate::engine::OuterEngine>>,
}

/// A trial that could not be attempted: a problem of this host or of the harness, not an
/// outcome of the case.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error(
        "root filesystem `{name}` is not on this host: add it to DINDCHECK_SUITES and rerun scripts/setup-host"
    )]
    MissingRootfs { name: String },
    #[error("runsc binary {0} is missing: rerun scripts/setup-host")]
    MissingRunsc(PathBuf),
    #[error("failed to prepare the scratch directory: {0}")]
    Scratch(#[from] std::io::Error),
    #[error(transparent)]
    Bundle(#[from] bundle::BundleError),
    /// The engine launcher cannot run this case faithfully (see `engine::container`).
    #[error("not expressible with this launcher: {0}")]
    NotExpressible(String),
    #[error("no outer engine was started for the engine launcher")]
    NoEngine,
    #[error("the outer engine failed: {0}")]
    Engine(String),
}

/// The result of one trial, and what its cleanup had to end.
#[derive(Debug)]
pub struct TrialResult {
    pub outcome: Outcome,
    /// Processes or containers that were still running when the trial was torn down (they
    /// were ended; a non-empty list after a clean `delete` would be a runsc leak).
    pub leftovers: Leftovers,
    /// What was still there after the teardown (should always be empty).
    pub leaks: Vec<String>,
}

/// Launches `trial`, waits for dockerd's readiness (or its end, or the timeout), and removes
/// everything it started before returning.
pub async fn run_trial(trial: &Trial, ctx: &RunContext) -> Result<TrialResult, TrialError> {
    if trial.launcher == crate::plan::Launcher::Engine {
        let engine = ctx.engine.as_deref().ok_or(TrialError::NoEngine)?;
        return crate::engine::trial::run(trial, ctx, engine).await;
    }
    let rootfs =
        ctx.inventory
            .rootfs(&trial.case.rootfs)
            .ok_or_else(|| TrialError::MissingRootfs {
                name: trial.case.rootfs.clone(),
            })?;
    if !trial.runtime.path.exists() {
        return Err(TrialError::MissingRunsc(trial.runtime.path.clone()));
    }
    let mut dir = TrialDir::create(&ctx.home, &trial.runtime.path, &trial.name())?;
    if ctx.keep_scratch {
        dir.keep();
    }
    bundle::write(trial, &rootfs.path, &dir.bundle(), &dir.io())?;
    let runsc = Runsc::for_trial(trial, &dir);
    // runsc names its control socket after the container id in the abstract namespace
    // (runsc 20221219 does), so ids must be unique on the host, not only in one `--root`.
    let id = format!("dindcheck-{}", dir.id());
    let id = id.as_str();

    let observed = observe_trial(trial, &runsc, &dir, id).await;
    // Workloads run while the sandbox is still up, before anything is read or torn down, so
    // that dockerd's errors during the probes land in the output read below.
    let probes = match &observed {
        Observed::Waited(Readiness::Ready { .. }) => {
            let image = ctx.inventory.images.busybox.as_deref();
            crate::probe::run(&trial.case.selected_probes(), &dir.socket(), image).await
        }
        _ => Vec::new(),
    };
    let output = std::fs::read_to_string(dir.output()).unwrap_or_default();
    let runsc_errors = runsc_log_errors(&dir.logs());
    let root = dir.root().to_path_buf();
    let keep = ctx.keep_scratch;
    let leftovers = dir.close();
    let mut leaks = crate::launch::scratch::leak_check(&root);
    if keep {
        leaks.retain(|l| !l.starts_with("directory"));
    }

    let mut outcome = initial_outcome(trial, &output, probes);
    match observed {
        Observed::Waited(waited) => settle(&mut outcome, waited, &output),
        Observed::LaunchHang => {
            // runsc itself never returned (a platform that cannot run here hangs in
            // `create`): say so, and keep what its debug logs hold.
            outcome.verdict = Verdict::Timeout;
            outcome.decisive = Some(format!(
                "{LAUNCH_HANG_MARKER} within {} s",
                trial.case.timeout_secs()
            ));
            outcome.error_lines.extend(runsc_errors);
        }
        Observed::LaunchFailed(f) => {
            outcome.verdict = Verdict::LaunchFailed;
            outcome.exit_code = f.status;
            let mut lines: Vec<String> = f
                .output
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(observe::normalise)
                .collect();
            // runsc's debug logs often hold the cause behind the generic message that
            // `create` printed ("waiting for sandbox to start: EOF"): prefer it.
            let cause = runsc_errors.iter().find(|e| {
                let bare = e.trim_start_matches("FATAL ERROR: ");
                !lines
                    .iter()
                    .any(|l| l.contains(bare) || bare.contains(l.as_str()))
            });
            outcome.decisive = cause.or(lines.last()).or(runsc_errors.first()).cloned();
            lines.extend(runsc_errors);
            lines.dedup();
            outcome.error_lines = lines;
            outcome.log_tail = observe::tail(&f.output, TAIL_LINES);
        }
    }
    outcome.classify(crate::classify::Catalogue::builtin());
    Ok(TrialResult {
        outcome,
        leftovers,
        leaks,
    })
}

/// An outcome with everything a launcher knows before its verdict: the trial's names, the
/// network used, the error lines and tail of `output`, and the probes. Both launchers start
/// from it and fill in the verdict.
pub(crate) fn initial_outcome(
    trial: &Trial,
    output: &str,
    probes: Vec<crate::probe::ProbeResult>,
) -> Outcome {
    Outcome {
        trial: trial.name(),
        case: trial.case.name.clone(),
        runtime: trial.runtime.name.clone(),
        launcher: trial.launcher.as_str().into(),
        network: trial.network.as_str().into(),
        network_substituted: trial.network_substituted(),
        verdict: Verdict::Timeout,
        ready_ms: None,
        exit_code: None,
        decisive: None,
        error_lines: observe::error_lines(output),
        log_tail: observe::tail(output, TAIL_LINES),
        daemon: None,
        probes,
        diagnosis: None,
        catalogue_ids: Vec::new(),
    }
}

enum Observed {
    /// runsc started the sandbox; dockerd's readiness wait ended this way.
    Waited(Readiness<Option<i32>>),
    /// `runsc create` or `start` did not return before the deadline.
    LaunchHang,
    LaunchFailed(RunscFailure),
}

/// Sets the verdict of a trial whose readiness wait ended as `waited`: the same for both
/// launchers. `outcome` is [`initial_outcome`]'s, of `output`.
pub(crate) fn settle(outcome: &mut Outcome, waited: Readiness<Option<i32>>, output: &str) {
    match waited {
        Readiness::Ready { ms, info } => {
            outcome.verdict = Verdict::Ready;
            outcome.ready_ms = Some(ms);
            outcome.daemon = Some(info);
        }
        Readiness::Exited(code) => {
            outcome.verdict = Verdict::Exited;
            outcome.exit_code = code;
            outcome.decisive = observe::decisive_line(output);
        }
        Readiness::Timeout => {
            outcome.verdict = Verdict::Timeout;
            outcome.decisive = outcome.error_lines.last().cloned();
        }
    }
}

async fn observe_trial(trial: &Trial, runsc: &Runsc, dir: &TrialDir, id: &str) -> Observed {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(trial.case.timeout_secs());
    // runsc itself may hang (a platform that never runs the container): it gets the same
    // deadline as readiness.
    let launch = async {
        runsc.create(id, &dir.bundle(), &dir.output()).await?;
        runsc.start(id).await
    };
    match tokio::time::timeout_at(deadline, launch).await {
        Err(_) => return Observed::LaunchHang,
        Ok(Err(f)) => return Observed::LaunchFailed(f),
        Ok(Ok(())) => {}
    }
    let mut wait = match runsc.spawn_wait(id) {
        Ok(w) => w,
        Err(e) => {
            return Observed::LaunchFailed(RunscFailure {
                command: runsc.command_line(&["wait", id]),
                status: None,
                output: e.to_string(),
            });
        }
    };
    let mut wait_stdout = wait.stdout.take();
    let exited = async move {
        let mut s = String::new();
        if let Some(out) = wait_stdout.as_mut() {
            let _ = out.read_to_string(&mut s).await;
        }
        let _ = wait.wait().await;
        s
    };
    match observe::wait_ready(&dir.socket(), started, deadline, exited).await {
        Readiness::Ready { ms, info } => Observed::Waited(Readiness::Ready { ms, info }),
        Readiness::Timeout => Observed::Waited(Readiness::Timeout),
        Readiness::Exited(wait_output) => {
            // A container that exits takes its sandbox with it, and `runsc wait` cannot
            // always still learn the status ("sandbox no longer running and its exit status
            // is unavailable"); the sandbox's boot log records it either way.
            let code =
                exit_status_from_logs(&dir.logs()).or_else(|| parse_wait_status(&wait_output));
            Observed::Waited(Readiness::Exited(code))
        }
    }
}

/// Runs `trials` with at most `jobs` at once, calling `on_done` as each finishes. Results come
/// back in the order of `trials`.
pub async fn run_all<F>(
    trials: &[Trial],
    ctx: &RunContext,
    jobs: usize,
    mut on_done: F,
) -> Vec<(Trial, Result<TrialResult, TrialError>)>
where
    F: FnMut(&Trial, &Result<TrialResult, TrialError>),
{
    let mut results: Vec<_> = futures_util::stream::iter(trials.iter().enumerate())
        .map(|(i, t)| async move { (i, t.clone(), run_trial(t, ctx).await) })
        .buffer_unordered(jobs.max(1))
        .inspect(|(_, t, r)| on_done(t, r))
        .collect()
        .await;
    results.sort_by_key(|(i, _, _)| *i);
    results.into_iter().map(|(_, t, r)| (t, r)).collect()
}
