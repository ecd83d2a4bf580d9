//! The engine launcher's cleanup, against a real outer dockerd and real runsc.
//!
//! On our machines a `docker run --runtime=runsc` whose start fails leaves the container's
//! `runsc-sandbox`, `runsc-gofer` and shim running, even after `docker rm -f`
//! (docs/host-facts.md, "A Docker Engine with runsc as a runtime"). runsc's
//! `--network=sandbox` fails at start on this kernel ("cannot run with network enabled in
//! root network namespace"), which makes the failure easy to provoke.
//!
//! A harness killed outright leaves its engine running; the next run ends it.
//!
//! Without an inventory (no `scripts/setup-host`) the test fails, unless
//! `DINDCHECK_ALLOW_SKIP=1`, with which it says so and passes.

mod common;

use std::sync::Arc;

use dindcheck::case::{self, RunscNetwork};
use dindcheck::inventory;
use dindcheck::session::Session;
use dindcheck::trial::launch::Launcher;
use dindcheck::trial::launch::engine::EngineRuntime;
use dindcheck::trial::launch::scratch::processes_mentioning;
use dindcheck::trial::outcome::Verdict;
use dindcheck::trial::plan::{RunOptions, Trial};

#[test]
fn a_failed_start_leaks_a_sandbox_and_the_sweep_ends_it() {
    // A runsc whose sandbox networking fails at start here, forced to use it.
    let Some((inv, runtime)) = common::runsc_without_sandbox_network_or_skip() else {
        return;
    };
    let home = inventory::home();
    let case = &common::corpus_case("official-one-liner-cap-add-all");
    let options = RunOptions {
        network_override: Some(RunscNetwork::Sandbox),
        launchers: vec![Launcher::Engine],
    };
    let trial = Trial::new(case, &runtime, Launcher::Engine, &options);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = common::start_engine(&home, &[EngineRuntime::for_trial(&trial)]).await;
        let exec_root = engine.exec_root().expect("an engine dindcheck started");
        let engine = Arc::new(engine);
        let session = Session::with_launchers(
            home.clone(),
            inv.clone(),
            common::engine_runs(&home, &engine),
        );
        let under_docker = container_cgroups_under_docker();
        let result = session.run_trial(&trial).await.unwrap();
        drop(session);
        let stopped = Arc::try_unwrap(engine).unwrap().stop().await;
        // Nothing of the failed container's cgroups is left, under the trial's own parent
        // or dockerd's default one (`docker/`, where two empty ones of ended containers were
        // once found); where a container's cgroup is put is checked by the reload test.
        let ours = common::cgroups_named(&format!("dindcheck-{}-", std::process::id()));
        assert!(ours.is_empty(), "cgroups left by the trial: {ours:?}");
        let new: Vec<_> = container_cgroups_under_docker()
            .difference(&under_docker)
            .cloned()
            .collect();
        assert!(new.is_empty(), "container cgroups under docker/: {new:?}");

        assert_eq!(
            result.outcome.verdict,
            Verdict::LaunchFailed,
            "runsc --network=sandbox was expected to fail at start on this kernel: {:?}",
            result.outcome
        );
        assert!(
            !result.leftovers.is_empty(),
            "expected the engine to leak the failed container's sandbox (docs/host-facts.md); if it no \
             longer does, this test no longer exercises the sweep and must provoke a leak \
             another way. outcome: {:?}",
            result.outcome
        );
        assert!(
            result.leaks.is_empty(),
            "left after the sweep: {:?}",
            result.leaks
        );
        assert!(
            stopped.leaked.is_empty(),
            "left under the exec-root after the engine stopped: {:?}",
            stopped.leaked
        );
        let still = processes_mentioning(&exec_root.to_string_lossy());
        assert!(
            still.is_empty(),
            "processes still naming the engine: {still:?}"
        );
        assert!(
            !exec_root.exists(),
            "the engine's exec-root was not removed"
        );
        eprintln!(
            "leak provoked and ended: {:?}; engine stopped in {} ms",
            result.leftovers, stopped.stop_ms
        );
    });
}

/// Cgroups named as container ids (64 hex digits) under `docker/`, in every hierarchy.
fn container_cgroups_under_docker() -> std::collections::BTreeSet<std::path::PathBuf> {
    common::subdirs(std::path::Path::new("/sys/fs/cgroup"))
        .into_iter()
        .flat_map(|h| common::subdirs(&h.join("docker")))
        .filter(|p| {
            p.file_name().is_some_and(|n| {
                n.len() == 64 && n.to_string_lossy().bytes().all(|b| b.is_ascii_hexdigit())
            })
        })
        .collect()
}

