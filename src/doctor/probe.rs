//! One short-lived sandbox for a check: a small OCI bundle on a root filesystem, run with
//! `runsc run` under a hard timeout, in its own [`TrialDir`] so that whatever it started is
//! killed and deleted however it ends.
//!
//! `runsc run` of a bundle rather than `runsc do`: `do` silently falls back to host
//! networking, which would hide the very failure the network check looks for.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use oci_spec::runtime::{Capability, Spec};
use tokio::process::Child;

use super::facts;
use crate::case::CgroupMode;
use crate::trial::launch::flags::GlobalFlags;
use crate::trial::launch::runsc::Runsc;
use crate::trial::launch::scratch::{self, Leftovers, TrialDir};
use crate::trial::launch::spec::{SandboxSpec, config_json};
use crate::trial::observe::runsc_log_errors;

/// The first line every probe prints: seen in the output, the sandbox ran its process.
pub const STARTED_MARKER: &str = "dindcheck-doctor: started";

/// One sandbox to run.
#[derive(Clone, Debug)]
pub struct Probe {
    pub runsc: PathBuf,
    pub rootfs: PathBuf,
    /// runsc's global flags: no networking, no host sockets and the default platform unless
    /// the check is about one of them.
    pub flags: GlobalFlags,
    /// Give the spec a `cgroup` mount at `/sys/fs/cgroup`, as Docker's specs have.
    pub cgroup_mount: bool,
    /// Shell commands run after the started marker, with stderr joined to stdout.
    pub script: String,
    pub timeout: Duration,
    /// Names the scratch directory's owner, for a later run that must clean up after us.
    pub label: String,
}

/// How a probe's `runsc run` ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ending {
    /// `runsc run` exited with this status (the container's, or runsc's own when it failed).
    Exited(Option<i32>),
    /// Still running at the timeout: killed and deleted.
    Hung,
    /// The probe could not even be launched (scratch directory, bundle, exec of runsc).
    NotLaunched(String),
}

/// What a probe saw.
#[derive(Clone, Debug)]
pub struct ProbeRun {
    /// The runsc command line, as a user could rerun it.
    pub command: String,
    pub ending: Ending,
    pub elapsed: Duration,
    pub output: String,
    /// runsc's own error lines from its debug logs.
    pub log_errors: Vec<String>,
    /// The last line of the sandbox's boot log: where a hung sandbox stopped.
    pub boot_tail: Option<String>,
    /// What the cleanup had to end.
    pub leftovers: Leftovers,
    /// What was still there after the cleanup (always empty unless cleanup failed).
    pub leaks: Vec<String>,
}

impl ProbeRun {
    /// Whether the sandbox ran its process.
    pub fn started(&self) -> bool {
        self.output.lines().any(|l| l.trim() == STARTED_MARKER)
    }

    /// The line that best says why the sandbox did not start (or why the probe ended).
    pub fn reason(&self) -> String {
        match &self.ending {
            Ending::NotLaunched(e) => return e.clone(),
            Ending::Hung => {
                return format!("no exit within {} s", self.elapsed.as_secs());
            }
            Ending::Exited(_) => {}
        }
        let last = self
            .output
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty() && *l != STARTED_MARKER)
            .map(str::to_string);
        last.or_else(|| self.log_errors.last().cloned())
            .unwrap_or_else(|| "no output".into())
    }

    /// Evidence lines: the command, how it ended, and the cleanup.
    pub fn evidence(&self) -> Vec<String> {
        let mut v = vec![format!("$ {}", self.command)];
        match &self.ending {
            Ending::Exited(code) => v.push(format!(
                "exited {} after {:.2} s",
                code.map_or("by a signal".to_string(), |c| format!("with status {c}")),
                self.elapsed.as_secs_f64()
            )),
            Ending::Hung => {
                v.push(format!(
                    "still running after {:.1} s: killed",
                    self.elapsed.as_secs_f64()
                ));
                if let Some(t) = &self.boot_tail {
                    v.push(format!("last boot log line: {t}"));
                }
                if self.leaks.is_empty() {
                    v.push(
                        "the sandbox was killed and deleted: no process or directory left".into(),
                    );
                }
            }
            Ending::NotLaunched(e) => v.push(format!("not launched: {e}")),
        }
        v.extend(
            self.output
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take(24)
                .map(|l| format!("| {l}")),
        );
        if !self.started() {
            v.extend(
                self.log_errors
                    .iter()
                    .take(5)
                    .map(|l| format!("runsc log: {}", facts::shorten(l, 300))),
            );
        }
        if !self.leftovers.is_empty() {
            v.push(format!(
                "cleanup ended {} container(s) and {} process(es)",
                self.leftovers.containers.len(),
                self.leftovers.processes.len()
            ));
        }
        for l in &self.leaks {
            v.push(format!("LEAK after cleanup: {l}"));
        }
        v
    }
}

impl Probe {
    /// A probe with the default platform, no networking and no cgroup mount.
    pub fn new(runsc: &Path, rootfs: &Path, label: &str, script: &str) -> Probe {
        Probe {
            runsc: runsc.to_path_buf(),
            rootfs: rootfs.to_path_buf(),
            flags: GlobalFlags::isolated(),
            cgroup_mount: false,
            script: script.to_string(),
            timeout: Duration::from_secs(10),
            label: label.to_string(),
        }
    }

