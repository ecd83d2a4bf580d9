//! Safe defaults for a newcomer: a run of a selection (the one-trial command the report prints)
//! writes a report of its own, never over the corpus's `reports/` (issue 24).

mod common;

use std::process::Command;

/// `dindcheck run --case X --runtime R --launcher L` without `--out` writes to
/// `reports/runs/X--R--L/` and leaves `reports/REPORT.md` alone. One real trial.
#[test]
fn a_selected_run_writes_a_report_of_its_own() {
    let Some((_, runtime)) = common::newest_runsc_or_skip() else {
        return;
    };
    let cwd = tempfile::tempdir().unwrap();
    let reports = cwd.path().join("reports");
    std::fs::create_dir_all(&reports).unwrap();
    std::fs::write(reports.join("REPORT.md"), "the corpus's report\n").unwrap();
    let case = "note-attempt-3-cgroup-script";
    let output = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .current_dir(cwd.path())
        .args(["run", "--no-doctor", "--runsc-network", "none"])
        .arg("--cases")
        .arg(common::root().join("cases"))
        .arg("--baselines")
        .arg(common::root().join("tests/baselines"))
        .args([
            "--case",
            case,
            "--runtime",
            &runtime.name,
            "--launcher",
            "oci",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let own = reports
        .join("runs")
        .join(format!("{case}--{}--oci", runtime.name));
    assert!(own.join("REPORT.md").is_file(), "{stderr}");
    assert!(own.join(format!("cases/{case}.md")).is_file(), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(reports.join("REPORT.md")).unwrap(),
        "the corpus's report\n",
        "the corpus's report was replaced"
    );
    assert!(!reports.join("results.json").exists());
}