/// A case of the corpus, without probes (these tests are about the engine, not workloads).
fn corpus_case(name: &str) -> case::Case {
    let mut case = common::corpus_case(name);
    case.probes = Some(Vec::new());
    case
}

/// An engine started for one runtime gets a second one by a reload (SIGHUP), without a
/// restart, when a trial needs it; the trial then runs under it.
#[test]
fn a_running_engine_is_reloaded_for_a_runtime_it_lacks() {
    let Some((inv, runtime)) = common::newest_runsc_or_skip() else {
        return;
    };
    let home = inventory::home();
    let case = corpus_case("gvisor-tutorial-cap-add-all");
    let with = |network| {
        let options = RunOptions {
            network_override: Some(network),
            launchers: vec![Launcher::Engine],
        };
        Trial::new(&case, &runtime, Launcher::Engine, &options)
    };
    // Two runtimes that differ only in runsc's --network: the engine starts with the first.
    let first = EngineRuntime::for_trial(&with(RunscNetwork::Host));
    let trial = with(RunscNetwork::None);
    let second = EngineRuntime::for_trial(&trial);
    assert_ne!(first.name, second.name);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = Arc::new(common::start_engine(&home, std::slice::from_ref(&first)).await);
        let pid = engine.pid();
        assert!(engine.runtime_name(&second).is_none());
        let session = Session::with_launchers(
            home.clone(),
            inv.clone(),
            common::engine_runs(&home, &engine),
        );
        // While the trial runs, its container's cgroup is under the trial's own parent.
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let watcher = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let prefix = format!("dindcheck-{}-", std::process::id());
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let under_own_parent = common::cgroups_named(&prefix)
                        .iter()
                        .flat_map(|parent| common::subdirs(parent))
                        .any(|c| c.file_name().is_some_and(|n| n.len() == 64));
                    if under_own_parent {
                        return true;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                false
            })
        };
        let result = session.run_trial(&trial).await;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let placed = watcher.join().unwrap();
        drop(session);
        let info = engine.docker().info().await;
        let reloads = engine.reloads();
        let same_pid = engine.pid() == pid;
        let stopped = Arc::try_unwrap(engine).unwrap().stop().await;

        let result = result.expect("the trial ran under the reloaded runtime");
        let registered = info.unwrap().runtimes.unwrap_or_default();
        assert!(
            registered.contains_key(&first.name) && registered.contains_key(&second.name),
            "both runtimes are registered after the reload: {:?}",
            registered.keys()
        );
        assert_eq!(reloads.len(), 1, "one reload: {reloads:?}");
        assert!(same_pid, "the engine was reloaded, not restarted");
        assert!(
            placed,
            "the container's cgroup was never seen under /dindcheck-<scratch id>/"
        );
        assert!(
            !result
                .outcome
                .error_lines
                .iter()
                .any(|l| l.contains("unknown or invalid runtime name")),
            "{:?}",
            result.outcome
        );
        assert!(result.leaks.is_empty(), "{:?}", result.leaks);
        assert!(stopped.leaked.is_empty(), "{:?}", stopped.leaked);
        eprintln!(
            "reloaded in {} ms; the trial under the new runtime: {} ({:?})",
            reloads[0], result.outcome.verdict, result.outcome.decisive
        );
    });
}

