//! `dindcheck doctor` against the real runsc binaries and root filesystems of this host.
//!
//! Checks structure, not this host's answers (those are what doctor is for): every runsc
//! of the inventory is found and asked about every platform, every check carries evidence
//! and every warning or failure a remedy, and nothing doctor started is left afterwards.
//! No timings are asserted.
//!
//! Without an inventory the test passes with a note on stderr; with `DINDCHECK_REQUIRE=1`
//! (as `.ci/run` sets) it fails instead.

use std::path::{Path, PathBuf};

use dindcheck::doctor::{self, DoctorOptions, Status, Topic};
use dindcheck::inventory::{self, Inventory};
use dindcheck::launch::scratch;

/// Removes whatever this test process left under `<home>/runs`, also when an assertion
/// fails (nextest runs each test in its own process, so "ours" is well defined).
struct CleanupOnDrop(PathBuf);

impl Drop for CleanupOnDrop {
    fn drop(&mut self) {
        scratch::cleanup_own(&self.0);
    }
}

/// On SIGINT or SIGTERM (nextest's timeout, a user's ^C), end every sandbox this process
/// started before exiting: no destructor runs on a signal.
fn install_signal_cleanup(home: PathBuf) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            // The test's own thread keeps going meanwhile and may start the next probe:
            // clean up until a pass finds nothing.
            let mut n = 0;
            for _ in 0..20 {
                let found = scratch::cleanup_own(&home);
                if found == 0 && n > 0 {
                    break;
                }
                n += found;
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            eprintln!(
                "doctor test: signal {sig}: removed {n} scratch director(ies) of this process"
            );
            std::process::exit(128 + sig);
        }
    });
}

/// This process's scratch directories, and the processes that name one.
fn ours(home: &Path) -> (Vec<PathBuf>, Vec<u32>) {
    let prefix = format!("{}-", std::process::id());
    let dirs = std::fs::read_dir(home.join("runs"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default();
    let needle = home.join("runs").join(&prefix);
    let pids = scratch::processes_mentioning(&needle.to_string_lossy());
    (dirs, pids)
}

#[test]
fn doctor_checks_every_runsc_and_platform_and_leaves_nothing_behind() {
    let home = inventory::home();
    let inventory = match Inventory::load(&home) {
        Ok(i) => i,
        Err(e) => {
            if std::env::var("DINDCHECK_REQUIRE").is_ok_and(|v| v == "1") {
                panic!("{e}");
            }
            eprintln!("doctor test skipped: {e}");
            return;
        }
    };
    let _cleanup = CleanupOnDrop(home.clone());
    install_signal_cleanup(home.clone());

    let mut options = DoctorOptions::new(home.clone());
    // nextest runs this test in the `sandboxes` group beside the conformance trials: one
    // sandbox at a time keeps the machine at two.
    options.sandboxes = 1;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let d = rt.block_on(doctor::diagnose(&options));
    drop(rt);

    // Every runsc of the inventory was found and ran `--version`.
    assert!(!inventory.runsc.is_empty());
    for bin in &inventory.runsc {
        let subject = format!("runsc-{}", bin.release);
        let version = d
            .find(&subject, &Topic::RunscVersion)
            .unwrap_or_else(|| panic!("no version check for {subject}:\n{d:#?}"));
        assert_eq!(version.status, Status::Ok, "{version:#?}");
        assert!(version.summary.contains(&bin.release), "{version:#?}");
        // A verdict for every platform, and for each of the other questions.
        for p in ["ptrace", "systrap", "kvm"] {
            assert!(
                d.find(&subject, &Topic::Platform(p.into())).is_some(),
                "no platform {p} check for {subject}"
            );
        }
        for t in [
            Topic::RunscFlags,
            Topic::SandboxStarts,
            Topic::Network,
            Topic::Cgroups,
            Topic::HostUds,
        ] {
            assert!(
                d.find(&subject, &t).is_some(),
                "no {t:?} check for {subject}"
            );
        }
    }
    for r in &inventory.rootfs {
        assert!(
            d.find(&format!("rootfs {}", r.name), &Topic::Rootfs)
                .is_some(),
            "no check of rootfs {}",
            r.name
        );
    }
    for t in [Topic::Inventory, Topic::Engine, Topic::Disk] {
        assert!(d.find("host", &t).is_some(), "no host {t:?} check");
    }

    // Evidence for every check that ran something, a remedy for every one that is not ok,
    // and every sandbox's command line in its evidence.
    for c in &d.checks {
        assert!(!c.summary.is_empty(), "{c:#?}");
        if c.status != Status::Ok {
            assert!(c.remedy.is_some(), "no remedy: {c:#?}");
        }
        let sandbox = matches!(
            c.topic,
            Topic::SandboxStarts | Topic::Platform(_) | Topic::Network | Topic::Cgroups
        );
        if sandbox {
            assert!(
                c.evidence
                    .iter()
                    .any(|e| e.starts_with("$ ") && e.contains(" run ")),
                "no runsc command in the evidence: {c:#?}"
            );
        }
        assert!(
            !c.evidence.iter().any(|e| e.starts_with("LEAK")),
            "a probe leaked: {c:#?}"
        );
    }

    // The JSON form reads back.
    let json = serde_json::to_string(&d).unwrap();
    let back: doctor::Diagnosis = serde_json::from_str(&json).unwrap();
    assert_eq!(back.checks.len(), d.checks.len());

    // Nothing left: no scratch directory of this process, no process naming one.
    let (dirs, pids) = ours(&home);
    assert!(dirs.is_empty(), "scratch directories left: {dirs:?}");
    assert!(pids.is_empty(), "processes left: {pids:?}");
}
