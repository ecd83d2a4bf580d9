//! The trial flow: [`run_trial`] runs one trial end to end, the same for every launcher
//! (many at once: [`crate::session::jobs`]).
//!
//! A launcher ([`crate::trial::launch`]) writes what its sandbox reads, starts it and removes it.
//! Everything else is here, once: the case's runsc flags and the host checked, the scratch
//! directory, dockerd's readiness through the pinned socket, the workload probes, the
//! teardown and its leak check (the host cgroups a `host-bind-rw` case made included), and
//! the outcome with its diagnosis.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::inventory::Inventory;
use crate::trial::classify::Catalogue;
use crate::trial::launch::LauncherRuns;
use crate::trial::launch::registry::registration;
use crate::trial::launch::sandbox::{DynLaunch, Ended, LaunchError, Refusal, RefusalKind, Start};
use crate::trial::launch::scratch::{Leftovers, TrialDir, leak_check};
use crate::trial::observe::{self, Readiness, runsc_log_errors};
use crate::trial::outcome::{Outcome, Verdict};
use crate::trial::plan::Trial;

/// How many lines of output an outcome keeps for the report.
const TAIL_LINES: usize = 15;

/// What every trial of a run shares.
#[derive(Debug, Clone)]
pub struct RunContext {
    pub home: PathBuf,
    pub inventory: Inventory,
    /// Keep each trial's scratch directory (processes are ended all the same).
    pub keep_scratch: bool,
    /// Readiness only: no workload probes after a trial is ready.
    pub no_probes: bool,
    /// Each launcher's run-wide part (the outer engine that trials of the engine launcher
    /// run through), prepared for the run's trials.
    pub launchers: Arc<LauncherRuns>,
}

/// A trial that could not be attempted: a problem of this host or of the harness, not an
/// outcome of the case.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error(transparent)]
    Launch(#[from] LaunchError),
    #[error("failed to prepare the scratch directory: {0}")]
    Scratch(#[from] std::io::Error),
    #[error(
        "runsc binary {0} is not an executable file: check its mode, or rerun scripts/setup-host"
    )]
    RunscNotExecutable(PathBuf),
    #[error(
        "root filesystem `{name}` is in the inventory but {path} has no dockerd: rerun scripts/setup-host"
    )]
    RootfsGone { name: String, path: PathBuf },
    #[error(
        "the sandbox was killed from outside the harness (SIGKILL, no exit recorded by gVisor)"
    )]
    SandboxKilled,
    /// The case asks for something a case may never do (see `docs/security.md`). Case files
    /// are checked when they are loaded; this catches a case built some other way.
    #[error("refused: {0}")]
    Refused(String),
}

/// The decisive line's start when the harness refused the socket the sandbox left.
pub const SOCKET_REFUSED_MARKER: &str = "dindcheck: socket refused";

/// The decisive line's start when the kernel's OOM killer ended the sandbox at its own memory
/// limit: the case used all the memory a sandbox has, which is its outcome, not the host's
/// fault (the catalogue's `sandbox-out-of-memory`).
pub const OUT_OF_MEMORY_MARKER: &str = "dindcheck: sandbox out of memory";

/// The result of one trial, and what its cleanup had to end.
#[derive(Debug)]
pub struct TrialResult {
    pub outcome: Outcome,
    /// Processes or containers that were still running when the trial was torn down (they
    /// were ended; a non-empty list after a clean `delete` would be a runsc leak).
    pub leftovers: Leftovers,
    /// What was still there after the teardown (should always be empty; the outcome says
    /// so too).
    pub leaks: Vec<String>,
}

impl TrialResult {
    /// An outcome an earlier run measured (nothing was started, so nothing was left).
    pub fn reused(outcome: Outcome) -> TrialResult {
        TrialResult {
            outcome,
            leftovers: Leftovers::default(),
            leaks: Vec::new(),
        }
    }
}

/// Launches `trial`, waits for dockerd's readiness (or its end, or the timeout), runs the
/// probes, and removes everything it started before returning.
pub async fn run_trial(trial: &Trial, ctx: &RunContext) -> Result<TrialResult, TrialError> {
    crate::case::runsc_flags::check_all(&trial.case.runsc.flags)
        .map_err(|r| TrialError::Refused(r.message))?;
    check_host(trial, ctx)?;
    // The one setting that lets a sandbox write a host resource: whatever cgroups it
    // creates in the host's tree go when the trial ends.
    let host_cgroups = (trial.case.cgroup == crate::case::CgroupMode::HostBindRw)
        .then(crate::trial::launch::cgroups::HostCgroups::snapshot);
    let result = match ctx.launchers.launch(trial, &ctx.inventory).await {
        Ok(launcher) => Flow { trial, ctx }.drive(launcher).await,
        Err(e) => Err(e.into()),
    };
    if let Some(before) = host_cgroups {
        for removed in before.remove_new() {
            tracing::warn!(
                "{}: removed cgroup {}, which the trial created in the host's tree",
                trial.name(),
                removed.display()
            );
        }
    }
    result
}

