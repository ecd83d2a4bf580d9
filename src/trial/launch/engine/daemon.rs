//! The outer Docker Engine that the harness owns: the host's `dockerd`, started on a private
//! socket, data-root and exec-root, with a generated `daemon.json` whose `runtimes` map holds
//! the runsc runtimes the trials need.
//!
//! Engines live in **slots** under `<home>/engine/slot-<n>/`. A slot's data-root persists
//! between runs, so that a root filesystem is imported as an image once (about 11 s for
//! 500 MB) rather than once per trial: nextest runs every conformance trial in its own
//! process, and each starts its own engine (under a second). An exclusive `flock` on
//! `slot-<n>.lock` gives a slot to one process at a time; [`SLOTS`](super::slot::SLOTS)
//! slots let as many engine trials run at once as nextest's `engines` test group allows
//! (`.config/nextest.toml`), so that no test holds a place in the suite while it waits for a
//! slot. A slot whose lock is free but whose dockerd still runs was left by a process that
//! died: its engine and everything under its exec-root are ended before the slot is used
//! again.
//!
//! Everything but the data-root (exec-root, temporary directory, socket, pidfile,
//! `daemon.json`) is removed when the engine stops, on every path: [`OuterEngine::stop`], its
//! `Drop`, or [`stop_own_engines`](super::slot::stop_own_engines) from a signal handler.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::SystemInfoCgroupDriverEnum;
use bollard::query_parameters::EventsOptions;
use futures_util::StreamExt;

use super::container::{EngineRuntime, OWNER_LABEL};
use super::error::{EngineError, MissingImage, dir_err, mkdir, write};
use super::image::{Image, ImageCache, ImportFigure};
use super::slot::{
    API, EngineProcess, OWN, log_tail, reap_slot, remove_containers, stop_slot, try_slots,
};
use crate::inventory::Rootfs;

/// How long dockerd may take to reload after SIGHUP.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(15);

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
    /// Whether containers can be given a cgroup parent that is a path (`/dindcheck-<id>`):
    /// with the `cgroupfs` driver (the engines dindcheck starts are told to use it), not with
    /// `systemd`'s, which takes only a slice and puts containers under its own units.
    pub cgroupfs: bool,
    /// From spawning dockerd to its first answer.
    pub start_ms: u64,
    /// What a dead earlier process left in this slot, and was ended.
    pub reaped: Vec<String>,
    /// Images already checked or imported, by rootfs name.
    images: ImageCache,
}

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
        for d in ["data", "exec", "tmp"] {
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
        // Its temporary directory, and its containerd's, in the slot: when dockerd ends a
        // containerd that stopped answering (under the test suite's load), containerd first
        // writes a dump of its goroutines, `containerd.<pid>.stacks.log`, there; in /tmp it
        // would outlive the engine.
        .env("TMPDIR", slot.join("tmp"))
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
            cgroupfs: true,
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
            cgroupfs: info.cgroup_driver == Some(SystemInfoCgroupDriverEnum::CGROUPFS),
            start_ms: started.elapsed().as_millis() as u64,
            reaped: Vec::new(),
            images: Default::default(),
        })
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// The images this engine used so far, and how long each import took.
    pub fn imports(&self) -> Vec<ImportFigure> {
        self.images.figures()
    }

    /// The image of `rootfs`, imported now if this engine does not have it under its current
    /// content key.
    pub async fn image(&self, rootfs: &Rootfs) -> Result<Image, EngineError> {
        self.images.rootfs(&self.docker, rootfs).await
    }

    /// The image `reference` (a case's `image`), pulled now if the engine does not have it.
    /// A pulled image is kept: it is the user's, like an image they loaded themselves.
    pub async fn named_image(&self, reference: &str) -> Result<Image, MissingImage> {
        self.images.named(&self.docker, reference).await
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

    /// Whether the dockerd dindcheck started is still running (not gone, not a zombie). An
    /// existing engine (`--engine`) counts as running: only its API can tell.
    pub fn is_running(&self) -> bool {
        let Some(pid) = self.pid() else {
            return true;
        };
        crate::trial::launch::procfs::state(pid).is_some_and(|s| s != 'Z' && s != 'X')
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
        // The dockerd this engine spawned and still holds.
        crate::trial::launch::procs::signal(pid as i32, rustix::process::Signal::HUP);
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
                vec![format!("{}={}", OWNER_LABEL, std::process::id())],
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

/// What stopping an engine took and found.
#[derive(Debug, Clone, Default)]
pub struct Stopped {
    /// From SIGTERM to dockerd's exit, and the sweep of its exec-root.
    pub stop_ms: u64,
    /// Processes still running under the exec-root after dockerd stopped (ended).
    pub leaked: Vec<String>,
}

/// Writes the slot's `daemon.json`: one entry of `runtimes` per runtime in `set`, and the
/// `cgroupfs` driver, which dockerd would otherwise replace by systemd's on a cgroup v2 host
/// run by systemd: each trial's container gets its own cgroup parent, a path
/// (docs/host-facts.md, "A Docker Engine with runsc as a runtime").
fn write_config(slot: &Path, set: &[EngineRuntime]) -> Result<(), EngineError> {
    let map: serde_json::Map<String, serde_json::Value> = set
        .iter()
        .map(|r| (r.name.clone(), r.daemon_json_entry()))
        .collect();
    let config = serde_json::json!({
        "runtimes": map,
        "exec-opts": ["native.cgroupdriver=cgroupfs"],
    });
    write(&slot.join("daemon.json"), &config.to_string())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
