//! The outer Docker Engine that the harness owns: the host's `dockerd`, started on a private
//! socket, data-root and exec-root, with a generated `daemon.json` whose `runtimes` map holds
//! the runsc runtimes the trials need.
//!
//! Engines live in **slots** under `<home>/engine/slot-<n>/`. A slot's data-root persists
//! between runs, so that a root filesystem is imported as an image once (about 11 s for
//! 500 MB) rather than once per trial: nextest runs every conformance trial in its own
//! process, and each starts its own engine (under a second). An exclusive `flock` on
//! `slot-<n>.lock` gives a slot to one process at a time; [`SLOTS`] slots let as many engine
//! trials run at once as the conformance test group allows sandboxes. A slot whose lock is
//! free but whose dockerd still runs was left by a process that died: its engine and
//! everything under its exec-root are ended before the slot is used again.
//!
//! Everything but the data-root (exec-root, socket, pidfile, `daemon.json`) is removed when
//! the engine stops, on every path: [`OuterEngine::stop`], its `Drop`, or
//! [`stop_own_engines`] from a signal handler.

use std::collections::BTreeSet;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::query_parameters::{EventsOptions, ListContainersOptions, RemoveContainerOptions};
use bollard::{ClientVersion, Docker};
use futures_util::StreamExt;

use super::container::EngineRuntime;
use super::sweep;

/// How many engines may run at once on this host (one per slot).
pub const SLOTS: usize = 2;
/// How long dockerd may take to answer on its socket.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long dockerd may take to reload after SIGHUP.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);
/// How long dockerd may take to stop after SIGTERM before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// dockerd 20.10 speaks API 1.41; newer engines still accept it.
const API: ClientVersion = ClientVersion {
    major_version: 1,
    minor_version: 41,
};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("failed to prepare the engine's directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("failed to start dockerd: {0}")]
    Spawn(std::io::Error),
    #[error("dockerd did not become ready: {reason}; its last lines:\n{log}")]
    NotReady { reason: String, log: String },
    #[error("the engine's socket path {0} is longer than a unix socket address allows")]
    SocketTooLong(PathBuf),
    #[error("the outer engine refused a request: {0}")]
    Api(#[from] bollard::errors::Error),
    #[error("failed to import {rootfs} as an image: {reason}")]
    Import { rootfs: PathBuf, reason: String },
    #[error(
        "`{0}` is not an engine address dindcheck can use: expected unix:///path/to/docker.sock"
    )]
    Address(String),
    #[error(
        "the engine at {address} lacks runtimes the trials need; add them to its daemon.json \
         `runtimes` (any names) and reload it (SIGHUP):\n{missing}"
    )]
    MissingRuntimes { address: String, missing: String },
}

/// A running outer engine, holding its slot.
#[derive(Debug)]
pub struct OuterEngine {
    slot: PathBuf,
    /// `None` for an existing engine (`--engine`), which dindcheck neither starts nor stops.
    process: Option<EngineProcess>,
    docker: Docker,
    /// `unix:///…/docker.sock`.
    pub address: String,
    /// Each runtime the trials need, and its name in this engine's `runtimes`; grows when a
    /// trial needs one more ([`OuterEngine::ensure_runtimes`]).
    runtimes: Mutex<Vec<(EngineRuntime, String)>>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
    /// How long each reload for new runtimes took (SIGHUP to the runtimes' registration).
    reloads: Mutex<Vec<u64>>,
    /// dockerd's version, as it reports it.
    pub version: String,
    /// From spawning dockerd to its first answer.
    pub start_ms: u64,
    /// What a dead earlier process left in this slot, and was ended.
    pub reaped: Vec<String>,
    /// Images already checked or imported, by rootfs name.
    pub(super) images: tokio::sync::Mutex<std::collections::HashMap<String, super::image::Image>>,
}

/// Slots whose engine this process runs, for [`stop_own_engines`].
static OWN: Mutex<BTreeSet<PathBuf>> = Mutex::new(BTreeSet::new());

