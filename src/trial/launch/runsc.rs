//! runsc command lines, put together in one place: a binary with the global flags of one
//! state directory ([`Runsc`]), for a trial's `create`, `start` and `wait`, doctor's probe
//! sandboxes (`run`), and the teardown's `list`, `kill` and `delete`. The flags themselves
//! come from [`GlobalFlags`].

use std::path::{Path, PathBuf};
use std::process::Stdio;

use tokio::process::{Child, Command};

use super::flags::GlobalFlags;
use crate::trial::plan::Trial;

/// A runsc binary with the global flags of one state directory.
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
    /// `path` with `flags`, its own `--root` (`state`) and debug logs under `logs`: a sandbox
    /// this process starts (a trial's, a doctor probe's).
    pub fn with_state(path: &Path, flags: &GlobalFlags, state: &Path, logs: &Path) -> Runsc {
        Runsc {
            path: path.to_path_buf(),
            global: flags.with_state(state, logs),
        }
    }

    /// A trial's sandbox under its scratch directory's `state` and `logs`.
    pub fn for_trial(trial: &Trial, state: &Path, logs: &Path) -> Runsc {
        Runsc::with_state(
            &trial.runtime.path,
            &GlobalFlags::for_trial(trial),
            state,
            logs,
        )
    }

    /// `path` with `--root=<state>` alone: what listing and ending the containers of a state
    /// directory needs (the teardown, whoever started them).
    pub fn at_root(path: &Path, state: &Path) -> Runsc {
        Runsc {
            path: path.to_path_buf(),
            global: vec![format!("--root={}", state.display())],
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

    /// The subcommand `sub` with the global flags, its stdin empty, killed if dropped.
    pub fn command(&self, sub: &[&str]) -> Command {
        let mut c = Command::new(&self.path);
        c.args(&self.global)
            .args(sub)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// The subcommand `sub` with the global flags, run to its end outside an async context
    /// (a scratch directory's teardown runs in `Drop`).
    pub fn blocking_command(&self, sub: &[&str]) -> std::process::Command {
        let mut c = std::process::Command::new(&self.path);
        c.args(&self.global).args(sub).stdin(Stdio::null());
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
    let dir = std::fs::read_dir(logs).ok()?;
    dir.filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".boot.txt"))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .find_map(|text| text.lines().filter_map(exit_status_in).next_back())
}

/// The status in gVisor's boot log line that records the application's exit.
fn exit_status_in(line: &str) -> Option<i32> {
    static RE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"application exiting with exit status (\d+)").unwrap()
    });
    RE.captures(line)?[1].parse().ok()
}

/// Resolves with the application's exit status as soon as the sandbox's boot log (in
/// `logs`, runsc's `--debug-log` directory) records it; never, if it does not, or if the
/// directory cannot be watched.
///
/// `runsc wait` returns the same status, but only a second or more after the sandbox wrote
/// it (docs/host-facts.md, "Teardown"): an exited trial's verdict is known from this event
/// instead. The log is read as it grows (inotify on the directory), from where the last
/// read stopped.
pub async fn boot_log_exit(logs: std::path::PathBuf) -> i32 {
    use rustix::fs::inotify::WatchFlags;
    let Ok(watch) =
        crate::trial::launch::watch::DirWatch::new(&logs, WatchFlags::CREATE | WatchFlags::MODIFY)
    else {
        return std::future::pending().await;
    };
    let mut read = BootLogReader::default();
    loop {
        if let Some(status) = read.exit_status(&logs) {
            return status;
        }
        if watch.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// Reads a sandbox's boot log incrementally, whole lines only.
#[derive(Default)]
struct BootLogReader {
    file: Option<std::fs::File>,
    partial: Vec<u8>,
}

impl BootLogReader {
    fn exit_status(&mut self, logs: &Path) -> Option<i32> {
        use std::io::Read;
        if self.file.is_none() {
            let boot = std::fs::read_dir(logs)
                .ok()?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.to_string_lossy().ends_with(".boot.txt"))?;
            self.file = std::fs::File::open(boot).ok();
        }
        let file = self.file.as_mut()?;
        let mut chunk = Vec::new();
        file.read_to_end(&mut chunk).ok()?;
        self.partial.extend_from_slice(&chunk);
        let complete = self.partial.iter().rposition(|b| *b == b'\n')? + 1;
        let lines: Vec<u8> = self.partial.drain(..complete).collect();
        String::from_utf8_lossy(&lines)
            .lines()
            .find_map(exit_status_in)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Doctor's probe, a trial and the teardown get their command lines from one builder:
    /// the probe's is what it was when doctor put it together itself.
    #[test]
    fn the_command_lines_of_a_probe_and_of_a_teardown() {
        let probe = Runsc::with_state(
            Path::new("/r/runsc"),
            &GlobalFlags::isolated(),
            Path::new("/s"),
            Path::new("/l"),
        );
        assert_eq!(
            probe.command_line(&["run", "--bundle", "/b", "id"]),
            "/r/runsc --root=/s --debug --debug-log=/l/ --overlay2=root:memory --network=none \
             run --bundle /b id"
        );
        let teardown = Runsc::at_root(Path::new("/r/runsc"), Path::new("/s"));
        assert_eq!(
            teardown.command_line(&["kill", "--all", "id", "KILL"]),
            "/r/runsc --root=/s kill --all id KILL"
        );
        let c = teardown.blocking_command(&["list", "--quiet"]);
        assert_eq!(c.get_program(), "/r/runsc");
        let args: Vec<_> = c.get_args().collect();
        assert_eq!(args, ["--root=/s", "list", "--quiet"]);
        let c = probe.command(&["start", "id"]);
        let args: Vec<_> = c.as_std().get_args().collect();
        assert_eq!(args.last().unwrap(), &"id");
        assert_eq!(args.len(), 7);
    }

    #[test]
    fn the_boot_logs_exit_line_is_found_as_the_log_grows() {
        let logs = tempfile::tempdir().unwrap();
        let boot = logs
            .path()
            .join("runsc.log.20261202-061555.446046.boot.txt");
        let mut reader = BootLogReader::default();
        assert_eq!(reader.exit_status(logs.path()), None);
        std::fs::write(&boot, "I1202 boot.go:534] application exiting with exit st").unwrap();
        assert_eq!(
            reader.exit_status(logs.path()),
            None,
            "half a line is not read"
        );
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&boot)
            .unwrap();
        f.write_all(b"atus 1\nI1202 main.go:222] Exiting with status: 256\n")
            .unwrap();
        assert_eq!(reader.exit_status(logs.path()), Some(1));
        assert_eq!(exit_status_from_logs(logs.path()), Some(1));
    }

    #[tokio::test]
    async fn the_exit_is_an_event_not_a_poll() {
        let logs = tempfile::tempdir().unwrap();
        let boot = logs.path().join("runsc.log.x.boot.txt");
        let writer = {
            let boot = boot.clone();
            async move {
                tokio::task::yield_now().await;
                std::fs::write(&boot, "D1202 starting\n").unwrap();
                tokio::task::yield_now().await;
                std::fs::write(
                    &boot,
                    "D1202 starting\nI1202 application exiting with exit status 7\n",
                )
                .unwrap();
            }
        };
        let (status, ()) = tokio::join!(
            tokio::time::timeout(
                std::time::Duration::from_secs(10),
                boot_log_exit(logs.path().to_path_buf())
            ),
            writer
        );
        assert_eq!(status.ok(), Some(7));
    }
}
