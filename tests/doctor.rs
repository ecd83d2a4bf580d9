//! `dindcheck doctor` against the real runsc binaries and root filesystems of this host.
//!
//! Checks structure, not this host's answers (those are what doctor is for): every runsc
//! of the inventory is found and asked about every platform, every check carries evidence
//! and every warning or failure a remedy, and nothing doctor started is left afterwards.
//! No timings are asserted.
//!
//! Without an inventory the test fails, unless `DINDCHECK_ALLOW_SKIP=1`, with which it
//! passes with a note on stderr.

use std::path::{Path, PathBuf};

mod common;

use dindcheck::doctor::{self, DoctorOptions, Status, Topic};
use dindcheck::inventory;
use dindcheck::session::signal;
use dindcheck::trial::launch::scratch;

/// Removes whatever this test process left under `<home>/runs`, also when an assertion
/// fails (nextest runs each test in its own process, so "ours" is well defined).
struct CleanupOnDrop(PathBuf);

impl Drop for CleanupOnDrop {
    fn drop(&mut self) {
        scratch::cleanup_own(&self.0);
    }
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
    let Some(inventory) = common::inventory_or_skip() else {
        return;
    };
    let _cleanup = CleanupOnDrop(home.clone());
    // No destructor runs on a signal (nextest's timeout, a user's ^C).
    signal::cleanup_on_signal(home.clone(), "doctor test", None);

    let mut options = DoctorOptions::new(home.clone());
    // nextest runs this test in the `sandboxes` group beside the conformance trials: one
    // sandbox at a time keeps the machine at two.
    options.sandboxes = 1;
    // kvm hangs here (docs/host-facts.md, "Platforms"), a core busy for the whole timeout on
    // each runsc: 3 s shows the hang, killed and deleted, as well as doctor's 5 s.
    options.platform_timeout = std::time::Duration::from_secs(3);
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
