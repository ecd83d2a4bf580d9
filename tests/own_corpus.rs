//! Bring your own runsc and your own corpus (issue 12), end to end with real runsc:
//!
//! - `dindcheck list --runsc COPY` lists trials for a copy of an installed runsc under that
//!   runsc's runtime name, and a different binary of the same release under a name of its own;
//! - the conformance harness, pointed at a corpus and a baselines directory of a platform
//!   team's own (`DINDCHECK_CASES`, `DINDCHECK_BASELINES`), reports a trial without a baseline
//!   as new with the command that accepts it; that command records the baseline, and the next
//!   run passes against it.
//!
//! The harness is the `conformance` test binary that cargo built beside this one.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use dindcheck::inventory::{self, Inventory};

/// The newest runsc of the inventory, or `None` (the test passes, saying why) when the host
/// has none and `DINDCHECK_ALLOW_SKIP=1` is set.
fn installed_runsc() -> Option<(Inventory, PathBuf, String)> {
    let require = dindcheck::session::environment::require();
    match Inventory::load(&inventory::home()) {
        Ok(inv) if inv.rootfs("bookworm").is_some() => {
            let rt = inv.runtimes().pop()?;
            Some((inv, rt.path, rt.name))
        }
        _ if !require => {
            eprintln!("skipped: no inventory with runsc and the bookworm rootfs here");
            None
        }
        _ => panic!("no inventory: run scripts/setup-host"),
    }
}

/// `dindcheck list --case gvisor-tutorial --runsc RUNSC`.
fn list_tutorial_with(runsc: &Path) -> (bool, String) {
    let runsc = runsc.to_str().unwrap();
    dindcheck(
        &["list", "--case", "gvisor-tutorial", "--runsc", runsc],
        &[],
    )
}

fn dindcheck(args: &[&str], env: &[(&str, &Path)]) -> (bool, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dindcheck"));
    cmd.args(args).env_remove("DINDCHECK_RUNSC_PATHS");
    for (k, v) in env {
        cmd.env(k, v);
    }
    success_and_output(&mut cmd)
}

/// Runs `cmd`: whether it succeeded, and its stdout then its stderr.
fn success_and_output(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn list_names_a_copy_by_its_release_and_a_different_build_by_its_digest() {
    let Some((_, runsc, name)) = installed_runsc() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("runsc");
    std::fs::copy(&runsc, &copy).unwrap();
    let (ok, out) = list_tutorial_with(&copy);
    assert!(ok, "{out}");
    assert!(
        out.contains(&format!("gvisor-tutorial::oci::{name}\n")),
        "{out}"
    );
    assert!(out.contains("is the same binary as"), "{out}");

    // One byte more: the same release, another binary (it still runs: the byte is past
    // everything the ELF headers map).
    let other = dir.path().join("runsc-other");
    let mut bytes = std::fs::read(&runsc).unwrap();
    bytes.push(b'\n');
    std::fs::write(&other, &bytes).unwrap();
    std::fs::set_permissions(&other, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (ok, out) = list_tutorial_with(&other);
    assert!(ok, "{out}");
    let line = out
        .lines()
        .find(|l| l.starts_with("gvisor-tutorial::oci::"))
        .unwrap_or_else(|| panic!("{out}"));
    let runtime = line.trim_start_matches("gvisor-tutorial::oci::");
    assert!(
        runtime.starts_with(&format!("{name}-")) && runtime.len() == name.len() + 9,
        "a name of its own, `{name}-<8 hex digits>`: {out}"
    );
    assert!(
        !out.contains(&format!("::{name}\n")),
        "only the given binary runs: {out}"
    );

    let (ok, out) = dindcheck(&["list", "--runsc", "/bin/true"], &[]);
    assert!(!ok && out.contains("printed no release date"), "{out}");
}

/// The `conformance` harness built beside this test binary.
fn conformance_harness() -> Option<PathBuf> {
    let deps = std::env::current_exe().ok()?.parent()?.to_path_buf();
    std::fs::read_dir(deps)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().unwrap_or_default().to_string_lossy();
            n.starts_with("conformance-") && p.extension().is_none()
        })
        .max_by_key(|p| p.metadata().and_then(|m| m.modified()).ok())
}

#[test]
fn a_teams_own_corpus_gets_new_baselines_to_review_then_gates_on_them() {
    let Some((_, _, name)) = installed_runsc() else {
        return;
    };
    let Some(harness) = conformance_harness() else {
        panic!("no conformance harness beside this test: build the tests with cargo nextest");
    };
    let team = tempfile::tempdir().unwrap();
    let cases = team.path().join("cases");
    let baselines = team.path().join("baselines");
    std::fs::create_dir_all(&cases).unwrap();
    std::fs::write(
        cases.join("our-dind.toml"),
        common::small_ready_case("Our platform's dockerd recipe."),
    )
    .unwrap();
    let trial = format!("our-dind::oci::{name}");
    let run = |update: bool| {
        let mut cmd = Command::new(&harness);
        cmd.args(["--exact", &trial])
            .env("DINDCHECK_CASES", &cases)
            .env("DINDCHECK_BASELINES", &baselines)
            .env("DINDCHECK_LAUNCHER", "oci")
            .env("DINDCHECK_RUNSC_NETWORK", "none")
            .env_remove("DINDCHECK_RUNSC_PATHS")
            .env_remove("INSTA_UPDATE")
            .env("CI", "1");
        if update {
            cmd.env("INSTA_UPDATE", "always");
        }
        success_and_output(&mut cmd)
    };

    let (ok, out) = run(false);
    assert!(!ok, "a trial without a baseline must not pass: {out}");
    assert!(
        out.contains(&format!("new trial: no baseline yet for {trial}")),
        "{out}"
    );
    assert!(
        out.contains(&format!("DINDCHECK_CASES={}", cases.display()))
            && out.contains(&format!("DINDCHECK_BASELINES={}", baselines.display())),
        "the accept command carries the team's directories: {out}"
    );

    let (ok, out) = run(true);
    assert!(ok, "accepting records the baseline: {out}");
    let recorded: Vec<_> = std::fs::read_dir(&baselines)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        recorded
            .iter()
            .any(|f| f.starts_with("our-dind__") && f.ends_with(".snap")),
        "{recorded:?}"
    );

    let (ok, out) = run(false);
    assert!(
        ok,
        "the next run passes against the recorded baseline: {out}"
    );
}
