//! A trial's scratch directory, and the cleanup of everything a trial started.
//!
//! Every trial gets `<home>/runs/<pid>-<n>/` (short, because dockerd's socket path inside it
//! must fit in a unix socket address): a tmpfs of its own, mode 0700, of at most
//! [`SCRATCH_BYTES`], so that nothing a sandbox writes there (dockerd's output, debug logs,
//! files in the io directory) can fill the host's disk, and nobody but root can reach the
//! nested dockerd's socket whatever group the root filesystem gives it (`docs/security.md`).
//! What the case itself can write (the io directory, the upper layer of its root filesystem)
//! is in tmpfs mounts of their own, of at most [`CASE_AREA_BYTES`] each: a case that fills
//! them cannot take the room of the harness's records (runsc's state and debug logs, where
//! gVisor records the application's exit; once a full io directory left none, and the trial
//! looked killed from outside). It holds:
//!
//! - `owner`: the harness pid, the runsc binary and the trial name, so that a later run can
//!   clean up after a harness that was killed ([`reap_stale`]);
//! - `state/`: the runsc `--root` of this trial alone;
//! - `bundle/`: `config.json`;
//! - `io/`: bind-mounted into the sandbox (entry script, `daemon.json`, dockerd's socket);
//! - `logs/`: runsc's debug logs;
//! - `output.log`: everything the sandbox's process printed.
//!
//! Dropping the [`TrialDir`] kills and deletes every runsc container under `state/`, ends any
//! process still running with that state directory, and removes the directory. A kept one
//! (`--keep-scratch`) is copied to `<home>/kept/<pid>-<n>/` first: never under `runs/`, where
//! the next run would reap it as left by a dead run.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, Ordering};

pub use super::cgroups::HostCgroups;
use super::cgroups::{reap_stale_cgroups, remove_cgroups};
use super::procs::alive;
pub use super::procs::{
    kill_processes_naming, processes_mentioning, processes_naming, still_running_after,
};
use super::runsc::Runsc;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// The size of a trial's scratch tmpfs: room for debug logs and output of a long trial,
/// small enough that two trials cannot fill a host's memory.
pub const SCRATCH_BYTES: u64 = 512 * 1024 * 1024;

/// The size of each area the case writes on the host (the io directory, its root
/// filesystem's upper layer): each a tmpfs of its own inside the scratch directory.
pub const CASE_AREA_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Debug)]
pub struct TrialDir {
    root: PathBuf,
    runsc: PathBuf,
    /// Set when the caller wants the directory kept for inspection.
    keep: bool,
    /// dockerd's socket in `io/`, found without following what the sandbox makes there.
    socket: crate::trial::launch::socket::DaemonSocket,
}

/// What cleaning up one scratch directory found still alive.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leftovers {
    pub containers: Vec<String>,
    pub processes: Vec<u32>,
}

impl Leftovers {
    pub fn is_empty(&self) -> bool {
        self.containers.is_empty() && self.processes.is_empty()
    }
}