/// What this host must have for `trial` to say anything about its case: a runsc that can be
/// executed and, for a case on a root filesystem, that filesystem with its dockerd. Without
/// them the trial is not run (a host fault), instead of failing as if the case had.
fn check_host(trial: &Trial, ctx: &RunContext) -> Result<(), TrialError> {
    use std::os::unix::fs::PermissionsExt;
    let runsc = &trial.runtime.path;
    match std::fs::metadata(runsc) {
        Err(_) => return Err(LaunchError::MissingRunsc(runsc.clone()).into()),
        Ok(m) if !m.is_file() || m.permissions().mode() & 0o111 == 0 => {
            return Err(TrialError::RunscNotExecutable(runsc.clone()));
        }
        Ok(_) => {}
    }
    if (registration(trial.launcher).needs_rootfs)(trial) {
        let name = &trial.case.rootfs;
        if let Some(rootfs) = ctx.inventory.rootfs(name)
            && !rootfs.path.join("usr/sbin/dockerd").exists()
        {
            return Err(TrialError::RootfsGone {
                name: name.clone(),
                path: rootfs.path.clone(),
            });
        }
    }
    Ok(())
}

/// The trial flow, handed to whichever launcher runs the trial.
struct Flow<'a> {
    trial: &'a Trial,
    ctx: &'a RunContext,
}

