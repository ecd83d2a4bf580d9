//! `dindcheck list` as a lint of case files and selections: typos get "did you mean", an
//! invalid case file is reported as invalid (not as a missing case), a rootfs or platform
//! this host does not know is an error, case files can be checked without an inventory, and
//! bad or empty settings behave as `--help` and docs/usage.md say. No sandbox is started.

mod common;

use std::path::Path;
use std::process::Command;

/// Runs `dindcheck ARGS` in the repository with `env` set: (exit status, stdout, stderr).
fn dindcheck(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A copy of the corpus with `extra` files added, for cases of the test's own.
fn corpus_with(extra: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("cases");
    for e in std::fs::read_dir(root).unwrap().flatten() {
        if e.path().extension().is_some_and(|x| x == "toml") {
            std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
        }
    }
    for (name, text) in extra {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

const NO_HOME: (&str, &str) = ("DINDCHECK_HOME", "/nonexistent/dindcheck-home");

#[test]
fn a_mistyped_case_gets_the_closest_name_without_an_inventory() {
    let (code, _, err) = dindcheck(&["list", "--case", "gvisor-tutorail"], &[NO_HOME]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("no such case: `gvisor-tutorail` (did you mean `gvisor-tutorial`?)"),
        "{err}"
    );
}

#[test]
fn an_invalid_case_file_is_reported_as_invalid_not_as_missing() {
    let cases = corpus_with(&[("broken.toml", "rootfs = \"bookworm\"\ntimeout_secs = 0\n")]);
    let dir = cases.path().to_str().unwrap();
    for args in [
        &["list", "--cases", dir, "--case", "broken"][..],
        &["list", "--cases-only", "--cases", dir, "--case", "broken"][..],
    ] {
        let (code, _, err) = dindcheck(args, &[NO_HOME]);
        assert_ne!(code, 0, "{args:?}: {err}");
        assert!(err.contains("broken.toml"), "{args:?}: {err}");
        assert!(!err.contains("no such case"), "{args:?}: {err}");
    }
}

#[test]
fn case_files_are_checked_without_an_inventory() {
    let (code, out, err) = dindcheck(&["list", "--cases-only"], &[NO_HOME]);
    assert_eq!(code, 0, "{err}");
    assert!(out.lines().any(|l| l == "gvisor-tutorial"), "{out}");
    let (code, _, err) = dindcheck(
        &["list", "--cases-only", "--cases", "tests/bad-cases"],
        &[NO_HOME],
    );
    assert_eq!(code, 1, "{err}");
}

#[test]
fn an_unknown_rootfs_or_platform_is_an_error_with_the_nearest_name() {
    if common::inventory_or_skip().is_none() {
        return;
    }
    let typo = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("cases/gvisor-tutorial.toml"),
    )
    .unwrap()
    .replace("rootfs = \"bookworm\"", "rootfs = \"bookwrm\"");
    let cases = corpus_with(&[("typo-rootfs.toml", &typo)]);
    let dir = cases.path().to_str().unwrap();
    let (code, _, err) = dindcheck(&["list", "--cases", dir, "--case", "typo-rootfs"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("case `typo-rootfs`: unknown rootfs `bookwrm` (did you mean `bookworm`?)"),
        "{err}"
    );
    let runtime = common::newest_runsc_or_skip().unwrap().1.name;
    let (code, _, err) = dindcheck(
        &[
            "list",
            "--case",
            "gvisor-tutorial",
            "--runtime",
            &format!("{runtime}@systrp"),
        ],
        &[],
    );
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("unknown platform `systrp`") && err.contains("did you mean `systrap`?"),
        "{err}"
    );
}

/// The exit statuses tell a usage error (2) from a host that cannot run anything (4), and
/// `--help` lists them all (docs/usage.md, "Exit status").
#[test]
fn a_usage_error_and_a_host_fault_have_their_own_exit_status() {
    let (code, _, err) = dindcheck(&["list", "--case", "no-such-case"], &[NO_HOME]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = dindcheck(&["list"], &[NO_HOME]);
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("no inventory"), "{err}");
    let (code, out, err) = dindcheck(&["run", "--help"], &[]);
    assert_eq!(code, 0, "{err}");
    for status in ["2    usage error", "4    host fault", "5    no answer"] {
        assert!(out.contains(status), "{status} missing from --help:\n{out}");
    }
}

#[test]
fn zero_jobs_is_a_usage_error() {
    let (code, _, err) = dindcheck(&["run", "--jobs", "0"], &[NO_HOME]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("'0' for '--jobs"), "{err}");
}

/// An empty variable is as if it were unset (docs/usage.md): `DINDCHECK_RUNSC_NETWORK=` runs each
/// case in its own network mode, an empty `DINDCHECK_CASES` or `DINDCHECK_HOME` is the
/// default rather than an error.
#[test]
fn empty_variables_are_unset() {
    let (code, out, err) = dindcheck(
        &["list", "--cases-only", "--case", "gvisor-tutorial"],
        &[("DINDCHECK_CASES", ""), ("DINDCHECK_HOME", "")],
    );
    assert_eq!((code, out.trim()), (0, "gvisor-tutorial"), "{err}");
    let Some(inventory) = common::inventory_or_skip() else {
        return;
    };
    let (code, out, err) = dindcheck(
        &[
            "list",
            "--json",
            "--case",
            "gvisor-tutorial",
            "--launcher",
            "oci",
        ],
        &[("DINDCHECK_RUNSC_NETWORK", "")],
    );
    assert_eq!(code, 0, "{err}");
    let trials: Vec<dindcheck::trial::plan::ListedTrial> = serde_json::from_str(&out).unwrap();
    // The case's own mode (sandbox), but `none` under a runsc whose sandbox networking
    // cannot start on this host (docs/host-facts.md, "Sandbox networking").
    for t in &trials {
        let rt = inventory
            .runtimes()
            .into_iter()
            .find(|r| r.name == t.runtime);
        let unavailable = rt.is_some_and(|r| r.sandbox_network.is_some());
        let want = if unavailable {
            dindcheck::case::RunscNetwork::None
        } else {
            dindcheck::case::RunscNetwork::Sandbox
        };
        assert_eq!(t.network, want, "{}: {out}", t.trial);
    }
}
