//! The engine launcher's cleanup, against a real outer dockerd and real runsc.
//!
//! On our machines a `docker run --runtime=runsc` whose start fails leaves the container's
//! `runsc-sandbox`, `runsc-gofer` and shim running, even after `docker rm -f`
//! (shared/HOST-FACTS.md, "A Docker Engine with runsc as a runtime"). runsc's
//! `--network=sandbox` fails at start on this kernel ("cannot run with network enabled in
//! root network namespace"), which makes the failure easy to provoke.
//!
//! A harness killed outright leaves its engine running; the next run ends it.
//!
//! Without an inventory (no `scripts/setup-host`) the test says so and passes, unless
//! `DINDCHECK_REQUIRE=1` (CI), which makes that a failure.

use std::path::Path;
use std::sync::Arc;

use dindcheck::case::{self, RunscNetwork};
use dindcheck::engine::{EngineRuntime, OuterEngine};
use dindcheck::inventory::{self, Inventory};
use dindcheck::launch::scratch::processes_mentioning;
use dindcheck::outcome::Verdict;
use dindcheck::plan::{Launcher, RunOptions, Trial};
use dindcheck::runner::{RunContext, run_trial};

#[test]
fn a_failed_start_leaks_a_sandbox_and_the_sweep_ends_it() {
    let require = std::env::var("DINDCHECK_REQUIRE").is_ok_and(|v| v == "1");
    let home = inventory::home();
    let inv = match Inventory::load(&home) {
        Ok(i) => i,
        Err(e) if !require => {
            eprintln!("skipped: {e}");
            return;
        }
        Err(e) => panic!("{e}"),
    };
    let runtime = inv
        .runtimes()
        .pop()
        .expect("the inventory lists a runsc: rerun scripts/setup-host");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = case::load_dir(&root.join("cases")).unwrap();
    let case = corpus
        .runnable()
        .find(|c| c.name == "official-one-liner-cap-add-all")
        .expect("cases/official-one-liner-cap-add-all.toml");
    let options = RunOptions {
        network_override: Some(RunscNetwork::Sandbox),
        launchers: vec![Launcher::Engine],
    };
    let trial = Trial::new(case, &runtime, Launcher::Engine, &options);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine = OuterEngine::start(&home, &[EngineRuntime::for_trial(&trial)])
            .await
            .unwrap();
        let exec_root = engine.exec_root().expect("an engine dindcheck started");
        let engine = Arc::new(engine);
        let ctx = RunContext {
            home: home.clone(),
            inventory: inv.clone(),
            keep_scratch: false,
            engine: Some(engine.clone()),
        };
        let result = run_trial(&trial, &ctx).await.unwrap();
        drop(ctx);
        let stopped = Arc::try_unwrap(engine).unwrap().stop().await;

        assert_eq!(
            result.outcome.verdict,
            Verdict::LaunchFailed,
            "runsc --network=sandbox was expected to fail at start on this kernel: {:?}",
            result.outcome
        );
        assert!(
            !result.leftovers.is_empty(),
            "expected the engine to leak the failed container's sandbox (HOST-FACTS); if it no \
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

/// A harness killed with SIGKILL cannot stop its outer engine: dockerd, containerd, the shim
/// and the runsc sandbox outlive it. The next run, whatever its launchers, ends them.
#[test]
fn after_sigkill_the_next_run_ends_the_dead_runs_engine() {
    let require = std::env::var("DINDCHECK_REQUIRE").is_ok_and(|v| v == "1");
    let home = inventory::home();
    if let Err(e) = Inventory::load(&home) {
        assert!(!require, "{e}");
        eprintln!("skipped: {e}");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = std::env::temp_dir().join(format!("dindcheck-engine-kill-{}", std::process::id()));
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

    let ended = dindcheck::engine::reap_stale_engines(&home);
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
    dindcheck::launch::scratch::reap_stale(&home);
    let _ = std::fs::remove_dir_all(&out);
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
