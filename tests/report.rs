//! The report: rendered from fixed fixture outcomes (an insta snapshot), valid CommonMark
//! whose tables keep their shape whatever the logs contain, and `report --merge` of two
//! partitioned runs giving the same matrix as one full run (real runsc).

mod common;

use std::path::Path;
use std::process::Command;

use dindcheck::case::{Claimed, RunscNetwork};
use dindcheck::inventory::Rootfs;
use dindcheck::launch::Launcher;
use dindcheck::outcome::{DaemonInfo, Outcome, Verdict};
use dindcheck::report::{self, CaseInfo, Results, RuntimeInfo};
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
        answers: Default::default(),
        claims: vec![],
    }
}

/// Every table in `md` has as many cells in each row as in its header, and no raw HTML
/// from the logs survives.
fn check_tables(md: &str) {
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
    assert!(
        tables >= 4,
        "expected the header, matrix, claims and note tables, got {tables}"
    );
}

#[test]
fn the_report_of_fixed_outcomes() {
    let md = report::markdown(&fixture());
    check_tables(&md);
    insta::assert_snapshot!("report-fixture", md);
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
        let end = md.find("## Claims").unwrap();
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

/// Two real partitioned runs, merged, against one real full run: the same verdicts.
#[test]
fn partitioned_real_runs_merge_to_the_full_run() {
    if common::inventory_or_skip().is_none() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let tmp = std::env::temp_dir().join(format!("dindcheck-merge-{}", std::process::id()));
    let run = |out: &str, extra: &[&str]| {
        let status = Command::new(env!("CARGO_BIN_EXE_dindcheck"))
            .current_dir(root)
            .args([
                "run",
                "--runsc-network",
                "none",
                "--case",
                "merged-o-latest",
            ])
            .args(["--case", "note-attempt-4-five-flags", "--out"])
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
    std::fs::remove_dir_all(&tmp).unwrap();
    assert_eq!(full.len(), 8, "2 cases × 2 runsc × 2 launchers");
    assert_eq!(full, merged);
}