impl TrialDir {
    pub fn create(home: &Path, runsc: &Path, trial_name: &str) -> std::io::Result<TrialDir> {
        let runs = home.join("runs");
        std::fs::create_dir_all(&runs)?;
        let id = format!(
            "{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let root = runs.join(id);
        // A directory left by an earlier process with the same pid is stale by definition.
        if root.exists() {
            cleanup(&root, runsc);
        }
        {
            use std::os::unix::fs::DirBuilderExt;
            std::fs::DirBuilder::new().mode(0o700).create(&root)?;
        }
        mount_tmpfs(&root, SCRATCH_BYTES, 0o700).inspect_err(|_| {
            let _ = std::fs::remove_dir(&root);
        })?;
        for sub in ["state", "bundle", "io", "logs"] {
            std::fs::create_dir_all(root.join(sub))?;
        }
        mount_tmpfs(&root.join("io"), CASE_AREA_BYTES, 0o755)?;
        std::fs::write(
            root.join("owner"),
            format!(
                "{}\n{}\n{}\n",
                std::process::id(),
                runsc.display(),
                trial_name
            ),
        )?;
        let socket =
            crate::trial::launch::socket::DaemonSocket::open(&root.join("io"), "docker.sock")?;
        Ok(TrialDir {
            root,
            runsc: runsc.to_path_buf(),
            keep: false,
            socket,
        })
    }

    /// `<pid>-<n>`: unique on this host while the process lives.
    pub fn id(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn state(&self) -> PathBuf {
        self.root.join("state")
    }
    pub fn bundle(&self) -> PathBuf {
        self.root.join("bundle")
    }
    pub fn io(&self) -> PathBuf {
        self.root.join("io")
    }
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn output(&self) -> PathBuf {
        self.root.join("output.log")
    }
    /// dockerd's socket in the io directory, as the host may reach it.
    pub fn socket(&self) -> &crate::trial::launch::socket::DaemonSocket {
        &self.socket
    }

    /// The trial's own view of the shared root filesystem `rootfs`: an overlayfs with
    /// `rootfs` as its read-only lower layer and an upper layer in this scratch directory,
    /// mounted at `rootfs/` here. runsc creates the mount points of the spec (its own
    /// `/run/dindcheck`, `/sys/fs/cgroup`, a case's destinations) as directories in the
    /// root it is given; in this view they land in the upper layer, and the shared root
    /// filesystem stays unchanged, directory for directory (`docs/security.md`). Unmounted
    /// with the scratch directory.
    pub fn rootfs_view(&self, rootfs: &Path) -> std::io::Result<PathBuf> {
        use rustix::mount::{MountFlags, mount};
        // overlayfs wants its upper and work directories on one filesystem: a tmpfs of the
        // case's own.
        let layer = self.root.join("rootfs-layer");
        std::fs::create_dir_all(&layer)?;
        mount_tmpfs(&layer, CASE_AREA_BYTES, 0o700)?;
        let (upper, work, merged) = (
            layer.join("upper"),
            layer.join("work"),
            self.root.join("rootfs"),
        );
        for d in [&upper, &work, &merged] {
            std::fs::create_dir_all(d)?;
        }
        // For `--keep-scratch`: which shared root filesystem the view was of, so that the
        // kept bundle can be run again by hand (and by scripts/bench's naive loop).
        std::fs::write(
            self.root.join("rootfs-lower"),
            rootfs.as_os_str().as_encoded_bytes(),
        )?;
        // overlayfs separates its options with `,` and layers with `:`.
        let lower = rootfs
            .to_str()
            .filter(|p| !p.contains([',', ':', '\\']))
            .ok_or_else(|| {
                std::io::Error::other(format!(
                    "root filesystem path {} cannot be an overlay layer (it has `,`, `:` or `\\`)",
                    rootfs.display()
                ))
            })?;
        let data = std::ffi::CString::new(format!(
            "lowerdir={lower},upperdir={},workdir={}",
            upper.display(),
            work.display()
        ))
        .map_err(std::io::Error::other)?;
        mount(
            "dindcheck-rootfs",
            &merged,
            "overlay",
            MountFlags::NOSUID | MountFlags::NODEV,
            Some(data.as_c_str()),
        )
        .map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!(
                    "cannot mount an overlay of {} for the trial: {e}",
                    rootfs.display()
                ),
            )
        })?;
        Ok(merged)
    }

    /// Keeps the directory (but still ends every process) when dropped.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Ends everything the trial started and removes its directory now, returning what was
    /// still running. Dropping does the same, silently.
    pub fn close(mut self) -> Leftovers {
        let found = self.end();
        self.root = PathBuf::new(); // already done; nothing for Drop
        found
    }

    /// Where [`keep`](Self::keep) copies the directory when the trial ends.
    pub fn kept_path(&self) -> PathBuf {
        kept_dir(&self.root)
    }

    fn end(&mut self) -> Leftovers {
        let t = std::time::Instant::now();
        let found = end_processes(&self.root, &self.runsc);
        let ended = t.elapsed();
        remove_cgroups(&self.id());
        if self.keep {
            let _ = copy_tree(&self.root, &kept_dir(&self.root));
        }
        remove(&self.root);
        tracing::debug!(
            "{}: processes ended in {ended:?}, scratch removed in {:?}",
            self.id(),
            t.elapsed() - ended
        );
        found
    }
}