impl Flow<'_> {
    async fn drive(self, mut launcher: Box<dyn DynLaunch + '_>) -> Result<TrialResult, TrialError> {
        let Flow { trial, ctx } = self;
        let trial_started = std::time::Instant::now();
        let mut dir = TrialDir::create(&ctx.home, &trial.runtime.path, &trial.name())?;
        if ctx.keep_scratch {
            dir.keep();
        }
        launcher.write(trial, &dir)?;
        let timeout = Duration::from_secs(trial.case.timeout_secs());
        // The launch instant on the wall clock, to place dockerd's own log timestamps.
        let mut launched_at = None;
        let mut prepare_ms = 0;
        let mut ended_ms = None;
        let waited = match launcher.start(trial, &dir, timeout).await {
            Start::Running {
                started,
                deadline,
                exited,
            } => {
                prepare_ms = started.saturating_duration_since(trial_started).as_millis() as u64;
                let waited = observe::wait_ready(dir.socket(), started, deadline, exited).await;
                ended_ms = Some(started.elapsed().as_millis() as u64);
                launched_at = std::time::SystemTime::now().checked_sub(started.elapsed());
                Ok(waited)
            }
            other => Err(other),
        };
        let mut out_of_memory = false;
        let waited = match waited {
            Ok(Readiness::Exited(Ended::KilledFromOutside)) => {
                // The memory cgroup says whether it was its own limit (docs/host-facts.md,
                // "Teardown"); read before the teardown removes it. At its own limit, the
                // case used up what every sandbox has: the case's outcome. Otherwise
                // something on the host killed it: not the case's.
                match crate::trial::launch::cgroups::oom_kills(&dir.id()) {
                    0 => return Err(TrialError::SandboxKilled),
                    _ => {
                        out_of_memory = true;
                        Ok(Readiness::Exited(None))
                    }
                }
            }
            Ok(Readiness::Exited(Ended::Status(code))) => Ok(Readiness::Exited(code)),
            Ok(Readiness::Ready { ms, info }) => Ok(Readiness::Ready { ms, info }),
            Ok(Readiness::Timeout) => Ok(Readiness::Timeout),
            Ok(Readiness::Refused(reason)) => Ok(Readiness::Refused(reason)),
            Err(start) => Err(start),
        };
        // Workloads run while the sandbox is still up, before anything is read or torn down,
        // so that dockerd's errors during the probes land in the output read below.
        let probes_started = std::time::Instant::now();
        let probes = match &waited {
            Ok(Readiness::Ready { .. }) if !ctx.no_probes => {
                let image = ctx.inventory.images.busybox.as_deref();
                let selected = trial.case.selected_probes();
                crate::trial::probe::run_pinned(&selected, dir.socket(), image, launcher.uplink())
                    .await
            }
            _ => Vec::new(),
        };
        let probes_ms = probes_started.elapsed().as_millis() as u64;
        let teardown_started = std::time::Instant::now();
        let output = launcher.output(&dir).await;
        let log_errors = runsc_log_errors(&dir.logs());

        let mut leftovers = launcher.remove(trial).await;
        // Ending processes, unmounting and removing files block: off the async workers, so
        // that another trial's readiness is not seen late while this one tears down.
        let (scratch, mut leaks) = tokio::task::spawn_blocking(move || {
            let root = dir.root().to_path_buf();
            let scratch = dir.close();
            (scratch, leak_check(&root))
        })
        .await
        .expect("the scratch teardown does not panic");
        leftovers.containers.extend(scratch.containers);
        leftovers.processes.extend(scratch.processes);
        if ctx.keep_scratch {
            leaks.retain(|l| !l.starts_with("directory"));
        }
        leaks.extend(launcher.leaks());

        let mut outcome = initial_outcome(trial, &output, probes);
        match waited {
            Ok(waited) if out_of_memory => {
                settle(&mut outcome, waited, &output);
                let line = format!(
                    "{OUT_OF_MEMORY_MARKER}: the sandbox reached its memory limit ({} MiB) and the kernel's OOM killer ended it",
                    crate::trial::launch::bundle::SANDBOX_MEMORY_BYTES / (1024 * 1024)
                );
                outcome.decisive = Some(line.clone());
                outcome.error_lines.push(line);
            }
            Ok(waited) => settle(&mut outcome, waited, &output),
            Err(Start::Hung {
                explanation: Some(line),
            }) => {
                // The launcher itself never returned: say so, and keep what runsc's debug
                // logs hold.
                outcome.verdict = Verdict::Timeout;
                outcome.decisive = Some(line);
                outcome.error_lines.extend(log_errors);
            }
            Err(Start::Hung { explanation: None }) => {
                settle(&mut outcome, Readiness::Timeout, &output)
            }
            Err(Start::Refused(refusal)) => refused(&mut outcome, refusal, log_errors),
            Err(Start::Running { .. }) => unreachable!("a running sandbox was waited for"),
        }
        if let Some(fault) = launcher.host_fault() {
            return Err(fault.into());
        }
        outcome.leaks = leaks.clone();
        outcome.classify(Catalogue::builtin());
        let served_ms = launched_at.and_then(|at| observe::served_after(&output, at));
        outcome.timing = Some(crate::trial::outcome::Timing {
            wall_ms: trial_started.elapsed().as_millis() as u64,
            prepare_ms,
            waited_ms: ended_ms,
            served_ms,
            detection_ms: outcome
                .ready_ms
                .zip(served_ms)
                .map(|(ready, served)| ready as i64 - served as i64),
            probes_ms,
            teardown_ms: teardown_started.elapsed().as_millis() as u64,
        });
        Ok(TrialResult {
            outcome,
            leftovers,
            leaks,
        })
    }
}

/// An outcome with everything known before its verdict: the trial's names, the network
/// used, the error lines and tail of `output`, and the probes.
fn initial_outcome(
    trial: &Trial,
    output: &str,
    probes: Vec<crate::trial::probe::ProbeResult>,
) -> Outcome {
    Outcome {
        trial: trial.name(),
        case: trial.case.name.clone(),
        runtime: trial.runtime.name.clone(),
        launcher: trial.launcher,
        network: trial.network,
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
        leaks: Vec::new(),
        timing: None,
        digest: None,
        reused: None,
    }
}

/// Sets the verdict of a trial whose readiness wait ended as `waited`.
fn settle(outcome: &mut Outcome, waited: Readiness<Option<i32>>, output: &str) {
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
        Readiness::Refused(reason) => {
            // The sandbox put something else than dockerd's socket where the harness
            // connects: the trial cannot be observed, whatever dockerd does.
            outcome.verdict = Verdict::LaunchFailed;
            outcome.decisive = Some(format!("{SOCKET_REFUSED_MARKER}: {reason}"));
        }
    }
}

