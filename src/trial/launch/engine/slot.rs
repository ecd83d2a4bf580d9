//! Engine slots: `<home>/engine/slot-<n>/`, each held by one process at a time with an
//! exclusive `flock` on `slot-<n>.lock`. A slot's data-root persists between runs; everything
//! else of an engine (exec-root, temporary directory, socket, pidfile, `daemon.json`) is
//! removed when it stops, and a slot whose lock is free but whose dockerd still runs was
//! left by a process that died: its engine and everything under its exec-root are ended
//! before the slot is used again.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};
use bollard::{ClientVersion, Docker};

use rustix::process::Signal;

use crate::trial::launch::procfs;
use crate::trial::launch::procs::{alive, signal};

use super::error::{EngineError, dir_err, mkdir};
use super::sweep;

/// How many engines may run at once on this host (one per slot): the `engines` test group of
/// `.config/nextest.toml` runs as many engine tests at once. Each slot keeps its own copy of
/// the root filesystems' images (about 1.6 GB for three).
pub const SLOTS: usize = 3;
/// How long dockerd may take to answer on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long dockerd may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// dockerd 20.10 speaks API 1.41; newer engines still accept it.
pub(super) const API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

/// Slots whose engine this process runs, for [`stop_own_engines`].
pub(super) static OWN: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

/// Force-removes the containers matching `filters` (all of them when empty).
pub(super) async fn remove_containers(
    docker: &Docker,
    filters: std::collections::HashMap<String, Vec<String>>,
) -> Vec<String> {
    let opts = ListContainersOptions {
        all: true,
        filters: Some(filters),
        ..Default::default()
    };
    let Ok(list) = docker.list_containers(Some(opts)).await else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for c in list {
        let Some(id) = c.id else { continue };
        let rm = RemoveContainerOptions {
            force: true,
            v: true,
            ..Default::default()
        };
        if docker.remove_container(&id, Some(rm)).await.is_ok() {
            removed.push(id);
        }
    }
    removed
}

/// [`remove_containers`] for every container of the dockerd at `socket`, from synchronous
/// code (a thread with its own runtime, so that it works inside an async caller too).
fn remove_all_containers_blocking(socket: &Path) -> Vec<String> {
    let socket = socket.to_string_lossy().into_owned();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        rt.block_on(async {
            let docker = Docker::connect_with_unix(&socket, 10, &API).ok()?;
            Some(remove_containers(&docker, Default::default()).await)
        })
    })
    .join()
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// dockerd as a process, and the slot it holds. Dropping it stops dockerd (unless
/// [`OuterEngine::stop`] already did) and releases the slot.
#[derive(Debug)]
pub(super) struct EngineProcess {
    pub(super) slot: PathBuf,
    /// The flock that makes the slot ours, held for the engine's life.
    pub(super) _lock: File,
    pub(super) child: Option<Child>,
}

