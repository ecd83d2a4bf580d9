//! The report: rendered from fixed fixture outcomes (an insta snapshot), valid CommonMark
//! whose tables keep their shape whatever the logs contain, short (the committed run's data
//! renders under 100 KB, whatever the log volume), stable across reruns (only timing lines
//! change), and `report --merge` of two partitioned runs giving the same matrix as one full
//! run (real runsc).

mod common;

use std::path::Path;
use std::process::Command;

use dindcheck::case::{Claimed, RunscNetwork};
use dindcheck::inventory::Rootfs;
use dindcheck::report::{self, CaseInfo, Results, RuntimeInfo};
use dindcheck::trial::launch::Launcher;
use dindcheck::trial::outcome::{DaemonInfo, Outcome, Verdict};
use pulldown_cmark::{Event, Options, Parser, Tag, TagEnd};

fn outcome(case: &str, runtime: &str, verdict: Verdict, decisive: Option<&str>) -> Outcome {
    Outcome {
        trial: format!("{case}::{runtime}"),
        case: case.into(),
        runtime: runtime.into(),
        launcher: Launcher::Oci,
        network: RunscNetwork::None,
        network_substituted: true,
        verdict,
        ready_ms: (verdict == Verdict::Ready).then_some(1234),
        exit_code: (verdict == Verdict::Exited).then_some(1),
        decisive: decisive.map(str::to_string),
        error_lines: decisive.map(|d| vec![d.to_string()]).unwrap_or_default(),
        log_tail: vec![
            "a log line with | a pipe, `backticks` and <script>alert(1)</script>".into(),
        ],
        probes: Vec::new(),
        diagnosis: diagnosis(verdict).map(str::to_string),
        catalogue_ids: diagnosis(verdict)
            .map(|d| vec![d.to_string()])
            .unwrap_or_default(),
        leaks: Vec::new(),
        timing: None,
        digest: None,
        reused: None,
        daemon: (verdict == Verdict::Ready).then(|| DaemonInfo {
            server_version: Some("20.10.24+dfsg1".into()),
            api_version: Some("1.41".into()),
            storage_driver: Some("vfs".into()),
            cgroup_driver: Some("cgroupfs".into()),
            cgroup_version: Some("1".into()),
            kernel_version: Some("4.4.0".into()),
        }),
    }
}

/// Real catalogue ids, so the fixture report shows their explanations.
fn diagnosis(v: Verdict) -> Option<&'static str> {
    match v {
        Verdict::Ready => None,
        Verdict::Exited => Some("devices-cgroup-missing"),
        Verdict::LaunchFailed => Some("runsc-unknown-capability"),
        Verdict::Timeout => Some("runsc-launch-hang"),
    }
}

fn case(name: &str, extends: Option<&str>, claimed: Option<Claimed>) -> CaseInfo {
    CaseInfo {
        name: name.into(),
        description: format!("{name}, a fixture"),
        source: "design note, a fixture".into(),
        claim: "Should work | or not".into(),
        rootfs: "bookworm".into(),
        extends: extends.map(str::to_string),
        network: "sandbox".into(),
        cgroup: Some("gvisor".into()),
        claimed,
        claimed_probes: Default::default(),
        changes: extends
            .map(|_| vec!["cgroup: \"none\" → \"gvisor\"".to_string()])
            .unwrap_or_default(),
        host_writes: Vec::new(),
    }
}