impl Drop for TrialDir {
    fn drop(&mut self) {
        if self.root.as_os_str().is_empty() {
            return;
        }
        self.end();
    }
}

/// `<home>/kept/<id>` for the scratch directory `<home>/runs/<id>`.
fn kept_dir(root: &Path) -> PathBuf {
    let id = root.file_name().unwrap_or_default();
    root.parent()
        .and_then(Path::parent)
        .map(|home| home.join("kept").join(id))
        .unwrap_or_default()
}

/// Mounts a size-limited tmpfs at `path`: the scratch directory, or an area of the case's.
fn mount_tmpfs(path: &Path, bytes: u64, mode: u32) -> std::io::Result<()> {
    use rustix::mount::MountFlags;
    let data = std::ffi::CString::new(format!("size={bytes},mode={mode:o}"))
        .expect("no NUL in mount options");
    rustix::mount::mount(
        "dindcheck-scratch",
        path,
        "tmpfs",
        MountFlags::NOSUID | MountFlags::NODEV,
        Some(data.as_c_str()),
    )
    .map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!("cannot mount the scratch tmpfs on {}: {e}", path.display()),
        )
    })
}

/// Copies a trial's files (regular files, directories and symbolic links, never followed;
/// sockets and the like are left out) for `--keep-scratch`.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        } else if kind.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, &target)?;
        }
    }
    Ok(())
}

/// Ends everything under one scratch directory and removes it.
pub fn cleanup(root: &Path, runsc: &Path) -> Leftovers {
    let found = end_processes(root, runsc);
    if let Some(id) = root.file_name() {
        remove_cgroups(&id.to_string_lossy());
    }
    remove(root);
    found
}

/// Ends every process of the runsc containers whose state lives under `root`, returning
/// what survived the first kill.
///
/// The sandbox, its gofer and `runsc wait` all name the scratch directory on their command
/// lines (runsc passes its global flags, `--root` among them, to the processes it starts):
/// they are SIGKILLed and their ends awaited as events (see `kill_processes_naming`).
/// With them gone, nothing of the container is left outside the scratch directory but its
/// cgroups, which the caller removes; `runsc delete --force` would only spend a second or
/// more finding that out (docs/host-facts.md, "Teardown"). It is still asked to end its
/// containers when something survived the kill (a process that started meanwhile), and
/// what is left after that is reported.
fn end_processes(root: &Path, runsc: &Path) -> Leftovers {
    let needle = root.to_string_lossy();
    let mut found = Leftovers::default();
    kill_processes_naming(&needle, |_| {});
    if processes_naming(&needle).is_empty() {
        return found;
    }
    let state = root.join("state");
    if state.is_dir() {
        for id in runsc_containers(runsc, &state) {
            end_runsc_container(runsc, &state, &id);
            found.containers.push(id);
        }
    }
    kill_processes_naming(&needle, |pid| found.processes.push(pid));
    found
}

/// The ids of the containers that `runsc --root=<state>` knows; none when it cannot tell.
pub fn runsc_containers(runsc: &Path, state: &Path) -> Vec<String> {
    let out = Runsc::at_root(runsc, state)
        .blocking_command(&["list", "--quiet"])
        .stderr(Stdio::null())
        .output();
    out.map(|o| {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .map(str::to_string)
            .collect()
    })
    .unwrap_or_default()
}

/// `runsc kill --all <id> KILL`, then `runsc delete --force <id>`, under `--root=<state>`;
/// failures are ignored (the container may be gone already).
pub fn end_runsc_container(runsc: &Path, state: &Path, id: &str) {
    let runsc = Runsc::at_root(runsc, state);
    for sub in [
        &["kill", "--all", id, "KILL"][..],
        &["delete", "--force", id],
    ] {
        let _ = runsc
            .blocking_command(sub)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn remove(root: &Path) {
    unmount_below(root);
    let _ = std::fs::remove_dir_all(root);
}

/// Unmounts anything mounted below `root`, deepest first (nothing is, normally, under a
/// trial: runsc mounts inside its own namespaces; a killed dockerd can leave its containers'
/// mounts). A safety net so that `remove_dir_all` never walks into a mount.
pub fn unmount_below(root: &Path) {
    let mut points: Vec<PathBuf> = super::procfs::mount_points()
        .into_iter()
        .filter(|p| p.starts_with(root))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.as_os_str().len()));
    for p in points {
        let _ = rustix::mount::unmount(p, rustix::mount::UnmountFlags::DETACH);
    }
}

