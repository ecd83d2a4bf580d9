//! The checks themselves: each asks the host one question by running something real
//! (runsc, a sandbox, dockerd, statvfs) and turns what it saw into a [`Check`]. Here what
//! they share and the host's own checks; each runsc's are in `runsc_checks`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::check::{Check, Topic};
use super::facts::{self, KernelVersion};
use crate::inventory::{Inventory, RunscBinary};

/// How long a platform may take to run a trivial process, unless told otherwise
/// ([`super::DoctorOptions::platform_timeout`]). kvm hangs on hosts without (nested)
/// virtualisation; this bounds how long doctor waits to say so.
pub const PLATFORM_TIMEOUT: Duration = Duration::from_secs(5);
/// Any other probe sandbox (they take well under a second when they work).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);
/// `runsc --version`, `runsc flags`, `dockerd --version`.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// Below this much free space under DINDCHECK_HOME, setup and runs fail.
pub const DISK_FAIL_BYTES: u64 = 1 << 30;
/// Below this, a new root filesystem (about 500 MB) or an engine's data-root may not fit.
pub const DISK_WARN_BYTES: u64 = 5 << 30;

/// What every check of one diagnosis shares.
pub struct Ctx {
    pub home: PathBuf,
    pub kernel: Option<KernelVersion>,
    pub kernel_release: String,
    /// Bounds how many probe sandboxes run at once.
    pub sandboxes: Arc<Semaphore>,
    /// The root filesystem probes run on (the first one present).
    pub probe_rootfs: Option<PathBuf>,
    /// How long a platform check waits for its sandbox to start.
    pub platform_timeout: Duration,
}

impl Ctx {
    pub(super) async fn permit(&self) -> SemaphorePermit<'_> {
        self.sandboxes
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }
}

/// The name runsc binaries go by in checks and reports: the runtime name.
pub fn runsc_subject(bin: &RunscBinary) -> String {
    bin.runtime_name()
}

/// What a command printed, or why it could not run.
pub(super) struct Ran {
    pub(super) line: String,
    pub(super) status: Option<i32>,
    pub(super) stdout: String,
    pub(super) stderr: String,
}

pub(super) async fn run_command(program: &Path, args: &[&str]) -> Result<Ran, String> {
    let line = std::iter::once(program.display().to_string())
        .chain(args.iter().map(|a| a.to_string()))
        .collect::<Vec<_>>()
        .join(" ");
    let child = Command::new(program)
        .args(args)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .output();
    match tokio::time::timeout(COMMAND_TIMEOUT, child).await {
        Err(_) => Err(format!(
            "`{line}` did not finish within {} s",
            COMMAND_TIMEOUT.as_secs()
        )),
        Ok(Err(e)) => Err(format!("`{line}` could not run: {e}")),
        Ok(Ok(out)) => Ok(Ran {
            line,
            status: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }),
    }
}

pub(super) fn timed(mut c: Check, started: Instant) -> Check {
    c.elapsed_ms = started.elapsed().as_millis() as u64;
    c
}

/// The inventory that `scripts/setup-host` wrote.
pub fn inventory(home: &Path, kernel_release: &str) -> (Check, Option<Inventory>) {
    let started = Instant::now();
    let c = Check::new("host", Topic::Inventory, "inventory");
    let path = home.join("inventory.toml");
    match Inventory::load(home) {
        Err(e) => (
            timed(
                c.fail(e.to_string(), "run `scripts/setup-host` as root")
                    .evidence([format!("read {}", path.display())]),
                started,
            ),
            None,
        ),
        Ok(inv) => {
            let summary = format!(
                "{} runsc, {} root filesystem(s) in {}",
                inv.runsc.len(),
                inv.rootfs.len(),
                path.display()
            );
            let evidence = vec![
                format!("read {}", path.display()),
                format!("setup ran on kernel {}", inv.kernel),
            ];
            let c = if inv.kernel != kernel_release {
                c.warn(
                    format!(
                        "{summary}; set up on kernel {}, now {kernel_release}",
                        inv.kernel
                    ),
                    "rerun `scripts/setup-host` so that its self-check runs on this kernel",
                )
            } else if inv.runsc.is_empty() || inv.rootfs.is_empty() {
                c.fail(
                    format!("{summary}: nothing to run cases with"),
                    "rerun `scripts/setup-host` (see DINDCHECK_RUNSC and DINDCHECK_SUITES)",
                )
            } else {
                c.ok(summary)
            };
            (timed(c.evidence(evidence), started), Some(inv))
        }
    }
}

/// How long the engine check waits for a free engine slot and a started engine.
const ENGINE_START_TIMEOUT: Duration = Duration::from_secs(30);