impl EngineProcess {
    /// Waits for dockerd's socket to answer `version`, or for dockerd to give up.
    pub(super) async fn wait_ready(
        &mut self,
        socket: &Path,
        started: Instant,
    ) -> Result<(Docker, String), EngineError> {
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                return Err(self.not_ready(format!("dockerd exited ({status})")));
            }
            if started.elapsed() > START_TIMEOUT {
                return Err(self.not_ready(format!("no answer within {START_TIMEOUT:?}")));
            }
            if socket.exists() {
                let docker = Docker::connect_with_unix(&socket.to_string_lossy(), 30, &API)?;
                if let Ok(Ok(v)) =
                    tokio::time::timeout(Duration::from_secs(2), docker.version()).await
                {
                    return Ok((docker, v.version.unwrap_or_default()));
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn not_ready(&self, reason: String) -> EngineError {
        EngineError::NotReady {
            reason,
            log: log_tail(&self.slot),
        }
    }
}

impl Drop for EngineProcess {
    fn drop(&mut self) {
        if let Some(child) = self.child.take() {
            stop_slot(&self.slot, Some(child));
        }
    }
}

/// Stops every engine this process started: for a signal handler, when the process must
/// exit before its engines could be stopped in order.
pub fn stop_own_engines() -> usize {
    let slots: Vec<PathBuf> = OWN
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .cloned()
        .collect();
    for s in &slots {
        stop_slot(s, None);
    }
    slots.len()
}

/// SIGTERM to dockerd, a wait, SIGKILL if it does not stop, then the end of everything still
/// naming the slot's exec-root (containerd, shims, runsc sandboxes and gofers), and the
/// removal of the exec-root. Returns the processes that had to be ended.
pub(super) fn stop_slot(slot: &Path, child: Option<Child>) -> Vec<String> {
    let pid = match &child {
        Some(c) => Some(c.id() as i32),
        None => std::fs::read_to_string(slot.join("dockerd.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok()),
    };
    if let Some(pid) = pid {
        // dockerd's pid; at worst it is already gone.
        signal(pid, Signal::TERM);
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut child = child;
        loop {
            let gone = match child.as_mut() {
                Some(c) => c.try_wait().map(|s| s.is_some()).unwrap_or(true),
                None => !alive(pid),
            };
            if gone {
                break;
            }
            if Instant::now() > deadline {
                signal(pid, Signal::KILL);
                if let Some(c) = child.as_mut() {
                    let _ = c.wait();
                }
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let exec = slot.join("exec");
    let leaked = sweep::end_processes_naming(&exec.to_string_lossy());
    crate::trial::launch::scratch::unmount_below(&exec);
    for f in ["exec", "tmp", "docker.sock", "dockerd.pid", "daemon.json"] {
        let p = slot.join(f);
        let _ = if p.is_dir() {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
    OWN.lock().unwrap_or_else(|e| e.into_inner()).remove(slot);
    leaked
}

/// Ends the engines that dead processes left running in slots nobody holds (a harness killed
/// with SIGKILL cannot stop its dockerd), and what runs under their exec-roots. Called at
/// the start of every run, whatever its launchers, next to the scratch directories' reaping.
/// Returns what was ended.
pub fn reap_stale_engines(home: &Path) -> Vec<String> {
    let base = home.join("engine");
    let mut found = Vec::new();
    for n in 0..SLOTS {
        let slot = base.join(format!("slot-{n}"));
        if !slot.is_dir() {
            continue;
        }
        let Ok(f) = File::options()
            .write(true)
            .open(base.join(format!("slot-{n}.lock")))
        else {
            continue;
        };
        // The lock goes with `f`.
        if lock_exclusive(&f) {
            found.extend(
                reap_slot(&slot)
                    .into_iter()
                    .map(|r| format!("{}: {r}", slot.display())),
            );
        }
    }
    found
}

/// A slot whose lock we hold may still have a dockerd (and its sandboxes) from a process
/// that died: end them.
pub(super) fn reap_slot(slot: &Path) -> Vec<String> {
    let pidfile = slot.join("dockerd.pid");
    let exec = slot.join("exec");
    let live = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|pid| {
            u32::try_from(*pid)
                .ok()
                .and_then(procfs::cmdline)
                .is_some_and(|c| c.contains(&*exec.to_string_lossy()))
        });
    let mut found = Vec::new();
    if let Some(pid) = live {
        found.push(format!("dockerd (pid {pid})"));
        // While it still answers, it removes the dead run's containers itself (their
        // layers and records in the persistent data-root included).
        found.extend(
            remove_all_containers_blocking(&slot.join("docker.sock"))
                .into_iter()
                .map(|id| format!("container {}", &id[..12.min(id.len())])),
        );
    }
    if live.is_some() || exec.exists() {
        let leaked = stop_slot(slot, None);
        found.extend(leaked);
    }
    found
}

pub(super) fn try_slots(base: &Path) -> Result<Option<(PathBuf, File)>, EngineError> {
    for n in 0..SLOTS {
        let slot = base.join(format!("slot-{n}"));
        mkdir(&slot)?;
        let path = base.join(format!("slot-{n}.lock"));
        let f = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| dir_err(&path, e))?;
        if lock_exclusive(&f) {
            return Ok(Some((slot, f)));
        }
    }
    Ok(None)
}

/// Takes an exclusive `flock` on `f` without waiting; whether it was free. The lock is held
/// until `f` (its open file description) is closed.
fn lock_exclusive(f: &File) -> bool {
    rustix::fs::flock(f, rustix::fs::FlockOperation::NonBlockingLockExclusive).is_ok()
}

/// The last lines dockerd wrote to the slot's log.
pub(super) fn log_tail(slot: &Path) -> String {
    let text = std::fs::read_to_string(slot.join("dockerd.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::{SLOTS, try_slots};

    #[test]
    fn a_held_slot_is_skipped_and_freed_when_its_lock_file_closes() {
        let base = tempfile::tempdir().unwrap();
        let mut held: Vec<_> = (0..SLOTS)
            .map(|n| {
                let (slot, lock) = try_slots(base.path()).unwrap().unwrap();
                assert!(slot.ends_with(format!("slot-{n}")), "{}", slot.display());
                lock
            })
            .collect();
        assert!(try_slots(base.path()).unwrap().is_none(), "every slot held");
        drop(held.remove(0));
        let (again, _) = try_slots(base.path()).unwrap().unwrap();
        assert!(again.ends_with("slot-0"));
    }

    /// nextest runs as many engine tests at once as there are slots (a test that found every
    /// slot taken would hold one of the suite's places while it waited); nextest's file
    /// cannot name the constant, so this says when the two part.
    #[test]
    fn the_test_suites_engine_group_is_as_wide_as_the_slots() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/.config/nextest.toml");
        let config: toml::Table = std::fs::read_to_string(path).unwrap().parse().unwrap();
        let width = config["test-groups"]["engines"]["max-threads"].as_integer();
        assert_eq!(
            width,
            Some(SLOTS as i64),
            "{path}: test-groups.engines.max-threads"
        );
    }
}