/// Sets the verdict of a trial whose launcher refused to start it: the refusal explains it,
/// or for runsc, the cause its debug logs hold behind a generic message.
fn refused(outcome: &mut Outcome, refusal: Refusal, log_errors: Vec<String>) {
    outcome.verdict = Verdict::LaunchFailed;
    outcome.exit_code = refusal.status;
    match refusal.kind {
        RefusalKind::Message => {
            let line = observe::normalise(&refusal.message);
            outcome.decisive = Some(line.clone());
            outcome.error_lines.push(line);
        }
        RefusalKind::Output => {
            let mut lines: Vec<String> = refusal
                .message
                .lines()
                .filter(|l| !l.trim().is_empty())
                .map(observe::normalise)
                .collect();
            // runsc's debug logs often hold the cause behind the generic message that
            // `create` printed ("waiting for sandbox to start: EOF"): prefer it.
            let cause = log_errors.iter().find(|e| {
                let bare = e.trim_start_matches("FATAL ERROR: ");
                !lines
                    .iter()
                    .any(|l| l.contains(bare) || bare.contains(l.as_str()))
            });
            // runsc that refuses its command line prints Go's flag error, then its whole
            // usage: the error is the line that says why.
            let flag_error = lines
                .iter()
                .find(|l| l.starts_with("flag provided but not defined"));
            outcome.decisive = cause
                .or(flag_error)
                .or(lines.last())
                .or(log_errors.first())
                .cloned();
            lines.extend(log_errors);
            lines.dedup();
            outcome.error_lines = lines;
            outcome.log_tail = observe::tail(&refusal.message, TAIL_LINES);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(output: &str) -> Outcome {
        let mut o = serde_json::from_value::<Outcome>(serde_json::json!({
            "trial": "c::oci::r", "case": "c", "runtime": "r", "launcher": "oci",
            "network": "none", "network_substituted": false, "verdict": "timeout",
            "ready_ms": null, "exit_code": null, "decisive": null,
            "error_lines": [], "log_tail": [],
        }))
        .unwrap();
        o.error_lines = observe::error_lines(output);
        o
    }

    #[test]
    fn runscs_refusal_is_explained_by_the_cause_in_its_debug_logs() {
        let mut o = outcome("");
        let refusal = Refusal {
            message: "creating container: waiting for sandbox to start: EOF\n".into(),
            status: Some(128),
            kind: RefusalKind::Output,
        };
        let logs = vec!["FATAL ERROR: unknown capability \"CAP_BPF\"".to_string()];
        refused(&mut o, refusal, logs);
        assert_eq!(o.verdict, Verdict::LaunchFailed);
        assert_eq!(o.exit_code, Some(128));
        assert_eq!(
            o.decisive.as_deref(),
            Some("FATAL ERROR: unknown capability \"CAP_BPF\"")
        );
        assert_eq!(o.error_lines.len(), 2);
        assert_eq!(o.log_tail.len(), 1);
    }

    #[test]
    fn a_runsc_that_refuses_an_unknown_flag_is_explained_by_that_flag_not_its_usage() {
        let mut o = outcome("");
        let refusal = Refusal {
            // What runsc 20260905 printed for a case with the older packet-write flag.
            message: "flag provided but not defined: -TESTONLY-allow-packet-endpoint-write\n\
                      Usage: runsc <flags> <subcommand> <subcommand args>\n\n\
                      Use \"runsc flags\" for a list of top-level flags\n"
                .into(),
            status: Some(2),
            kind: RefusalKind::Output,
        };
        refused(&mut o, refusal, Vec::new());
        assert_eq!(
            o.decisive.as_deref(),
            Some("flag provided but not defined: -TESTONLY-allow-packet-endpoint-write")
        );
    }

    #[test]
    fn the_engines_refusal_is_one_line_beside_what_the_sandbox_printed() {
        let mut o = outcome("level=error msg=\"x\"\n");
        let refusal = Refusal {
            message: "OCI runtime start failed:\n  cannot start".into(),
            status: None,
            kind: RefusalKind::Message,
        };
        refused(&mut o, refusal, Vec::new());
        assert_eq!(
            o.decisive.as_deref(),
            Some("OCI runtime start failed: cannot start")
        );
        assert_eq!(o.error_lines.len(), 2);
        assert_eq!(o.exit_code, None);
    }

    #[test]
    fn a_refused_socket_is_a_launch_failure_that_says_so() {
        let mut o = outcome("");
        settle(&mut o, Readiness::Refused("a symbolic link".into()), "");
        assert_eq!(o.verdict, Verdict::LaunchFailed);
        assert!(o.decisive.unwrap().starts_with(SOCKET_REFUSED_MARKER));
    }
}
