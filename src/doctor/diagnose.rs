//! Running every check, the independent ones at once, into one [`Diagnosis`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio::sync::Semaphore;

use super::check::{Check, Diagnosis, Topic};
use super::checks::{self, Ctx, PLATFORM_TIMEOUT};
use super::discover;
use super::facts;
use super::runsc_checks;
use crate::inventory::RunscBinary;
use crate::trial::plan::Trial;

/// What to diagnose.
#[derive(Clone, Debug)]
pub struct DoctorOptions {
    /// DINDCHECK_HOME: the inventory, root filesystems and scratch directories.
    pub home: PathBuf,
    /// Skip the platform checks (kvm alone takes its whole timeout where it hangs) except
    /// those in `platforms`: what `dindcheck run` does before its cases.
    pub quick: bool,
    /// Platforms checked even when `quick` (the ones a run forces, `runsc-X@kvm`).
    pub platforms: Vec<String>,
    /// Only these runsc releases (`20240729`); empty: every runsc in the inventory.
    pub releases: Vec<String>,
    /// Only the runsc of these runtimes (`runsc-20240729`, no platform), when not empty: two
    /// binaries may share a release.
    pub runtimes: Vec<String>,
    /// How many probe sandboxes at once.
    pub sandboxes: usize,
    /// runsc binaries given with `--runsc`, already identified ([`crate::own_runsc`]):
    /// checked like the inventory's.
    pub extra_runsc: Vec<RunscBinary>,
    /// The host Docker's configuration, where runsc runtimes may be registered.
    pub daemon_json: PathBuf,
    /// How long a platform check waits for its sandbox to start before it calls the platform
    /// hung ([`PLATFORM_TIMEOUT`]). A hung sandbox (kvm without nested virtualisation) keeps
    /// a core busy until it is killed: the test suite waits less.
    pub platform_timeout: Duration,
}

impl DoctorOptions {
    pub fn new(home: PathBuf) -> DoctorOptions {
        DoctorOptions {
            home,
            quick: false,
            platforms: Vec::new(),
            releases: Vec::new(),
            runtimes: Vec::new(),
            sandboxes: 2,
            extra_runsc: Vec::new(),
            daemon_json: PathBuf::from(discover::DAEMON_JSON),
            platform_timeout: PLATFORM_TIMEOUT,
        }
    }
}

impl DoctorOptions {
    /// The quick checks for what `trials` use: their runsc binaries and forced platforms.
    pub fn for_trials(home: PathBuf, trials: &[Trial]) -> DoctorOptions {
        let mut o = DoctorOptions::new(home);
        o.quick = true;
        for t in trials {
            if !o.releases.contains(&t.runtime.release) {
                o.releases.push(t.runtime.release.clone());
            }
            let runsc = t.runtime.name.split('@').next().unwrap_or_default();
            if !o.runtimes.iter().any(|r| r == runsc) {
                o.runtimes.push(runsc.to_string());
            }
            // A `--runsc` binary is not in the inventory that doctor reads: it comes along.
            if !o.extra_runsc.iter().any(|b| b.path == t.runtime.path) {
                o.extra_runsc.push(RunscBinary {
                    release: t.runtime.release.clone(),
                    package_version: String::new(),
                    path: t.runtime.path.clone(),
                    name: t.runtime.name.split('@').next().map(str::to_string),
                    ..Default::default()
                });
            }
            if let Some(p) = &t.runtime.platform {
                if !o.platforms.contains(p) {
                    o.platforms.push(p.clone());
                }
            }
        }
        o
    }
}

