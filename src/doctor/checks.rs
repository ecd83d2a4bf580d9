//! The checks themselves: each asks the host one question by running something real
//! (runsc, a sandbox, dockerd, statvfs) and turns what it saw into a [`Check`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::process::Command;
use tokio::sync::{Semaphore, SemaphorePermit};

use super::check::{Check, Topic};
use super::facts::{self, KernelVersion, Release, RunscFlags};
use super::probe::{Ending, Probe, ProbeRun};
use crate::inventory::{Inventory, RunscBinary};
use crate::launch::IO_DIR_IN_SANDBOX;

/// How long a platform may take to run a trivial process. kvm hangs on hosts without
/// (nested) virtualisation; this bounds how long doctor waits to say so.
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
}

impl Ctx {
    async fn permit(&self) -> SemaphorePermit<'_> {
        self.sandboxes
            .acquire()
            .await
            .expect("the semaphore is never closed")
    }
}

/// The name runsc binaries go by in checks and reports: the runtime name.
pub fn runsc_subject(bin: &RunscBinary) -> String {
    format!("runsc-{}", bin.release)
}

/// What a command printed, or why it could not run.
struct Ran {
    line: String,
    status: Option<i32>,
    stdout: String,
    stderr: String,
}

async fn run_command(program: &Path, args: &[&str]) -> Result<Ran, String> {
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

fn timed(mut c: Check, started: Instant) -> Check {
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
            let c = c
                .ok(format!("{version} at {}", dockerd.display()))
                .evidence([format!("$ {}", r.line), version]);
            if runsc.is_empty() {
                c
            } else {
                engine_start(c, home, runsc).await
            }
        }
    };
    timed(c, started)
}