impl OuterEngine {
    /// Takes a free slot under `<home>/engine` (waiting for one if all are taken) and starts
    /// dockerd there with `runtimes` in its `daemon.json`.
    pub async fn start(
        home: &Path,
        runtimes: &[EngineRuntime],
    ) -> Result<OuterEngine, EngineError> {
        let base = home.join("engine");
        mkdir(&base)?;
        let mut said = false;
        let (slot, lock) = loop {
            if let Some(found) = try_slots(&base)? {
                break found;
            }
            if !said {
                eprintln!(
                    "dindcheck: every engine slot under {} is in use; waiting for one",
                    base.display()
                );
                said = true;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let reaped = reap_slot(&slot);
        let socket = slot.join("docker.sock");
        if socket.as_os_str().len() >= 100 {
            return Err(EngineError::SocketTooLong(socket));
        }
        for d in ["data", "exec"] {
            mkdir(&slot.join(d))?;
        }
        let mut set: Vec<EngineRuntime> = runtimes.to_vec();
        set.sort();
        set.dedup();
        write_config(&slot, &set)?;
        let log = File::create(slot.join("dockerd.log")).map_err(|e| dir_err(&slot, e))?;
        let log2 = log.try_clone().map_err(|e| dir_err(&slot, e))?;

        let started = Instant::now();
        let mut cmd = Command::new("dockerd");
        cmd.arg(format!(
            "--config-file={}",
            slot.join("daemon.json").display()
        ))
        .arg(format!("--data-root={}", slot.join("data").display()))
        .arg(format!("--exec-root={}", slot.join("exec").display()))
        .arg(format!("--pidfile={}", slot.join("dockerd.pid").display()))
        .arg(format!("--host=unix://{}", socket.display()))
        // The trials' containers have no network of their own (runsc's `--network`
        // decides), so the outer engine needs no bridge and must not touch the host's
        // iptables or ip_forward.
        .args([
            "--bridge=none",
            "--iptables=false",
            "--ip6tables=false",
            "--ip-forward=false",
        ])
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2)
        // Its own process group: a ^C at the terminal reaches the harness, which stops
        // the engine in order, rather than dockerd directly.
        .process_group(0);
        let child = cmd.spawn().map_err(EngineError::Spawn)?;
        // From here on, any return stops dockerd: the guard's `Drop` does.
        let mut process = EngineProcess {
            slot: slot.clone(),
            _lock: lock,
            child: Some(child),
        };
        OWN.lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(slot.clone());
        let (docker, version) = process.wait_ready(&socket, started).await?;
        let engine = OuterEngine {
            slot,
            process: Some(process),
            docker,
            address: format!("unix://{}", socket.display()),
            runtimes: Mutex::new(set.into_iter().map(|r| (r.clone(), r.name)).collect()),
            reloading: Default::default(),
            reloads: Default::default(),
            version,
            start_ms: started.elapsed().as_millis() as u64,
            reaped,
            images: Default::default(),
        };
        // Containers a dead run left in the persistent data-root are not ours to keep.
        engine.remove_containers().await;
        Ok(engine)
    }

    /// Uses an engine that is already running at `address` (`unix:///path`), whose
    /// `runtimes` must already hold every runtime in `needed` (found by binary and
    /// arguments, whatever their names). It is neither configured nor stopped; only this
    /// process's containers are removed from it.
    pub async fn connect(
        address: &str,
        needed: &[EngineRuntime],
    ) -> Result<OuterEngine, EngineError> {
        let path = address
            .strip_prefix("unix://")
            .ok_or_else(|| EngineError::Address(address.to_string()))?;
        let started = Instant::now();
        let docker = Docker::connect_with_unix(path, 30, &API)?;
        let version = docker.version().await?;
        let docker = docker.negotiate_version().await?;
        let info = docker.info().await?;
        let have = info.runtimes.unwrap_or_default();
        let mut set: Vec<EngineRuntime> = needed.to_vec();
        set.sort();
        set.dedup();
        let mut runtimes = Vec::new();
        let mut missing = serde_json::Map::new();
        for r in set {
            let found = have.iter().find(|(_, h)| {
                h.path.as_deref().map(Path::new) == Some(r.path.as_path())
                    && h.runtime_args.clone().unwrap_or_default() == r.args
            });
            match found {
                Some((name, _)) => runtimes.push((r, name.clone())),
                None => {
                    missing.insert(r.name.clone(), r.daemon_json_entry());
                }
            }
        }
        if !missing.is_empty() {
            return Err(EngineError::MissingRuntimes {
                address: address.to_string(),
                missing: serde_json::to_string_pretty(&missing).unwrap_or_default(),
            });
        }
        Ok(OuterEngine {
            slot: PathBuf::new(),
            process: None,
            docker,
            address: address.to_string(),
            runtimes: Mutex::new(runtimes),
            reloading: Default::default(),
            reloads: Default::default(),
            version: version.version.unwrap_or_default(),
            start_ms: started.elapsed().as_millis() as u64,
            reaped: Vec::new(),
            images: Default::default(),
        })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// dockerd's exec-root (the runsc `--root` of its containers and their shims live
    /// below), when dindcheck started the engine.
    pub fn exec_root(&self) -> Option<PathBuf> {
        self.process.as_ref().map(|_| self.slot.join("exec"))
    }

    /// Whether dindcheck started this engine (rather than connecting to one).
    pub fn owned(&self) -> bool {
        self.process.is_some()
    }

    /// The name under which this engine knows `runtime`, if it has it.
    pub fn runtime_name(&self, runtime: &EngineRuntime) -> Option<String> {
        lock(&self.runtimes)
            .iter()
            .find(|(r, _)| r == runtime)
            .map(|(_, n)| n.clone())
    }

    /// dockerd's pid, when dindcheck started the engine.
    pub fn pid(&self) -> Option<u32> {
        self.process
            .as_ref()
            .and_then(|p| p.child.as_ref())
            .map(|c| c.id())
    }

    /// How long each reload for new runtimes took, in milliseconds.
    pub fn reloads(&self) -> Vec<u64> {
        lock(&self.reloads).clone()
    }

    /// Makes sure the engine has every runtime in `needed`. An engine dindcheck started gets
    /// the missing ones added to its `daemon.json` and reloads it (SIGHUP: dockerd reloads
    /// `runtimes` without a restart, so running containers are untouched), waits for its
    /// `daemon reload` event and checks `info`; returns how long that took, or `None` when
    /// nothing was missing. An existing engine (`--engine`) is
    /// not reconfigured: the missing runtimes are an error that names them.
    pub async fn ensure_runtimes(
        &self,
        needed: &[EngineRuntime],
    ) -> Result<Option<u64>, EngineError> {
        let _one = self.reloading.lock().await;
        let missing: Vec<EngineRuntime> = needed
            .iter()
            .filter(|r| self.runtime_name(r).is_none())
            .cloned()
            .collect();
        if missing.is_empty() {
            return Ok(None);
        }
        let Some(pid) = self.pid() else {
            let map: serde_json::Map<String, serde_json::Value> = missing
                .iter()
                .map(|r| (r.name.clone(), r.daemon_json_entry()))
                .collect();
            return Err(EngineError::MissingRuntimes {
                address: self.address.clone(),
                missing: serde_json::to_string_pretty(&map).unwrap_or_default(),
            });
        };
        let mut set: Vec<EngineRuntime> = lock(&self.runtimes)
            .iter()
            .map(|(r, _)| r.clone())
            .chain(missing.iter().cloned())
            .collect();
        set.sort();
        set.dedup();
        write_config(&self.slot, &set)?;
        // dockerd announces a finished reload as a `daemon reload` event. Asking for events
        // since just before the signal means the event is not missed, however soon it comes.
        let since = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let options = EventsOptions {
            since: Some(format!("{}.{:09}", since.as_secs(), since.subsec_nanos())),
            filters: Some(std::collections::HashMap::from([
                ("type".to_string(), vec!["daemon".to_string()]),
                ("event".to_string(), vec!["reload".to_string()]),
            ])),
            ..Default::default()
        };
        let mut events = self.docker.events(Some(options));
        let started = Instant::now();
        // SAFETY: kill(2) on the dockerd this engine spawned and still holds.
        unsafe { libc::kill(pid as i32, libc::SIGHUP) };
        let reloaded = tokio::time::timeout(RELOAD_TIMEOUT, events.next()).await;
        let have = self.docker.info().await?.runtimes.unwrap_or_default();
        if !missing.iter().all(|r| have.contains_key(&r.name)) {
            let reason = match reloaded {
                Err(_) => format!("dockerd did not reload within {RELOAD_TIMEOUT:?} of SIGHUP"),
                Ok(_) => "dockerd reloaded without the new runtimes".to_string(),
            };
            return Err(EngineError::NotReady {
                reason,
                log: log_tail(&self.slot),
            });
        }
        let ms = started.elapsed().as_millis() as u64;
        lock(&self.runtimes).extend(missing.into_iter().map(|r| {
            let name = r.name.clone();
            (r, name)
        }));
        lock(&self.reloads).push(ms);
        Ok(Some(ms))
    }

    /// Removes the containers of this engine: every one when dindcheck owns the engine
    /// (there should be none left by the trials), else those this process created.
    async fn remove_containers(&self) -> Vec<String> {
        let mut filters = std::collections::HashMap::new();
        if !self.owned() {
            filters.insert(
                "label".to_string(),
                vec![format!(
                    "{}={}",
                    super::trial::OWNER_LABEL,
                    std::process::id()
                )],
            );
        }
        remove_containers(&self.docker, filters).await
    }

    /// Removes every container, stops dockerd, ends what the engine leaked and removes the
    /// engine's state (not its data-root). Returns the time dockerd took to stop.
    pub async fn stop(mut self) -> Stopped {
        self.remove_containers().await;
        let started = Instant::now();
        let Some(child) = self.process.as_mut().and_then(|p| p.child.take()) else {
            // An engine dindcheck did not start keeps running.
            return Stopped::default();
        };
        let child = Some(child);
        let slot = self.slot.clone();
        let leaked = tokio::task::spawn_blocking(move || stop_slot(&slot, child))
            .await
            .unwrap_or_default();
        Stopped {
            stop_ms: started.elapsed().as_millis() as u64,
            leaked,
        }
    }
}

/// Force-removes the containers matching `filters` (all of them when empty).
async fn remove_containers(
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

/// What stopping an engine took and found.
#[derive(Debug, Clone, Default)]
pub struct Stopped {
    /// From SIGTERM to dockerd's exit, and the sweep of its exec-root.
    pub stop_ms: u64,
    /// Processes still running under the exec-root after dockerd stopped (ended).
    pub leaked: Vec<String>,
}

/// dockerd as a process, and the slot it holds. Dropping it stops dockerd (unless
/// [`OuterEngine::stop`] already did) and releases the slot.
#[derive(Debug)]
struct EngineProcess {
    slot: PathBuf,
    /// The flock that makes the slot ours, held for the engine's life.
    _lock: File,
    child: Option<Child>,
}

impl EngineProcess {
    /// Waits for dockerd's socket to answer `version`, or for dockerd to give up.
    async fn wait_ready(
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
fn stop_slot(slot: &Path, child: Option<Child>) -> Vec<String> {
    let pid = match &child {
        Some(c) => Some(c.id() as i32),
        None => std::fs::read_to_string(slot.join("dockerd.pid"))
            .ok()
            .and_then(|s| s.trim().parse().ok()),
    };
    if let Some(pid) = pid {
        // SAFETY: kill(2) on dockerd's pid; at worst it is already gone.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + STOP_TIMEOUT;
        let mut child = child;
        loop {
            let gone = match child.as_mut() {
                Some(c) => c.try_wait().map(|s| s.is_some()).unwrap_or(true),
                // SAFETY: signal 0 only checks for existence.
                None => unsafe { libc::kill(pid, 0) != 0 },
            };
            if gone {
                break;
            }
            if Instant::now() > deadline {
                // SAFETY: as above.
                unsafe { libc::kill(pid, libc::SIGKILL) };
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
    crate::launch::scratch::unmount_below(&exec);
    for f in ["exec", "docker.sock", "dockerd.pid", "daemon.json"] {
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
        // SAFETY: flock(2) on a file descriptor we own; the lock goes with `f`.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
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
fn reap_slot(slot: &Path) -> Vec<String> {
    let pidfile = slot.join("dockerd.pid");
    let exec = slot.join("exec");
    let live = std::fs::read_to_string(&pidfile)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| String::from_utf8_lossy(&c).contains(&*exec.to_string_lossy()))
                .unwrap_or(false)
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

fn try_slots(base: &Path) -> Result<Option<(PathBuf, File)>, EngineError> {
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
        // SAFETY: flock(2) on a file descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some((slot, f)));
        }
    }
    Ok(None)
}

/// The engine's own message for a refused request (`OCI runtime start failed: …`, a failed
/// pull's `Get "https://…/v2/": …`).
pub(crate) fn engine_message(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => message.clone(),
        bollard::errors::Error::DockerStreamError { error } => error.clone(),
        other => other.to_string(),
    }
}

/// The last lines dockerd wrote to the slot's log.
fn log_tail(slot: &Path) -> String {
    let text = std::fs::read_to_string(slot.join("dockerd.log")).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

/// Writes the slot's `daemon.json`: one entry of `runtimes` per runtime in `set`.
fn write_config(slot: &Path, set: &[EngineRuntime]) -> Result<(), EngineError> {
    let map: serde_json::Map<String, serde_json::Value> = set
        .iter()
        .map(|r| (r.name.clone(), r.daemon_json_entry()))
        .collect();
    let config = serde_json::json!({ "runtimes": map });
    write(&slot.join("daemon.json"), &config.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn mkdir(p: &Path) -> Result<(), EngineError> {
    std::fs::create_dir_all(p).map_err(|e| dir_err(p, e))
}

fn write(p: &Path, text: &str) -> Result<(), EngineError> {
    std::fs::write(p, text).map_err(|e| dir_err(p, e))
}

fn dir_err(p: &Path, source: std::io::Error) -> EngineError {
    EngineError::Dir {
        path: p.to_path_buf(),
        source,
    }
}
