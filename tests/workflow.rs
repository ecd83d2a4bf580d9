//! The GitHub workflow (`.github/workflows/conformance.yml`) stays safe: no job that runs as
//! root on a self-hosted runner runs a pull request's code unless a maintainer labelled it,
//! nothing runs through `pull_request_target`, and every job is bounded (docs/ci.md).

use std::path::Path;

fn workflow() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(".github/workflows/conformance.yml");
    std::fs::read_to_string(path).unwrap()
}

/// The jobs, each as (name, its lines), split at the two-space-indented keys under `jobs:`.
fn jobs(text: &str) -> Vec<(String, String)> {
    let body = text.split_once("\njobs:\n").expect("a jobs: section").1;
    let mut jobs: Vec<(String, String)> = Vec::new();
    for line in body.lines() {
        let top = line.starts_with("  ") && !line.starts_with("   ") && line.ends_with(':');
        if top && !line.trim_start().starts_with('#') {
            jobs.push((line.trim().trim_end_matches(':').to_string(), String::new()));
        } else if let Some((_, lines)) = jobs.last_mut() {
            lines.push_str(line);
            lines.push('\n');
        }
    }
    jobs
}

#[test]
fn self_hosted_jobs_never_run_unlabelled_pull_request_code() {
    let text = workflow();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !code.contains("pull_request_target"),
        "pull_request_target is used"
    );
    assert!(
        text.contains("\npermissions:\n  contents: read\n"),
        "no minimal permissions"
    );
    assert!(text.contains("\nconcurrency:\n"), "no concurrency group");
    let jobs = jobs(&text);
    assert!(
        jobs.len() >= 4,
        "{:?}",
        jobs.iter().map(|j| &j.0).collect::<Vec<_>>()
    );
    for (name, lines) in &jobs {
        assert!(
            lines.contains("timeout-minutes:"),
            "job {name} has no timeout"
        );
        if lines.contains("self-hosted") {
            let guard = lines
                .lines()
                .find(|l| l.trim_start().starts_with("if:"))
                .unwrap_or_default();
            // Either no pull request at all, or only a maintainer's label on one.
            let no_pull_requests =
                guard.contains("github.event_name != 'pull_request'") && !guard.contains("||");
            let labelled = guard.contains("github.event.action == 'labeled'")
                && guard.contains("github.event.label.name == 'run-gvisor'");
            assert!(
                no_pull_requests || labelled,
                "self-hosted job {name} is not limited to push, schedule or a maintainer's label: {guard:?}"
            );
            assert!(
                lines.contains("if: always()") && lines.contains("sudo chown -R"),
                "self-hosted job {name} leaves root-owned files"
            );
        }
    }
    let report = jobs
        .iter()
        .find(|(n, _)| n == "report")
        .expect("a report job");
    assert!(report.1.contains("!cancelled()"), "{}", report.1);
    assert!(!report.1.contains("always()"), "{}", report.1);
    // A labelled pull request is gated with reuse of main's results (issue 27), the full
    // partitioned gate runs for the other events.
    let pr_gate = jobs
        .iter()
        .find(|(n, _)| n == "pr-gate")
        .expect("a pr-gate job");
    assert!(pr_gate.1.contains("--reuse") && pr_gate.1.contains("--fail-on"));
    // Unit tests run in a hosted job for every event, their JUnit uploaded and shown.
    let unit = jobs.iter().find(|(n, _)| n == "unit").expect("a unit job");
    assert!(unit.1.contains("runs-on: ubuntu-latest") && unit.1.contains("--lib"));
    assert!(unit.1.contains("junit-summary") && unit.1.contains("upload-artifact"));
}