/// Starts an outer engine with a runtime per runsc, checks that `docker info` lists them, and
/// stops it, recording both times.
async fn engine_start(c: Check, home: &Path, runsc: &[crate::inventory::RunscBinary]) -> Check {
    use crate::launch::engine::container::EngineRuntime;
    use crate::launch::engine::daemon::OuterEngine;
    let runtimes: Vec<EngineRuntime> = runsc
        .iter()
        .map(|b| EngineRuntime {
            name: format!("dindcheck-doctor-{}", b.release),
            path: b.path.clone(),
            args: crate::launch::flags::GlobalFlags::isolated().args(),
        })
        .collect();
    let summary = c.summary.clone();
    let mut evidence = c.evidence.clone();
    let engine =
        match tokio::time::timeout(ENGINE_START_TIMEOUT, OuterEngine::start(home, &runtimes)).await
        {
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
            Ok(Ok(e)) => e,
        };
    let start_ms = engine.start_ms;
    let registered: Vec<String> = match engine.docker().info().await {
        Ok(info) => info
            .runtimes
            .map(|m| m.into_keys().collect())
            .unwrap_or_default(),
        Err(e) => vec![format!("(docker info failed: {e})")],
    };
    let stopped = engine.stop().await;
    let missing: Vec<&str> = runtimes
        .iter()
        .map(|r| r.name.as_str())
        .filter(|n| !registered.iter().any(|r| r == n))
        .collect();
    evidence.push(format!(
        "started dockerd in {start_ms} ms, stopped in {} ms; registered runtimes: {}",
        stopped.stop_ms,
        registered.join(", ")
    ));
    if missing.is_empty() {
        c.ok(format!(
            "{summary}; starts in {:.1} s with runsc runtimes registered ({}), stops in {:.1} s",
            start_ms as f64 / 1000.0,
            runtimes.len(),
            stopped.stop_ms as f64 / 1000.0
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

fn statvfs(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a NUL-terminated path and a zeroed struct for the kernel to fill.
    if unsafe { libc::statvfs(c.as_ptr(), &mut s) } != 0 {
        return None;
    }
    let frsize = s.f_frsize as u64;
    Some((s.f_bavail as u64 * frsize, s.f_blocks as u64 * frsize))
}

/// The binary exists, runs, and says which release it is.
pub async fn runsc_version(bin: &RunscBinary) -> (Check, Option<Release>) {
    let started = Instant::now();
    let c = Check::new(&runsc_subject(bin), Topic::RunscVersion, "version");
    if !bin.path.is_file() {
        return (
            timed(
                c.fail(
                    format!("{} is missing", bin.path.display()),
                    "rerun `scripts/setup-host`",
                ),
                started,
            ),
            None,
        );
    }
    let (c, release) = match run_command(&bin.path, &["--version"]).await {
        Err(e) => (
            c.fail(e.clone(), "rerun `scripts/setup-host`")
                .evidence([e]),
            None,
        ),
        Ok(r) => {
            let first = r.stdout.lines().next().unwrap_or_default().to_string();
            let release = facts::parse_release(&r.stdout);
            let ev = [format!("$ {}", r.line), first.clone()];
            let c = match release {
                Some(rel) if rel.to_string() == bin.release => {
                    c.ok(format!("{first} at {}", bin.path.display()))
                }
                Some(rel) => c.warn(
                    format!("{first}: release {rel}, the inventory says {}", bin.release),
                    "rerun `scripts/setup-host` to refresh the inventory",
                ),
                None => c.warn(
                    format!("{first}: no release date in it"),
                    "the network check cannot predict runsc's behaviour; it still tries",
                ),
            };
            (c.evidence(ev), release)
        }
    };
    (timed(c, started), release)
}

/// Which flags the binary knows: the harness's own, and the ones recipes depend on.
pub async fn runsc_flags(bin: &RunscBinary) -> (Check, Option<RunscFlags>) {
    let started = Instant::now();
    let c = Check::new(&runsc_subject(bin), Topic::RunscFlags, "flags");
    let ran = match run_command(&bin.path, &["flags"]).await {
        Err(e) => {
            return (
                timed(
                    c.fail(e.clone(), "rerun `scripts/setup-host`")
                        .evidence([e]),
                    started,
                ),
                None,
            );
        }
        Ok(r) => r,
    };
    // Go's flag package prints usage on stderr; some builds print it on stdout.
    let flags = RunscFlags::parse(&format!("{}{}", ran.stdout, ran.stderr));
    let missing = flags.missing_required();
    let (platforms, default) = flags.platforms();
    let net_raw = if flags.knows("net-raw") {
        "--net-raw"
    } else {
        "no --net-raw"
    };
    let packet = match flags.packet_write_flag() {
        Some(f) if f == facts::PACKET_WRITE_FLAGS[0] => format!("--{f}"),
        Some(f) => format!("--{f} (not --{})", facts::PACKET_WRITE_FLAGS[0]),
        None => "no packet-socket write flag".into(),
    };
    let summary = format!(
        "{} flags; {net_raw}; {packet}; platforms {} (default {})",
        flags.usage.len(),
        platforms.join(", "),
        default.as_deref().unwrap_or("?")
    );
    let mut evidence = vec![
        format!("$ {}", ran.line),
        format!("{} flags listed", flags.usage.len()),
    ];
    for f in ["net-raw", "host-uds", "overlay2", "platform"]
        .into_iter()
        .chain(facts::PACKET_WRITE_FLAGS)
    {
        evidence.push(match flags.usage.get(f) {
            Some(u) => format!("-{f}: {}", facts::shorten(u, 100)),
            None => format!("-{f}: unknown to this binary"),
        });
    }
    let c = if flags.usage.is_empty() {
        c.fail(
            "`runsc flags` listed nothing",
            "rerun `scripts/setup-host`; check the binary by hand",
        )
    } else if !missing.is_empty() {
        c.fail(
            format!("lacks flags the harness passes: --{}", missing.join(", --")),
            "use a newer runsc",
        )
    } else {
        c.ok(summary)
    };
    (timed(c.evidence(evidence), started), Some(flags))
}

fn no_rootfs(c: Check) -> Check {
    c.fail(
        "no root filesystem to start a sandbox on",
        "rerun `scripts/setup-host`",
    )
}

/// A trivial sandbox starts with the default platform and no networking.
pub async fn sandbox_starts(ctx: &Ctx, bin: &RunscBinary, default: Option<&str>) -> Check {
    let c = Check::new(&runsc_subject(bin), Topic::SandboxStarts, "trivial sandbox");
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let run = Probe::new(&bin.path, rootfs, "start", "true")
        .run(&ctx.home)
        .await;
    let platform = default.unwrap_or("default platform");
    let c = if run.started() {
        c.ok(format!(
            "starts ({platform}, --network=none) in {:.2} s",
            run.elapsed.as_secs_f64()
        ))
    } else if run.ending == Ending::Hung {
        c.fail(
            format!("hangs ({platform}): {}", run.reason()),
            "rerun the command in the evidence by hand and read its --debug-log",
        )
    } else {
        c.fail(
            format!("does not start: {}", run.reason()),
            "rerun the command in the evidence by hand and read its --debug-log",
        )
    };
    timed(c.evidence(run.evidence()), started)
}

/// One platform: starts, fails, or hangs (within [`PLATFORM_TIMEOUT`]).
pub async fn platform(
    ctx: &Ctx,
    bin: &RunscBinary,
    platform: &str,
    flags: Option<&RunscFlags>,
) -> Check {
    let subject = runsc_subject(bin);
    let c = Check::new(
        &subject,
        Topic::Platform(platform.to_string()),
        &format!("platform {platform}"),
    );
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    let known: Vec<String> = flags.map(|f| f.platforms().0).unwrap_or_default();
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let mut probe = Probe::new(&bin.path, rootfs, &format!("platform {platform}"), "true");
    probe.flags.platform = Some(platform.to_string());
    probe.timeout = PLATFORM_TIMEOUT;
    let run = probe.run(&ctx.home).await;
    let others: Vec<&str> = known
        .iter()
        .map(String::as_str)
        .filter(|p| *p != platform && *p != "kvm")
        .collect();
    let elsewhere = if others.is_empty() {
        "use another platform".to_string()
    } else {
        format!(
            "use {} (`--runtime {subject}@{}`)",
            others.join(" or "),
            others[0]
        )
    };
    let c = if run.started() {
        c.ok(format!("starts in {:.2} s", run.elapsed.as_secs_f64()))
    } else if run.ending == Ending::Hung {
        let why = if platform == "kvm" {
            format!("kvm needs working (nested) virtualisation; {elsewhere}")
        } else {
            elsewhere
        };
        c.fail(
            format!(
                "hangs: no start within {} s (killed and deleted)",
                PLATFORM_TIMEOUT.as_secs()
            ),
            why,
        )
    } else if run.reason().contains("unknown platform")
        || (!known.is_empty() && !known.iter().any(|k| k == platform))
    {
        c.warn(
            format!("not in this release: {}", run.reason()),
            format!(
                "this runsc has {}; {elsewhere}",
                if known.is_empty() {
                    "other platforms".to_string()
                } else {
                    known.join(", ")
                }
            ),
        )
    } else {
        c.fail(format!("fails: {}", run.reason()), elsewhere)
    };
    timed(c.evidence(run.evidence()), started)
}

/// Sandbox networking (`--network=sandbox`): predicted from the versions, then tried.
pub async fn network(ctx: &Ctx, bin: &RunscBinary, release: Option<Release>) -> Check {
    let c = Check::new(&runsc_subject(bin), Topic::Network, "sandbox networking");
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    let prediction = facts::predicts_netns_misdetection(release, ctx.kernel);
    let mut evidence = vec![format!(
        "prediction: runsc {} on kernel {} {}",
        release.map_or("(release unknown)".into(), |r| r.to_string()),
        ctx.kernel_release,
        match prediction {
            Some(true) => format!(
                "misdetects the root network namespace (runsc before {} on Linux {} or later)",
                facts::NETNS_FIX_RELEASE,
                facts::PER_NETNS_RMEM_KERNEL
            ),
            Some(false) => "should not misdetect the root network namespace".into(),
            None => "cannot be predicted".into(),
        }
    )];
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let mut probe = Probe::new(&bin.path, rootfs, "network", "cat /proc/net/dev");
    probe.flags.network = crate::case::RunscNetwork::Sandbox;
    probe.timeout = PROBE_TIMEOUT;
    let run = probe.run(&ctx.home).await;
    evidence.extend(run.evidence());
    let none = "run cases with `--runsc-network none` (or `host`)";
    let reason = run.reason();
    let c = if run.started() {
        let note = if prediction == Some(true) {
            " (although the versions predicted the misdetection)"
        } else {
            ""
        };
        c.ok(format!("usable: --network=sandbox starts{note}"))
    } else if reason.contains(facts::ROOT_NETNS_MESSAGE) && prediction == Some(true) {
        c.fail(
            format!(
                "unavailable: runsc {} (before {}) misdetects the root network namespace on \
                 kernel {} (6.11 or later); confirmed: \"{}\"",
                release.map_or("?".into(), |r| r.to_string()),
                facts::NETNS_FIX_RELEASE,
                ctx.kernel.map_or("?".into(), |k| k.to_string()),
                facts::ROOT_NETNS_MESSAGE
            ),
            format!("{none}, or use runsc {} or later", facts::NETNS_FIX_RELEASE),
        )
    } else if reason.contains(facts::ROOT_NETNS_MESSAGE) {
        c.fail(
            format!("unavailable: runsc believes it runs in the root network namespace: {reason}"),
            format!("{none}, or run dindcheck in its own network namespace"),
        )
    } else {
        c.fail(format!("unavailable: {reason}"), none)
    };
    timed(c.evidence(evidence), started)
}

/// gVisor's cgroupfs: what `/sys/fs/cgroup` holds with a `cgroup` mount in the spec (as
/// Docker's specs have), and without one, which controllers can be mounted by hand (the
/// recipe of gVisor's older Docker tutorial).
pub async fn cgroups(ctx: &Ctx, bin: &RunscBinary) -> Check {
    let c = Check::new(&runsc_subject(bin), Topic::Cgroups, "gVisor cgroupfs");
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let listing = format!("echo {} /sys/fs/cgroup/*", facts::CGROUP_LISTING_MARKER);
    let mut with = Probe::new(&bin.path, rootfs, "cgroups with mount", &listing);
    with.cgroup_mount = true;
    with.timeout = PROBE_TIMEOUT;
    let with = with.run(&ctx.home).await;
    // `mkdir` without `-p`: `mkdir -p` stats the path first, and stat fails with EINVAL
    // under runsc 20221219.
    let by_hand = format!(
        "{listing}\nmount -t tmpfs dindcheck-cgroups /sys/fs/cgroup || exit 0\n\
         for c in {}; do mkdir /sys/fs/cgroup/$c && \
         if mount -t cgroup -o $c $c /sys/fs/cgroup/$c 2>/dev/null; then echo {} $c; \
         else echo {} $c; fi; done; true",
        facts::V1_CONTROLLERS.join(" "),
        facts::CGROUP_MOUNTABLE_MARKER,
        facts::CGROUP_REFUSED_MARKER,
    );
    let mut without = Probe::new(&bin.path, rootfs, "cgroups by hand", &by_hand);
    without.timeout = PROBE_TIMEOUT;
    let without = without.run(&ctx.home).await;

    let mut evidence = vec!["with a cgroup mount at /sys/fs/cgroup in the spec:".to_string()];
    evidence.extend(with.evidence());
    evidence.push("without it, then mounting each controller by hand:".into());
    evidence.extend(without.evidence());

    let list = |r: &ProbeRun| facts::parse_cgroup_listing(&r.output);
    let (Some(seen), Some(bare)) = (list(&with), list(&without)) else {
        let failed = if list(&with).is_none() {
            &with
        } else {
            &without
        };
        return timed(
            c.fail(
                format!("could not look: {}", failed.reason()),
                "see the trivial-sandbox check",
            )
            .evidence(evidence),
            started,
        );
    };
    let mountable = facts::parse_mountable(&without.output);
    let show = |v: &[String]| {
        if v.is_empty() {
            "nothing".to_string()
        } else {
            v.join(" ")
        }
    };
    let summary = format!(
        "with a cgroup mount: {}; without: {}, mountable by hand: {}",
        show(&seen),
        show(&bare),
        show(&mountable)
    );
    let devices = |v: &[String]| v.iter().any(|c| c == "devices");
    let c = if devices(&seen) {
        c.ok(format!("devices present; {summary}"))
    } else if devices(&mountable) {
        c.warn(
            format!("devices only by hand; {summary}"),
            "mount the devices controller in a setup step (gVisor's older tutorial recipe)",
        )
    } else {
        c.fail(
            format!("no devices controller; {summary}"),
            "dockerd stops with \"Devices cgroup isn't mounted\" under this runsc: use a newer release",
        )
    };
    timed(c.evidence(evidence), started)
}

/// `--host-uds=all`: a unix socket created inside the sandbox, in a bind-mounted directory,
/// answers a client on the host. The harness reaches every nested dockerd this way.
pub async fn host_uds(ctx: &Ctx, bin: &RunscBinary, flags: Option<&RunscFlags>) -> Check {
    let c = Check::new(&runsc_subject(bin), Topic::HostUds, "--host-uds=all");
    let Some(rootfs) = &ctx.probe_rootfs else {
        return no_rootfs(c);
    };
    if flags.is_some_and(|f| !f.knows("host-uds")) {
        return c.fail(
            "this runsc has no --host-uds: the harness cannot reach dockerd's socket",
            "use a newer runsc",
        );
    }
    // The root filesystems are Debian's: perl-base is always there, nc with unix sockets
    // is not.
    if !rootfs.join("usr/bin/perl").exists() {
        return c.warn(
            format!("cannot test: no perl in {}", rootfs.display()),
            "the trials will show whether dockerd's socket is reachable",
        );
    }
    let _permit = ctx.permit().await;
    let started = Instant::now();
    let socket_inside = format!("{IO_DIR_IN_SANDBOX}/doctor.sock");
    let script = format!(
        "perl -MIO::Socket::UNIX -e 'my $s = IO::Socket::UNIX->new(Type => SOCK_STREAM(), \
         Local => \"{socket_inside}\", Listen => 1) or die \"listen: $!\\n\"; \
         my $c = $s->accept or die \"accept: $!\\n\"; print $c \"{GREETING}\\n\"; close $c; \
         print \"answered the host\\n\";'"
    );
    let mut probe = Probe::new(&bin.path, rootfs, "host-uds", &script);
    probe.flags.host_uds = true;
    probe.timeout = PROBE_TIMEOUT;
    let launched = match probe.launch(&ctx.home).await {
        Ok(l) => l,
        Err(run) => {
            return timed(
                c.fail(
                    format!("could not launch: {}", run.reason()),
                    "see the evidence",
                )
                .evidence(run.evidence()),
                started,
            );
        }
    };
    let socket = launched.io().join("doctor.sock");
    let answer = tokio::time::timeout(launched.remaining(), read_greeting(&socket)).await;
    let run = launched.finish().await;
    let mut evidence = run.evidence();
    let c = match answer {
        Ok(Ok(line)) => {
            evidence.push(format!(
                "host: connected to {}, read \"{line}\"",
                socket.display()
            ));
            c.ok("a socket created inside the sandbox answers on the host")
        }
        Ok(Err(e)) => {
            evidence.push(format!("host: {e}"));
            c.fail(
                format!("the sandbox's socket does not answer on the host: {e}"),
                "the harness cannot reach dockerd: use a runsc whose --host-uds=all works",
            )
        }
        Err(_) if !run.started() => c.fail(
            format!("the sandbox did not start: {}", run.reason()),
            "see the trivial-sandbox check",
        ),
        Err(_) => {
            evidence.push(format!("host: no socket at {} in time", socket.display()));
            c.fail(
                "no socket appeared on the host",
                "the harness cannot reach dockerd: use a runsc whose --host-uds=all works",
            )
        }
    };
    timed(c.evidence(evidence), started)
}

const GREETING: &str = "hello from the sandbox";

/// Waits for `socket` to answer, connects, and reads one line. The file appears at `bind`,
/// a moment before the sandbox's `listen`: a refused connection is retried.
async fn read_greeting(socket: &Path) -> Result<String, String> {
    use tokio::io::AsyncBufReadExt;
    loop {
        if socket.exists() {
            let stream = match tokio::net::UnixStream::connect(socket).await {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
                Err(e) => return Err(format!("connect to {}: {e}", socket.display())),
            };
            let mut line = String::new();
            tokio::io::BufReader::new(stream)
                .read_line(&mut line)
                .await
                .map_err(|e| format!("read from {}: {e}", socket.display()))?;
            return Ok(line.trim().to_string());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
    let dockerd = ["usr/bin/dockerd", "usr/sbin/dockerd"]
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