/// The outer engine: a host `dockerd`, which the engine launcher starts with runsc runtimes.
/// With `runsc` given, it is started for real in one of dindcheck's engine slots with one
/// runtime per runsc, asked which runtimes it has registered, and stopped again.
pub async fn engine(home: &Path, runsc: &[crate::inventory::RunscBinary]) -> Check {
    let started = Instant::now();
    let c = Check::new("host", Topic::Engine, "outer engine (dockerd)");
    let Some(dockerd) = find_in_path("dockerd") else {
        return timed(
            c.warn(
                "no `dockerd` on PATH: trials through an engine cannot run (OCI bundles can)",
                "install Debian's `docker.io` (scripts/setup-host does)",
            )
            .evidence([format!(
                "searched PATH={}",
                std::env::var("PATH").unwrap_or_default()
            )]),
            started,
        );
    };
    let c = match run_command(&dockerd, &["--version"]).await {
        Err(e) => c
            .fail(e.clone(), "reinstall Debian's `docker.io`")
            .evidence([e]),
        Ok(r) if r.status != Some(0) => c
            .fail(
                format!("`{}` failed", r.line),
                "reinstall Debian's `docker.io`",
            )
            .evidence([format!("$ {}", r.line), r.stderr.trim().to_string()]),
        Ok(r) => {
            let version = r.stdout.trim().to_string();
            let (origin, package) = engine_origin(home, &dockerd).await;
            let c = c
                .ok(format!("{version} at {}, {origin}", dockerd.display()))
                .evidence([format!("$ {}", r.line), version, package]);
            if runsc.is_empty() {
                c
            } else {
                engine_start(c, home, runsc).await
            }
        }
    };
    timed(c, started)
}

/// Whose dockerd the engine launcher runs: the project's own (Debian's `docker.io`, which
/// `scripts/setup-host` installed and marked with `<home>/.own-engine`) or the host's own (any
/// other, e.g. Docker Engine from Docker's packages, which the setup never replaces). Also
/// the package that owns the binary, as evidence.
async fn engine_origin(home: &Path, dockerd: &Path) -> (&'static str, String) {
    let real = std::fs::canonicalize(dockerd).unwrap_or_else(|_| dockerd.to_path_buf());
    let owner = match run_command(Path::new("dpkg-query"), &["-S", &real.to_string_lossy()]).await {
        Ok(r) if r.status == Some(0) => r.stdout.split(':').next().unwrap_or("").trim().to_string(),
        _ => String::new(),
    };
    let package = if owner.is_empty() {
        format!("{} belongs to no Debian package", real.display())
    } else {
        format!("{} belongs to the package {owner}", real.display())
    };
    if owner == "docker.io" && home.join(".own-engine").exists() {
        (
            "the project's own engine (Debian's docker.io, installed by scripts/setup-host)",
            package,
        )
    } else {
        (
            "the host's own engine (scripts/setup-host leaves it as it is)",
            package,
        )
    }
}

/// Starts an outer engine with a runtime per runsc, checks that `docker info` lists them, and
/// stops it, recording both times.
async fn engine_start(c: Check, home: &Path, runsc: &[crate::inventory::RunscBinary]) -> Check {
    use crate::trial::launch::engine::container::EngineRuntime;
    let runtimes: Vec<EngineRuntime> = runsc
        .iter()
        .map(|b| EngineRuntime {
            name: format!("dindcheck-doctor-{}", b.release),
            path: b.path.clone(),
            args: crate::trial::launch::flags::GlobalFlags::isolated().args(),
        })
        .collect();
    let summary = c.summary.clone();
    let mut evidence = c.evidence.clone();
    let started = crate::trial::launch::engine::start_and_stop(home, &runtimes);
    let measured = match tokio::time::timeout(ENGINE_START_TIMEOUT, started).await {
        Err(_) => {
            return c.warn(
                format!(
                    "{summary}; no engine started within {} s (every engine slot busy?)",
                    ENGINE_START_TIMEOUT.as_secs()
                ),
                "rerun when no other dindcheck run is using the engine slots",
            );
        }
        Ok(Err(e)) => {
            return c
                .fail(
                    format!("{summary}; the engine does not start: {e}"),
                    "see the engine slot's dockerd.log under DINDCHECK_HOME/engine",
                )
                .evidence(evidence);
        }
        Ok(Ok(m)) => m,
    };
    let (start_ms, stop_ms, registered) =
        (measured.start_ms, measured.stop_ms, measured.registered);
    let missing: Vec<&str> = runtimes
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| !registered.iter().any(|r| r == n))
        .collect();
    evidence.push(format!(
        "started dockerd in {start_ms} ms, stopped in {} ms; registered runtimes: {}",
        stop_ms,
        registered.join(", ")
    ));
    if missing.is_empty() {
        c.ok(format!(
            "{summary}; starts in {:.1} s with runsc runtimes registered ({}), stops in {:.1} s",
            start_ms as f64 / 1000.0,
            runtimes.len(),
            stop_ms as f64 / 1000.0
        ))
        .evidence(evidence)
    } else {
        c.fail(
            format!("{summary}; runtimes not registered: {}", missing.join(", ")),
            "check the engine's daemon.json `runtimes`",
        )
        .evidence(evidence)
    }
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/sbin".into()])
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Free space under DINDCHECK_HOME: root filesystems, scratch directories, data-roots.
pub fn disk(home: &Path) -> Check {
    let started = Instant::now();
    let c = Check::new("host", Topic::Disk, "free disk");
    // The home may not exist before the first setup: measure where it would be created.
    let at = home
        .ancestors()
        .find(|p| p.exists())
        .unwrap_or(Path::new("/"));
    let Some((free, total)) = statvfs(at) else {
        return timed(
            c.warn(
                format!("cannot measure free space at {}", at.display()),
                "check the filesystem of DINDCHECK_HOME",
            ),
            started,
        );
    };
    let summary = format!(
        "{} free of {} under {}",
        facts::human_bytes(free),
        facts::human_bytes(total),
        at.display()
    );
    let evidence = [format!(
        "statvfs({}): {free} bytes available to root-less writers",
        at.display()
    )];
    let c = if free < DISK_FAIL_BYTES {
        c.fail(
            summary,
            "free space under DINDCHECK_HOME or point it elsewhere",
        )
    } else if free < DISK_WARN_BYTES {
        c.warn(
            summary,
            "a new root filesystem needs about 500 MB; free some space",
        )
    } else {
        c.ok(summary)
    };
    timed(c.evidence(evidence), started)
}