fn fixture() -> Results {
    let rt = |n: &str| RuntimeInfo {
        name: n.into(),
        version: "0.0~test".into(),
        platform: "default".into(),
        sandbox_network: None,
    };
    Results {
        schema: report::SCHEMA_VERSION,
        generated: "2026-01-01 00:00 UTC".into(),
        host: "fixture-host".into(),
        dindcheck_version: "0.0.0".into(),
        host_kernel: "6.18.0".into(),
        network_override: Some("none".into()),
        runtimes: vec![rt("runsc-old"), rt("runsc-new")],
        rootfs: vec![Rootfs {
            name: "bookworm".into(),
            path: "/ROOTFS".into(),
            docker: "20.10.24".into(),
            containerd: "1.6.20".into(),
            runc: "1.1.5".into(),
            imported: None,
        }],
        cases: vec![
            case("base", None, Some(Claimed::Works)),
            case("child", Some("base"), Some(Claimed::Fails)),
        ],
        outcomes: vec![
            outcome(
                "base",
                "runsc-old",
                Verdict::Exited,
                Some("failed to start daemon: Devices cgroup isn't mounted"),
            ),
            outcome("base", "runsc-new", Verdict::Ready, None),
            outcome(
                "child",
                "runsc-old",
                Verdict::LaunchFailed,
                Some("FATAL ERROR: unknown capability \"CAP_BPF\" | `x`"),
            ),
            outcome("child", "runsc-new", Verdict::Timeout, None),
        ],
        not_run: vec![],
        complete: true,
        baselines: vec![],
        launchers: vec![],
        not_expressible: vec![],
        leaked: vec![],
        engine: None,
        host_checks: None,
        stability: Vec::new(),
        merged_from: Vec::new(),
        disagreements: Vec::new(),
        answers: Default::default(),
        exploration: None,
        claims: vec![],
    }
}

/// The report has its header, matrix, claims and note tables, and [`well_formed`] holds.
fn check_tables(md: &str) {
    let tables = well_formed(md);
    assert!(
        tables >= 4,
        "expected the header, matrix, claims and note tables, got {tables}"
    );
}

/// Every table in `md` has as many cells in each row as in its header, and no raw HTML
/// from the logs survives; says how many tables there are.
fn well_formed(md: &str) -> usize {
    let mut in_table = false;
    let mut header_cells = 0;
    let mut row_cells = 0;
    let mut tables = 0;
    for event in Parser::new_ext(md, Options::ENABLE_TABLES) {
        match event {
            Event::Start(Tag::Table(aligns)) => {
                in_table = true;
                tables += 1;
                header_cells = aligns.len();
            }
            Event::End(TagEnd::Table) => in_table = false,
            Event::Start(Tag::TableRow) | Event::Start(Tag::TableHead) => row_cells = 0,
            Event::Start(Tag::TableCell) => row_cells += 1,
            Event::End(TagEnd::TableRow) | Event::End(TagEnd::TableHead) => {
                assert_eq!(
                    row_cells, header_cells,
                    "a table row has the wrong number of cells"
                );
            }
            Event::Html(h) | Event::InlineHtml(h) => {
                assert!(
                    !h.contains("<script"),
                    "raw HTML from a log reached the report: {h}"
                );
                let _ = in_table;
            }
            _ => {}
        }
    }
    tables
}

#[test]
fn the_report_of_fixed_outcomes() {
    let rendered = report::render(&fixture());
    check_tables(&rendered.markdown);
    insta::assert_snapshot!("report-fixture", rendered.markdown);
    // The case page carries the details: the full lines, the timings and the logs.
    let (name, page) = &rendered.case_pages[0];
    assert_eq!(name, "base");
    insta::assert_snapshot!("report-fixture-case-base", page);
}

#[test]
fn merging_shards_of_one_host_gives_the_full_matrix() {
    let full = fixture();
    let mut a = full.clone();
    let mut b = full.clone();
    a.outcomes.retain(|o| o.runtime == "runsc-old");
    a.runtimes.retain(|r| r.name == "runsc-old");
    b.outcomes.retain(|o| o.runtime == "runsc-new");
    b.runtimes.retain(|r| r.name == "runsc-new");
    let merged = report::merge(vec![("a".into(), a), ("b".into(), b)]).unwrap();
    let matrix = |r: &Results| {
        let md = report::markdown(r);
        let start = md.find("## Matrix").unwrap();
        let end = md.find("## Host").unwrap();
        md[start..end].to_string()
    };
    let mut sorted_full = full.clone();
    sorted_full.runtimes.sort_by(|x, y| x.name.cmp(&y.name));
    assert_eq!(matrix(&merged), matrix(&sorted_full));
}

#[test]
fn other_hosts_become_columns() {
    let a = fixture();
    let mut b = fixture();
    b.host = "other-host".into();
    let merged = report::merge(vec![("a".into(), a), ("b".into(), b)]).unwrap();
    let names: Vec<&str> = merged.runtimes.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "runsc-new (fixture-host)",
            "runsc-new (other-host)",
            "runsc-old (fixture-host)",
            "runsc-old (other-host)"
        ]
    );
    assert_eq!(merged.outcomes.len(), 8);
    check_tables(&report::markdown(&merged));
}

