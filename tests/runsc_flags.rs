//! The allow list of runsc flags a case may pass (`src/case/runsc_flags.rs`), checked
//! against the real runsc binaries of this host: each allowed flag that a binary knows
//! accepts every value the list allows, and refuses a host path. So a flag the list calls a
//! boolean, a choice or a number cannot, on any installed runsc, name a host file.
//!
//! Without an inventory the test fails, unless `DINDCHECK_ALLOW_SKIP=1`, with which it
//! passes with a note on stderr.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};

use dindcheck::case::runsc_flags::{ALLOWED, FlagValue};

/// Flags of the allow list that only releases newer than Debian's know.
const NEWER_RELEASES_ONLY: &[&str] = &["allow-packet-socket-write"];

/// Whether runsc's flag parser takes `flag` (`runsc --root=… FLAG list`). A flag that parses
/// but conflicts with runsc's defaults (`--file-access=shared` needs the overlay off) counts
/// as taken: the question is what kind of value the flag is, not whether it suits a sandbox.
fn runsc_parses(runsc: &Path, root: &Path, flag: &str) -> bool {
    let out = Command::new(runsc)
        .arg(format!("--root={}", root.display()))
        .arg(flag)
        .arg("list")
        .stdin(Stdio::null())
        .output()
        .expect("runsc runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    out.status.success()
        || !(stderr.contains("invalid value")
            || stderr.contains("invalid boolean")
            || stderr.contains("provided but not defined"))
}

fn known_flags(runsc: &Path) -> Vec<String> {
    let out = Command::new(runsc)
        .arg("flags")
        .output()
        .expect("runsc flags");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .chain(String::from_utf8_lossy(&out.stderr).lines())
        .filter_map(|l| l.strip_prefix("  -"))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

#[test]
fn every_allowed_flag_takes_only_its_kind_of_value_on_every_installed_runsc() {
    let Some(inventory) = common::inventory_or_skip() else {
        return;
    };
    let scratch = tempfile::tempdir().unwrap();
    let probe_path = scratch.path().join("must-not-exist");
    let mut known_somewhere = std::collections::BTreeSet::new();
    for bin in &inventory.runsc {
        let known = known_flags(&bin.path);
        assert!(
            known.len() > 20,
            "runsc flags of {} printed too little",
            bin.path.display()
        );
        for (name, kind) in ALLOWED {
            if !known.iter().any(|k| k == name) {
                continue;
            }
            known_somewhere.insert(*name);
            let good: Vec<String> = match kind {
                FlagValue::Bool => vec![format!("--{name}"), format!("--{name}=false")],
                FlagValue::Choice(values) => {
                    values.iter().map(|v| format!("--{name}={v}")).collect()
                }
                FlagValue::Integer => vec![format!("--{name}=1")],
            };
            for flag in good {
                assert!(
                    runsc_parses(&bin.path, scratch.path(), &flag),
                    "runsc {} refuses `{flag}`, which the allow list says it takes",
                    bin.release
                );
            }
            let path_flag = format!("--{name}={}", probe_path.display());
            let parses = runsc_parses(&bin.path, scratch.path(), &path_flag);
            // A choice's values are the loader's own list (a case file can pass no other), so
            // a runsc that checks the value only later (runsc 20251215 takes
            // `--watchdog-action=<path>` at parse time) gives a case no path; any other kind
            // must refuse one.
            assert!(
                !parses || matches!(kind, FlagValue::Choice(_)),
                "runsc {} accepts a path for `--{name}`: it must not be on the allow list",
                bin.release
            );
            assert!(!probe_path.exists(), "`{path_flag}` created a host file");
        }
    }
    for (name, _) in ALLOWED {
        assert!(
            known_somewhere.contains(name) || NEWER_RELEASES_ONLY.contains(name),
            "`--{name}` is on the allow list but no installed runsc knows it"
        );
    }
}