/// The space of the filesystem holding `path`: bytes available to us, and its size.
fn statvfs(path: &Path) -> Option<(u64, u64)> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some((s.f_bavail * s.f_frsize, s.f_blocks * s.f_frsize))
}

/// A root filesystem: present, with dockerd, and the versions its dpkg database records.
pub fn rootfs(r: &crate::inventory::Rootfs) -> Check {
    let started = Instant::now();
    let c = Check::new(
        &format!("rootfs {}", r.name),
        Topic::Rootfs,
        "root filesystem",
    );
    if !r.path.is_dir() {
        return timed(
            c.fail(
                format!("{} is missing", r.path.display()),
                "rerun `scripts/setup-host`",
            ),
            started,
        );
    }
    // Debian's packages, and Docker's static binaries (an imported `docker:dind`).
    let dockerd = [
        "usr/bin/dockerd",
        "usr/sbin/dockerd",
        "usr/local/bin/dockerd",
    ]
    .iter()
    .map(|p| r.path.join(p))
    .find(|p| p.is_file());
    let status_path = r.path.join("var/lib/dpkg/status");
    let status = std::fs::read_to_string(&status_path).unwrap_or_default();
    let versions = facts::dpkg_versions(&status, &["docker.io", "containerd", "runc"]);
    let v = |p: &str| versions.get(p).cloned().unwrap_or_else(|| "?".into());
    let mut evidence = vec![format!("read {}", status_path.display())];
    evidence.extend(versions.iter().map(|(p, v)| format!("{p} {v}")));
    let summary = format!(
        "docker.io {}, containerd {}, runc {} at {}",
        v("docker.io"),
        v("containerd"),
        v("runc"),
        r.path.display()
    );
    let stale = [
        ("docker.io", &r.docker),
        ("containerd", &r.containerd),
        ("runc", &r.runc),
    ]
    .into_iter()
    .filter(|(p, listed)| versions.get(*p).is_some_and(|found| found != *listed))
    .map(|(p, listed)| format!("{p}: inventory says {listed}"))
    .collect::<Vec<_>>();
    let c = match dockerd {
        None => c.fail(
            format!("no dockerd in {}", r.path.display()),
            "rebuild it: remove it and rerun `scripts/setup-host`",
        ),
        Some(_) if !stale.is_empty() => c.warn(
            format!("{summary}; {}", stale.join(", ")),
            "rerun `scripts/setup-host` to refresh the inventory",
        ),
        Some(d) => {
            evidence.push(format!("{} present", d.display()));
            c.ok(summary)
        }
    };
    timed(c.evidence(evidence), started)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn statvfs_sizes_the_filesystem_df_sizes() {
        let (available, total) = super::statvfs(Path::new("/")).unwrap();
        assert!(available <= total);
        let df = std::process::Command::new("df")
            .args(["--output=size", "-B1", "/"])
            .output()
            .unwrap();
        let df_total: u64 = String::from_utf8_lossy(&df.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        assert_eq!(total, df_total);
        assert!(super::statvfs(Path::new("/no/such/dir")).is_none());
    }
}