/// Two real partitioned runs, merged, against one real full run: the same verdicts. Readiness
/// only (`--no-probes`): the verdicts are what partitioning must keep, and a merge moves each
/// outcome whole, its probes with it (the fixture merges above render the same as one input).
/// Without doctor's checks (`--no-doctor`; a merge of them is the fixture merges' business),
/// and on the oldest and newest runsc: partitioning splits trials, whatever their runsc, and
/// each run costs the suite CPU time beside the conformance trials (reports/BENCH.md).
#[test]
fn partitioned_real_runs_merge_to_the_full_run() {
    let Some(inventory) = common::inventory_or_skip() else {
        return;
    };
    let mut runtimes: Vec<String> = inventory.runtimes().into_iter().map(|r| r.name).collect();
    if runtimes.len() > 2 {
        runtimes.drain(1..runtimes.len() - 1);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Removed when the test ends, whether it passes or not.
    let scratch = tempfile::Builder::new()
        .prefix("dindcheck-merge-")
        .tempdir()
        .unwrap();
    let tmp = scratch.path();
    let run = |out: &str, extra: &[&str]| {
        let status = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
            .current_dir(root)
            .args([
                "run",
                "--runsc-network",
                "none",
                "--no-probes",
                "--no-doctor",
                "--case",
                "merged-o-latest",
            ])
            .args(["--case", "note-attempt-4-five-flags"])
            .args(runtimes.iter().flat_map(|r| ["--runtime", r.as_str()]))
            .arg("--out")
            .arg(tmp.join(out))
            .args(extra)
            .status()
            .unwrap();
        assert!(status.success(), "dindcheck run {extra:?} failed");
    };
    run("full", &[]);
    run("p1", &["--partition", "count:1/2"]);
    run("p2", &["--partition", "count:2/2"]);
    let status = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .args(["report", "--merge"])
        .arg(tmp.join("p1/results.json"))
        .arg(tmp.join("p2/results.json"))
        .arg("--out")
        .arg(tmp.join("merged"))
        .status()
        .unwrap();
    assert!(status.success());
    let verdicts = |dir: &str| -> Vec<(String, String)> {
        let r: Results = serde_json::from_str(
            &std::fs::read_to_string(tmp.join(dir).join("results.json")).unwrap(),
        )
        .unwrap();
        let mut v: Vec<_> = r
            .outcomes
            .iter()
            .map(|o| (o.trial.clone(), format!("{} {:?}", o.verdict, o.decisive)))
            .collect();
        v.sort();
        v
    };
    let (full, merged) = (verdicts("full"), verdicts("merged"));
    let runsc = runtimes.len();
    assert_eq!(
        full.len(),
        2 * runsc * 2,
        "2 cases × {runsc} runsc × 2 launchers"
    );
    assert_eq!(full, merged);
}

/// The committed report's data (`reports/results.json`, a real run of the default corpus).
fn committed_results() -> Results {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports/results.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// GitHub stops rendering a file at 512 KB; the report is read in a minute only if short.
/// With four runsc (212 trials) and evidence lines no longer cut, `REPORT.md` grew to
/// 137 KB; the long sections (minimal recipes, why each flag, workload probes, catalogue
/// entries) are pages of their own beside it (issue 24), which brings it back under 100 KB.
#[test]
fn the_report_of_the_default_corpus_stays_under_100_kb() {
    let r = committed_results();
    let rendered = report::render(&r);
    assert!(
        rendered.markdown.len() < 100 * 1024,
        "REPORT.md is {} bytes",
        rendered.markdown.len()
    );
    check_tables(&rendered.markdown);
    let summary = rendered.markdown.find("## Summary").unwrap();
    assert!(summary < rendered.markdown.find("## Matrix").unwrap());
    assert!(rendered.markdown.contains("](heatmap.svg)"));
    // One page per case, each linked from the matrix.
    assert_eq!(rendered.case_pages.len(), r.cases.len());
    for (case, _) in &rendered.case_pages {
        assert!(
            rendered.markdown.contains(&format!("](cases/{case}.md)")),
            "{case}"
        );
    }
    // Every long section is a page of its own, linked with its one-line summary; the
    // catalogue links of the report and of the pages land on the catalogue page's entries.
    assert_eq!(
        rendered.pages.iter().map(|p| p.file).collect::<Vec<_>>(),
        report::PAGES
    );
    for p in &rendered.pages {
        let line = format!("- [{}]({}): {}", p.title, p.file, p.summary);
        assert!(rendered.markdown.contains(&line), "{line}");
        assert!(!rendered.markdown.contains(&format!("\n## {}\n", p.title)));
        well_formed(&p.text);
    }
    let catalogue = &rendered
        .pages
        .iter()
        .find(|p| p.file == "catalogue.md")
        .unwrap()
        .text;
    for page in std::iter::once(&rendered.markdown).chain(rendered.pages.iter().map(|p| &p.text)) {
        for link in page.split("](catalogue.md#").skip(1) {
            let id = &link[..link.find(')').unwrap()];
            assert!(
                catalogue.contains(&format!("### `{id}`")),
                "no entry for {id}"
            );
        }
    }
    // One cell per case × runtime × launcher in the heat map, each with its tooltip.
    let cells = r.cases.len() * r.runtimes.len() * r.launchers.len();
    assert_eq!(
        report::heatmap(&r).matches("</title></rect>").count(),
        cells
    );
}

/// The log tails and error lines live on the case pages: ten times the log volume leaves
/// `REPORT.md` as it was.
#[test]
fn the_report_does_not_grow_with_log_volume() {
    let r = committed_results();
    let mut loud = r.clone();
    for o in &mut loud.outcomes {
        o.log_tail = std::iter::repeat_n(o.log_tail.clone(), 10)
            .flatten()
            .collect();
        o.error_lines = std::iter::repeat_n(o.error_lines.clone(), 10)
            .flatten()
            .collect();
    }
    assert_eq!(report::markdown(&loud), report::markdown(&r));
}

/// A rerun with the same outcomes: only the lines that carry a timing figure change, in the
/// report and the case pages, and the heat map not at all.
#[test]
fn a_rerun_with_the_same_outcomes_changes_only_timing_lines() {
    let first = committed_results();
    let mut rerun = first.clone();
    rerun.generated = "2099-01-01 00:00 UTC".into();
    for o in &mut rerun.outcomes {
        o.ready_ms = o.ready_ms.map(|ms| ms * 3 + 7);
        for p in &mut o.probes {
            p.ms = p.ms * 3 + 7;
        }
    }
    if let Some(e) = &mut rerun.engine {
        e.start_ms += 1234;
        e.stop_ms = e.stop_ms.map(|ms| ms + 99);
    }
    if let Some(d) = &mut rerun.host_checks {
        d.elapsed_ms += 4321;
    }
    let (a, b) = (report::render(&first), report::render(&rerun));
    assert_eq!(report::heatmap(&first), report::heatmap(&rerun));
    let timing = regex::Regex::new(r"\d+\.\d s|\d+ ms|Generated 2099").unwrap();
    let mut changed = 0;
    let pages = a
        .case_pages
        .iter()
        .zip(&b.case_pages)
        .map(|(x, y)| (&x.1, &y.1));
    for (x, y) in std::iter::once((&a.markdown, &b.markdown)).chain(pages) {
        assert_eq!(x.lines().count(), y.lines().count());
        for (lx, ly) in x.lines().zip(y.lines()).filter(|(lx, ly)| lx != ly) {
            changed += 1;
            assert!(
                timing.is_match(ly),
                "a line without timing changed:\n{lx}\n{ly}"
            );
        }
    }
    let in_report = a
        .markdown
        .lines()
        .zip(b.markdown.lines())
        .filter(|(x, y)| x != y)
        .count();
    // The header's generation time, the doctor line, the engine line and the timing line
    // (detection and per-trial overhead) at most.
    assert!(in_report <= 4, "{in_report} lines of REPORT.md changed");
    assert!(changed > in_report, "the case pages carry the timings");
}

/// `run --fail-on`: a condition that holds fails the exit status (3) and names its trials;
/// one that does not (the outcome matches its baseline) says nothing. One real trial.
#[test]
fn fail_on_gates_the_exit_status_of_a_real_run() {
    let Some((_, runtime)) = common::newest_runsc_or_skip() else {
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .current_dir(root)
        .args(["run", "--no-doctor", "--runsc-network", "none"])
        .args([
            "--case",
            "note-attempt-3-cgroup-script",
            "--launcher",
            "oci",
        ])
        .args(["--runtime", &runtime.name, "--fail-on", "changed,not-ready"])
        .arg("--out")
        .arg(out.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let trial = format!("note-attempt-3-cgroup-script::oci::{}", runtime.name);
    assert!(
        stderr.contains(&format!("--fail-on not-ready: 1 trial(s): {trial}")),
        "{stderr}"
    );
    assert!(!stderr.contains("--fail-on changed"), "{stderr}");

    // An unknown condition is a usage error (2) that lists the known ones.
    let output = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .args(["run", "--fail-on", "chnaged"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("changed, new, refuted"), "{stderr}");
}

/// `report --merge` of the same results twice is the report of them once.
#[test]
fn merging_the_same_results_twice_changes_nothing() {
    let once = report::merge(vec![("a".into(), fixture())]).unwrap();
    let twice = report::merge(vec![("a".into(), fixture()), ("a".into(), fixture())]).unwrap();
    assert_eq!(report::render(&once), report::render(&twice));
    assert_eq!(twice.merged_from.len(), 1);
    assert!(twice.disagreements.is_empty());
}

/// Two inputs with another outcome for the same trial: the merge says so, in the data and
/// the report, and keeps the first input's outcome.
#[test]
fn inputs_that_disagree_about_a_trial_are_named() {
    let a = fixture();
    let mut b = fixture();
    b.generated = "2026-01-02T00:00:00Z".into();
    b.outcomes[1].verdict = Verdict::Exited;
    b.outcomes[1].decisive = Some("dockerd exited".into());
    let merged = report::merge(vec![("a.json".into(), a), ("b.json".into(), b)]).unwrap();
    assert_eq!(merged.disagreements.len(), 1, "{:?}", merged.disagreements);
    let d = &merged.disagreements[0];
    assert_eq!(d.trial, "base::oci::runsc-new");
    assert!(
        d.reason.contains("a.json: verdict: ready") && d.reason.contains("b.json: verdict: exited"),
        "{}",
        d.reason
    );
    let kept = merged.outcomes.iter().find(|o| o.trial == d.trial).unwrap();
    assert_eq!(kept.verdict, Verdict::Ready);
    let md = report::markdown(&merged);
    assert!(md.contains("## Inputs that disagree"), "{md}");
    check_tables(&md);
}

/// Every input's header figures (host, time, version, kernel, engine, host checks) reach the
/// merged report.
#[test]
fn a_merge_keeps_every_header_figure_of_its_inputs() {
    let mut a = fixture();
    a.host_kernel = "6.18.1".into();
    a.outcomes.retain(|o| o.runtime == "runsc-old");
    a.engine = Some(report::EngineFigures {
        dockerd: "28.5.2".into(),
        existing: None,
        start_ms: 1500,
        stop_ms: Some(300),
        imports: Vec::new(),
        reaped: Vec::new(),
        leaked_at_stop: Vec::new(),
        reload_ms: Vec::new(),
    });
    let mut b = fixture();
    b.host_kernel = "6.18.2".into();
    b.generated = "2026-01-02T00:00:00Z".into();
    b.dindcheck_version = "0.0.1".into();
    b.outcomes.retain(|o| o.runtime == "runsc-new");
    let merged = report::merge(vec![("a.json".into(), a), ("b.json".into(), b)]).unwrap();
    let md = report::markdown(&merged);
    for figure in [
        "a.json",
        "b.json",
        "6.18.1",
        "6.18.2",
        "2026-01-02T00:00:00Z",
        "0.0.1",
        "dockerd 28.5.2",
    ] {
        assert!(md.contains(figure), "{figure} missing:\n{md}");
    }
    check_tables(&md);
}

/// A results file of another schema version is refused for its version, before its other
/// keys are read (which would otherwise fail as "unknown field" or worse).
#[test]
fn merge_checks_the_schema_version_first() {
    let dir = tempfile::tempdir().unwrap();
    let future = dir.path().join("future.json");
    std::fs::write(
        &future,
        r#"{"schema": 99, "outcomes": "a shape this version cannot read"}"#,
    )
    .unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .args(["report", "--merge"])
        .arg(&future)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("has schema version 99; this dindcheck reads version 1"),
        "{stderr}"
    );
}
