//! Driving one runsc binary for one trial: `create`, `start` and `wait`, each with the
//! global flags the trial needs.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::flags::GlobalFlags;
use super::scratch::TrialDir;
use crate::plan::Trial;

/// A runsc binary with a trial's global flags.
#[derive(Debug, Clone)]
pub struct Runsc {
    path: PathBuf,
    global: Vec<String>,
}

/// What a runsc subcommand printed when it failed.
#[derive(Debug, Clone)]
pub struct RunscFailure {
    pub command: String,
    pub status: Option<i32>,
    pub output: String,
}

impl Runsc {
    pub fn for_trial(trial: &Trial, dir: &TrialDir) -> Runsc {
        Runsc {
            path: trial.runtime.path.clone(),
            global: GlobalFlags::for_trial(trial).with_state(&dir.state(), &dir.logs()),
        }
    }

    /// The full command line, for the report and for a user who wants to rerun it by hand.
    pub fn command_line(&self, sub: &[&str]) -> String {
        std::iter::once(self.path.display().to_string())
            .chain(self.global.iter().cloned())
            .chain(sub.iter().map(|s| s.to_string()))
            .collect::<Vec<_>>()
            .join(" ")
    }

    fn command(&self, sub: &[&str]) -> Command {
        let mut c = Command::new(&self.path);
        c.args(&self.global)
            .args(sub)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// `runsc create`: the sandbox's process inherits this command's stdout and stderr, so
    /// both go to `output`, where the container's own output follows later.
    pub async fn create(&self, id: &str, bundle: &Path, output: &Path) -> Result<(), RunscFailure> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(output)
            .map_err(|e| self.failure("create", None, e.to_string()))?;
        let err = file
            .try_clone()
            .map_err(|e| self.failure("create", None, e.to_string()))?;
        let bundle = bundle.display().to_string();
        let status = self
            .command(&["create", "--bundle", &bundle, id])
            .stdout(file)
            .stderr(err)
            .status()
            .await
            .map_err(|e| self.failure("create", None, e.to_string()))?;
        if status.success() {
            Ok(())
        } else {
            let text = std::fs::read_to_string(output).unwrap_or_default();
            Err(self.failure("create", status.code(), text))
        }
    }

    /// `runsc start`: its own output is captured separately from the container's.
    pub async fn start(&self, id: &str) -> Result<(), RunscFailure> {
        let out = self
            .command(&["start", id])
            .output()
            .await
            .map_err(|e| self.failure("start", None, e.to_string()))?;
        if out.status.success() {
            Ok(())
        } else {
            let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
            text.push_str(&String::from_utf8_lossy(&out.stderr));
            Err(self.failure("start", out.status.code(), text))
        }
    }

    /// `runsc wait`: finishes when the container's process exits, printing its status.
    pub fn spawn_wait(&self, id: &str) -> std::io::Result<Child> {
        self.command(&["wait", id])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
    }

    fn failure(&self, sub: &str, status: Option<i32>, output: String) -> RunscFailure {
        RunscFailure {
            command: self.command_line(&[sub]),
            status,
            output,
        }
    }
}

/// The exit status in `runsc wait`'s output (`{"id":"…","exitStatus":N}`). runsc reports a
/// wait status: a signal death shows as 128 + signal.
pub fn parse_wait_status(stdout: &str) -> Option<i32> {
    let v: serde_json::Value = serde_json::from_str(stdout.trim()).ok()?;
    let raw = v.get("exitStatus")?.as_i64()? as i32;
    Some(if raw > 255 { raw >> 8 } else { raw })
}

/// The exit status of the sandbox's application, as its boot log records it
/// (`boot.go:…] application exiting with exit status N`).
pub fn exit_status_from_logs(logs: &Path) -> Option<i32> {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"application exiting with exit status (\d+)").unwrap()
    });
    let dir = std::fs::read_dir(logs).ok()?;
    dir.filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".boot.txt"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|text| {
            let c = RE.captures_iter(&text).last()?;
            c[1].parse().ok()
        })
}

impl std::fmt::Display for RunscFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "`{}` failed", self.command)?;
        if let Some(s) = self.status {
            write!(f, " (exit {s})")?;
        }
        Ok(())
    }
}