/// A case may name an image instead of a root filesystem. One the engine has (here: the
/// bookworm rootfs's image under a name of the test's own) runs like the rootfs; one it
/// cannot pull is a launch failure that the catalogue explains, not an error of the harness.
#[test]
fn a_case_that_names_an_image_runs_it_or_says_why_not() {
    let Some((inv, runtime)) = common::newest_runsc_or_skip() else {
        return;
    };
    let home = inventory::home();
    let rootfs = inv
        .rootfs("bookworm")
        .expect("the bookworm rootfs: rerun scripts/setup-host")
        .clone();
    let options = RunOptions {
        network_override: Some(RunscNetwork::None),
        launchers: vec![Launcher::Engine],
    };
    let tag = format!("test-{}", std::process::id());
    let mut local = corpus_case("gvisor-tutorial-cap-add-all");
    local.image = Some(format!("dindcheck-test/named:{tag}"));
    let local = Trial::new(&local, &runtime, Launcher::Engine, &options);
    let mut absent = corpus_case("gvisor-tutorial-cap-add-all");
    // A registry that cannot exist (RFC 2606): the pull fails on any host.
    absent.image = Some("registry.invalid/dindcheck/absent:1".into());
    let absent = Trial::new(&absent, &runtime, Launcher::Engine, &options);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine =
            Arc::new(common::start_engine(&home, &[EngineRuntime::for_trial(&local)]).await);
        let base = engine.image(&rootfs).await.unwrap();
        engine
            .docker()
            .tag_image(
                &base.reference,
                Some(bollard::query_parameters::TagImageOptions {
                    repo: Some("dindcheck-test/named".into()),
                    tag: Some(tag.clone()),
                }),
            )
            .await
            .unwrap();
        let session = Session::with_launchers(
            home.clone(),
            inv.clone(),
            common::engine_runs(&home, &engine),
        );
        let ran = session.run_trial(&local).await;
        let refused = session.run_trial(&absent).await;
        drop(session);
        let untagged = engine
            .docker()
            .remove_image(
                &format!("dindcheck-test/named:{tag}"),
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
        let stopped = Arc::try_unwrap(engine).unwrap().stop().await;

        let ran = ran.unwrap();
        assert_eq!(
            ran.outcome.verdict,
            Verdict::Ready,
            "the named local image runs as its rootfs does: {:?}",
            ran.outcome
        );
        let refused = refused.unwrap();
        assert_eq!(refused.outcome.verdict, Verdict::LaunchFailed);
        assert_eq!(
            refused.outcome.diagnosis.as_deref(),
            Some("image-unavailable"),
            "{:?}",
            refused.outcome
        );
        assert!(untagged.is_ok(), "the test's tag is removed: {untagged:?}");
        assert!(ran.leaks.is_empty() && refused.leaks.is_empty());
        assert!(stopped.leaked.is_empty(), "{:?}", stopped.leaked);
        eprintln!(
            "named image ready in {:?} ms; unpullable image: {:?}",
            ran.outcome.ready_ms, refused.outcome.decisive
        );
    });
}

/// A harness killed with SIGKILL cannot stop its outer engine: dockerd, containerd, the shim
/// and the runsc sandbox outlive it. The next run, whatever its launchers, ends them.
#[test]
fn after_sigkill_the_next_run_ends_the_dead_runs_engine() {
    if common::inventory_or_skip().is_none() {
        return;
    }
    let home = inventory::home();
    let root = common::root();
    // Removed when the test ends, whether it passes or not.
    let scratch = tempfile::Builder::new()
        .prefix("dindcheck-engine-kill-")
        .tempdir()
        .unwrap();
    let out = scratch.path().join("out");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .current_dir(root)
        .args(["run", "--runsc-network", "none", "--launcher", "engine"])
        .args(["--case", "gvisor-tutorial-cap-add-all", "--out"])
        .arg(&out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The child's dockerd, then a runsc sandbox under that dockerd's exec-root.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let exec_root = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no engine sandbox appeared"
        );
        let found = children_of(child.id()).into_iter().find_map(|pid| {
            let cmd = cmdline(pid);
            cmd.split(' ')
                .find_map(|a| a.strip_prefix("--exec-root="))
                .map(str::to_string)
        });
        if let Some(exec) = found {
            if processes_mentioning(&exec)
                .into_iter()
                .any(|p| cmdline(p).starts_with("runsc-sandbox"))
            {
                break exec;
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !processes_mentioning(&exec_root).is_empty(),
        "SIGKILL should have left the engine running"
    );

    let ended = dindcheck::trial::launch::engine::reap_stale_engines(&home);
    assert!(
        ended.iter().any(|e| e.contains("dockerd")),
        "the dead run's dockerd was not found: {ended:?}"
    );
    assert!(
        ended.iter().any(|e| e.contains("container")),
        "the dead run's container was not removed: {ended:?}"
    );
    let still = processes_mentioning(&exec_root);
    assert!(still.is_empty(), "left after the reaping: {still:?}");
    // The trial's scratch directory goes the way of every dead run's.
    dindcheck::trial::launch::scratch::reap_stale(&home);
}

fn cmdline(pid: u32) -> String {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .unwrap_or_default()
}

fn children_of(parent: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/status"))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("PPid:"))
                        .and_then(|v| v.trim().parse::<u32>().ok())
                })
                == Some(parent)
        })
        .collect()
}