/// Runs the checks. Every sandbox a check starts is killed and deleted before it returns,
/// also when this future is dropped half-way (each sandbox's scratch directory cleans up
/// when dropped).
pub async fn diagnose(options: &DoctorOptions) -> Diagnosis {
    let started = Instant::now();
    let kernel_release = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let (inventory_check, inventory) = checks::inventory(&options.home, &kernel_release);
    let mut host = vec![inventory_check];

    // The full diagnosis says which runsc the host has beyond the inventory.
    if !options.quick {
        host.extend(discover::host_runsc(
            inventory.as_ref(),
            &options.daemon_json,
        ));
    }
    let mut binaries: Vec<RunscBinary> = inventory
        .as_ref()
        .map(|i| i.runsc.clone())
        .unwrap_or_default();
    for b in &options.extra_runsc {
        if !binaries.iter().any(|k| k.path == b.path) {
            binaries.push(b.clone());
        }
    }
    binaries.retain(|b| {
        (options.releases.is_empty() || options.releases.contains(&b.release))
            && (options.runtimes.is_empty() || options.runtimes.contains(&b.runtime_name()))
    });
    binaries.sort_by(|a, b| (&a.release, &a.name).cmp(&(&b.release, &b.name)));
    let rootfs = inventory
        .as_ref()
        .map(|i| i.rootfs.clone())
        .unwrap_or_default();
    let ctx = Ctx {
        home: options.home.clone(),
        kernel: facts::parse_kernel(&kernel_release),
        kernel_release: kernel_release.clone(),
        sandboxes: Arc::new(Semaphore::new(options.sandboxes.max(1))),
        probe_rootfs: rootfs.iter().map(|r| r.path.clone()).find(|p| p.is_dir()),
        platform_timeout: options.platform_timeout,
    };

    let per_runsc = join_all(binaries.iter().map(|b| runsc_checks(&ctx, b, options)));
    // The engine check starts a real outer engine only in the full diagnosis: `run`'s quick
    // checks leave that to the run itself, which starts one anyway.
    let engine_runsc: Vec<RunscBinary> = if options.quick {
        Vec::new()
    } else {
        binaries.clone()
    };
    let (engine, per_runsc) = tokio::join!(checks::engine(&options.home, &engine_runsc), per_runsc);
    host.push(engine);
    host.push(checks::disk(&options.home));

    let mut all = host;
    all.extend(per_runsc.into_iter().flatten());
    all.extend(rootfs.iter().map(checks::rootfs));
    Diagnosis {
        kernel: kernel_release,
        home: options.home.clone(),
        quick: options.quick,
        checks: all,
        elapsed_ms: started.elapsed().as_millis() as u64,
    }
}

/// Every check of one runsc binary, in the order they are shown.
async fn runsc_checks(ctx: &Ctx, bin: &RunscBinary, options: &DoctorOptions) -> Vec<Check> {
    let ((version, release), (flags_check, flags)) = tokio::join!(
        runsc_checks::runsc_version(bin),
        runsc_checks::runsc_flags(bin)
    );
    let flags = flags.as_ref();
    let default = flags.and_then(|f| f.platforms().1);
    let wanted = |p: &str| !options.quick || options.platforms.iter().any(|q| q == p);
    let default_ref = default.as_deref();
    let platform = |p: &'static str| async move {
        // The default platform is what the trivial sandbox ran on: not run twice.
        if !wanted(p) || default_ref == Some(p) {
            None
        } else {
            Some(runsc_checks::platform(ctx, bin, p, flags).await)
        }
    };
    // `join!` polls in argument order, so sandboxes queue for the semaphore in this order:
    // kvm first, because where it hangs it holds its slot for its whole timeout while the
    // other slot works through the rest.
    let (kvm, starts, ptrace, systrap, network, cgroups, uds) = tokio::join!(
        platform("kvm"),
        runsc_checks::sandbox_starts(ctx, bin, default_ref),
        platform("ptrace"),
        platform("systrap"),
        runsc_checks::network(ctx, bin, release),
        runsc_checks::cgroups(ctx, bin),
        runsc_checks::host_uds(ctx, bin, flags),
    );
    let mut v = vec![version, flags_check, starts.clone()];
    for (name, check) in [("ptrace", ptrace), ("systrap", systrap), ("kvm", kvm)] {
        match check {
            Some(c) => v.push(c),
            None if wanted(name) && default_ref == Some(name) => {
                let mut c = starts.clone();
                c.topic = Topic::Platform(name.to_string());
                c.name = format!("platform {name}");
                c.summary = format!("the default platform: {}", starts.summary);
                v.push(c);
            }
            None => {}
        }
    }
    v.extend([network, cgroups, uds]);
    v
}