/// Ends and removes every scratch directory of this process: what a signal handler calls
/// when the process must stop before its trials could clean up after themselves.
pub fn cleanup_own(home: &Path) -> usize {
    let prefix = format!("{}-", std::process::id());
    let Ok(dir) = std::fs::read_dir(home.join("runs")) else {
        return 0;
    };
    let mut n = 0;
    for entry in dir.filter_map(Result::ok) {
        if !entry.file_name().to_string_lossy().starts_with(&prefix) {
            continue;
        }
        let path = entry.path();
        let owner = std::fs::read_to_string(path.join("owner")).unwrap_or_default();
        let runsc = owner.lines().nth(1).map(PathBuf::from).unwrap_or_default();
        cleanup(&path, &runsc);
        n += 1;
    }
    n
}

/// Problems left after a trial was torn down: processes still naming its scratch directory,
/// or the directory itself. Empty when the teardown was complete.
pub fn leak_check(root: &Path) -> Vec<String> {
    let mut leaks: Vec<String> = processes_naming(&root.to_string_lossy())
        .into_iter()
        .map(|pid| format!("process {pid} still running"))
        .collect();
    if root.exists() {
        leaks.push(format!("directory {} still exists", root.display()));
    }
    leaks
}

/// A scratch directory left by a harness process that is gone.
#[derive(Debug, Clone)]
pub struct Stale {
    pub dir: PathBuf,
    pub trial: String,
    pub leftovers: Leftovers,
}

/// Finds scratch directories under `<home>/runs` whose owner process is dead, ends what they
/// left running and removes them. Called at the start of every run.
pub fn reap_stale(home: &Path) -> Vec<Stale> {
    reap_stale_cgroups();
    for ns in super::netns::reap_stale(alive) {
        tracing::info!("removed the network namespace {ns}, left by a run that is gone");
    }
    let Ok(dir) = std::fs::read_dir(home.join("runs")) else {
        return Vec::new();
    };
    let mut reaped = Vec::new();
    for entry in dir.filter_map(Result::ok) {
        let path = entry.path();
        let owner = std::fs::read_to_string(path.join("owner")).unwrap_or_default();
        let mut lines = owner.lines();
        let pid: Option<i32> = lines.next().and_then(|l| l.parse().ok());
        let runsc = lines.next().map(PathBuf::from).unwrap_or_default();
        let trial = lines.next().unwrap_or("?").to_string();
        if pid.is_some_and(alive) {
            continue;
        }
        // A directory without an owner yet may be one that another process is creating
        // right now (the owner file is written just after the directory): leave it alone
        // unless it has been ownerless for a while.
        if pid.is_none() && recently_modified(&path) {
            continue;
        }
        let leftovers = cleanup(&path, &runsc);
        reaped.push(Stale {
            dir: path,
            trial,
            leftovers,
        });
    }
    reaped
}

fn recently_modified(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age < std::time::Duration::from_secs(60))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// mountinfo writes a space in a path as `\040`: read as it is written, a mount under a
    /// directory with a space was never unmounted, and `remove_dir_all` would walk into it.
    #[test]
    fn a_mount_below_a_path_with_a_space_is_unmounted() {
        let base = tempfile::tempdir().unwrap();
        let root = base.path().join("a trial");
        let point = root.join("io dir");
        std::fs::create_dir_all(&point).unwrap();
        let mounted = rustix::mount::mount(
            "dindcheck-test",
            &point,
            "tmpfs",
            rustix::mount::MountFlags::empty(),
            None,
        );
        if let Err(e) = mounted {
            eprintln!("skipped: cannot mount a tmpfs here ({e}); needs root");
            return;
        }
        assert!(super::super::procfs::mount_points().contains(&point));
        unmount_below(&root);
        let left = super::super::procfs::mount_points().contains(&point);
        if left {
            let _ = rustix::mount::unmount(&point, rustix::mount::UnmountFlags::DETACH);
        }
        assert!(!left, "{} is still mounted", point.display());
    }
}
