//! `dindcheck run --reuse` (issue 27), with real runsc: a run given an earlier run's results
//! re-measures only the trial whose case changed, and its report equals a full run's except
//! for the reuse marks (docs/ci.md, "Re-gating a pull request").
//!
//! Two cases of a corpus of its own in a temporary directory, one runtime, the OCI launcher:
//! a full run, then one case's description edited, a full run of the edited corpus and a
//! run that reuses the first run's results. The timings in the two reports differ by nature
//! (a reused outcome keeps its own): the comparison masks the figures.

mod common;

use std::path::Path;
use std::process::Command;

use dindcheck::report::Results;

fn write_case(cases: &Path, name: &str, description: &str) {
    let text = common::small_ready_case(description);
    std::fs::write(cases.join(format!("{name}.toml")), text).unwrap();
}

/// `dindcheck run` of the corpus in `cases` on `runtime`, into `out`, with `extra` options.
fn run(cases: &Path, runtime: &str, out: &Path, extra: &[&str]) -> Results {
    let output = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .args([
            "run",
            "--launcher",
            "oci",
            "--runtime",
            runtime,
            "--no-doctor",
        ])
        .args(["--runsc-network", "none", "--baselines", "/nonexistent"])
        .arg("--cases")
        .arg(cases)
        .arg("--out")
        .arg(out)
        .args(extra)
        .env_remove("DINDCHECK_RUNSC_PATHS")
        .env_remove("DINDCHECK_CASES")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "dindcheck run failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(out.join("results.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A report with its figures masked and its "Reused outcomes" section left out.
fn comparable(out: &Path) -> String {
    let text = std::fs::read_to_string(out.join("REPORT.md")).unwrap();
    let digits = regex::Regex::new(r"[0-9]+(\.[0-9]+)?").unwrap();
    let mut kept = Vec::new();
    let mut in_reused = false;
    for line in text.lines() {
        if line.starts_with("## ") {
            in_reused = line == "## Reused outcomes";
        }
        if !in_reused {
            kept.push(digits.replace_all(line, "N").into_owned());
        }
    }
    kept.join("\n")
}

#[test]
fn a_reused_run_measures_only_the_changed_case_and_reports_as_a_full_run_does() {
    let Some((_, runtime)) = common::newest_runsc_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let cases = dir.path().join("cases");
    std::fs::create_dir_all(&cases).unwrap();
    write_case(&cases, "reuse-kept", "A recipe that does not change.");
    write_case(&cases, "reuse-edited", "A recipe whose file is edited.");
    let first = dir.path().join("first");
    let earlier = run(&cases, &runtime.name, &first, &[]);
    assert_eq!(earlier.outcomes.len(), 2);
    assert!(earlier.outcomes.iter().all(|o| o.digest.is_some()));

    write_case(&cases, "reuse-edited", "A recipe whose file was edited.");
    let full_out = dir.path().join("full");
    let full = run(&cases, &runtime.name, &full_out, &[]);
    let reused_out = dir.path().join("reused");
    let first_results = first.join("results.json");
    let reused = run(
        &cases,
        &runtime.name,
        &reused_out,
        &["--reuse", first_results.to_str().unwrap()],
    );

    let kept = format!("reuse-kept::oci::{}", runtime.name);
    let edited = format!("reuse-edited::oci::{}", runtime.name);
    let find = |r: &Results, trial: &str| {
        r.outcomes
            .iter()
            .find(|o| o.trial == trial)
            .unwrap_or_else(|| panic!("no outcome of {trial}"))
            .clone()
    };
    // The unchanged case's outcome is the first run's, marked; the edited one was measured.
    let mark = find(&reused, &kept)
        .reused
        .expect("the unchanged trial is reused");
    assert_eq!(mark.from, first_results.display().to_string());
    assert_eq!(mark.generated, earlier.generated);
    assert_eq!(find(&reused, &kept).timing, find(&earlier, &kept).timing);
    assert!(find(&reused, &edited).reused.is_none());
    assert_ne!(find(&earlier, &edited).digest, find(&full, &edited).digest);
    for trial in [&kept, &edited] {
        assert_eq!(find(&reused, trial).digest, find(&full, trial).digest);
        assert_eq!(
            find(&reused, trial).baseline(),
            find(&full, trial).baseline(),
            "{trial}"
        );
    }
    let report = std::fs::read_to_string(reused_out.join("REPORT.md")).unwrap();
    assert!(report.contains(&format!("- ♻ `{kept}`: from ")), "{report}");
    assert_eq!(comparable(&reused_out), comparable(&full_out));
}