    /// Starts the sandbox; [`Launched::finish`] waits for it and removes it.
    pub async fn launch(&self, home: &Path) -> Result<Launched, ProbeRun> {
        let started = Instant::now();
        let not_launched = |e: String| ProbeRun {
            command: format!("{} run", self.runsc.display()),
            ending: Ending::NotLaunched(e),
            elapsed: started.elapsed(),
            output: String::new(),
            log_errors: Vec::new(),
            boot_tail: None,
            leftovers: Leftovers::default(),
            leaks: Vec::new(),
        };
        let dir = TrialDir::create(home, &self.runsc, &format!("doctor {}", self.label))
            .map_err(|e| not_launched(format!("failed to create a scratch directory: {e}")))?;
        let root = dir
            .rootfs_view(&self.rootfs)
            .map_err(|e| not_launched(e.to_string()))?;
        let spec = self
            .spec(&dir.io(), &root)
            .map_err(|e| not_launched(e.to_string()))?;
        std::fs::write(dir.bundle().join("config.json"), config_json(&spec))
            .map_err(|e| not_launched(format!("failed to write config.json: {e}")))?;
        // runsc 20221219 names its control socket after the container id in the abstract
        // namespace: ids must be unique on the host, as the scratch directory's name is.
        let id = format!("dindcheck-doctor-{}", dir.id());
        let bundle_dir = dir.bundle().display().to_string();
        let runsc = Runsc::with_state(&self.runsc, &self.flags, &dir.state(), &dir.logs());
        let run = ["run", "--bundle", &bundle_dir, &id];
        let command = runsc.command_line(&run);
        let out = std::fs::File::create(dir.output())
            .map_err(|e| not_launched(format!("failed to create output.log: {e}")))?;
        let err = out
            .try_clone()
            .map_err(|e| not_launched(format!("failed to create output.log: {e}")))?;
        let child = runsc
            .command(&run)
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| not_launched(format!("failed to run {}: {e}", self.runsc.display())))?;
        Ok(Launched {
            dir: Some(dir),
            child,
            started,
            command,
            timeout: self.timeout,
        })
    }

    /// Launches, waits, removes: the whole probe.
    pub async fn run(&self, home: &Path) -> ProbeRun {
        match self.launch(home).await {
            Ok(l) => l.finish().await,
            Err(r) => r,
        }
    }

    fn spec(&self, io_dir: &Path, root: &Path) -> Result<Spec, oci_spec::OciSpecError> {
        let script = format!("exec 2>&1\necho '{STARTED_MARKER}'\n{}", self.script);
        SandboxSpec {
            network_namespace: None,
            hostname: "dindcheck-doctor",
            // Writes stay in memory, mount points in the trial's overlay view of the rootfs:
            // the rootfs is shared and never changes.
            rootfs: root,
            io_dir,
            args: vec!["/bin/sh".to_string(), "-c".to_string(), script],
            env: Vec::new(),
            // Enough to mount cgroup controllers by hand; the checks need nothing else.
            capabilities: [
                Capability::SysAdmin,
                Capability::DacOverride,
                Capability::Chown,
                Capability::Fowner,
                Capability::Mknod,
            ]
            .into_iter()
            .collect(),
            cgroup: if self.cgroup_mount {
                CgroupMode::Gvisor
            } else {
                CgroupMode::None
            },
            cgroup_namespace: false,
            open_files: None,
            no_new_privileges: None,
            mounts: Vec::new(),
            devices: None,
            memory_limit: None,
        }
        .build()
    }
}

/// A probe's sandbox, running.
pub struct Launched {
    dir: Option<TrialDir>,
    child: Child,
    started: Instant,
    command: String,
    timeout: Duration,
}

impl Launched {
    /// The io directory, bind-mounted at [`crate::trial::launch::IO_DIR_IN_SANDBOX`].
    pub fn io(&self) -> PathBuf {
        self.dir.as_ref().map(|d| d.io()).unwrap_or_default()
    }

    /// The time left before the probe's timeout.
    pub fn remaining(&self) -> Duration {
        self.timeout.saturating_sub(self.started.elapsed())
    }

    /// Waits for `runsc run` to exit, or kills it at the timeout; then kills and deletes
    /// whatever is left and removes the scratch directory.
    pub async fn finish(mut self) -> ProbeRun {
        let ending = match tokio::time::timeout(self.remaining(), self.child.wait()).await {
            Ok(Ok(status)) => Ending::Exited(status.code()),
            Ok(Err(e)) => Ending::NotLaunched(format!("failed to wait for runsc: {e}")),
            Err(_) => {
                let _ = self.child.start_kill();
                let _ = tokio::time::timeout(Duration::from_secs(2), self.child.wait()).await;
                Ending::Hung
            }
        };
        let elapsed = self.started.elapsed();
        let dir = self.dir.take().expect("finish runs once");
        let output = std::fs::read_to_string(dir.output()).unwrap_or_default();
        let log_errors = runsc_log_errors(&dir.logs());
        let boot_tail = last_boot_line(&dir.logs());
        let root = dir.root().to_path_buf();
        // Cleanup runs runsc and sleeps between checks: keep it off the async workers.
        let (leftovers, leaks) = tokio::task::spawn_blocking(move || {
            let leftovers = dir.close();
            (leftovers, scratch::leak_check(&root))
        })
        .await
        .unwrap_or_default();
        ProbeRun {
            command: self.command.clone(),
            ending,
            elapsed,
            output,
            log_errors,
            boot_tail,
            leftovers,
            leaks,
        }
    }
}

/// The last line of the sandbox's boot log, without runsc's log prefix.
fn last_boot_line(logs: &Path) -> Option<String> {
    let entries = std::fs::read_dir(logs).ok()?;
    let boot = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(".boot.txt"))?;
    let text = std::fs::read_to_string(boot).ok()?;
    let line = text.lines().rfind(|l| !l.trim().is_empty())?;
    Some(line.split_once("] ").map_or(line, |(_, m)| m).to_string())
}
