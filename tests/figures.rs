//! One source for figures (issue 24): every figure that README.md, reports/BENCH.md and
//! reports/REPORT.md state about the committed results agrees with `reports/results.json`
//! and with the repository (its case files, malformed case files and baselines, counted).
//! A figure typed by hand that a regenerated results file no longer holds fails here, with
//! the sentence and what the data says.
//!
//! Figures that describe another run (a dated measurement in BENCH.md, with its command) are
//! not the committed results' and stay as measured.

use std::path::Path;

use dindcheck::report::Results;
use regex::Regex;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap()
}

fn results() -> Results {
    serde_json::from_str(&read("reports/results.json")).unwrap()
}

/// How many files in `dir` end with `ext`.
fn count(dir: &str, ext: &str) -> usize {
    std::fs::read_dir(root().join(dir))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(ext))
        .count()
}

/// Every match of `pattern` in `text` (the whole match and its captures as numbers);
/// `what` names the figure when there is none, so that a reworded sentence does not pass
/// as agreement.
fn figures(text: &str, pattern: &str, what: &str) -> Vec<(String, Vec<usize>)> {
    let found: Vec<(String, Vec<usize>)> = Regex::new(pattern)
        .unwrap()
        .captures_iter(text)
        .map(|c| {
            let numbers = c
                .iter()
                .skip(1)
                .map(|m| m.unwrap().as_str().parse().unwrap())
                .collect();
            (c[0].to_string(), numbers)
        })
        .collect();
    assert!(
        !found.is_empty(),
        "no statement of {what} found (pattern {pattern}): reworded? update this test"
    );
    found
}

/// What the committed results hold: (trials, cases, runtimes, launchers, not expressible).
fn shape(r: &Results) -> Vec<usize> {
    vec![
        r.outcomes.len(),
        r.cases.len(),
        r.runtimes.len(),
        r.launchers.len(),
        r.not_expressible.len(),
    ]
}

#[test]
fn the_reports_summary_agrees_with_results_json() {
    let r = results();
    let md = read("reports/REPORT.md");
    for (sentence, n) in figures(
        &md,
        r"\*\*(\d+) trials\*\* \((\d+) cases × (\d+) runtimes × (\d+) launchers\): ✔ (\d+) ready · ✖ (\d+) exited · ✖ (\d+) launch-failed · ⧗ (\d+) timeout · (\d+) not expressible",
        "REPORT.md's trial counts",
    ) {
        let verdicts = |v: &str| {
            r.outcomes
                .iter()
                .filter(|o| o.verdict.to_string() == v)
                .count()
        };
        let data = vec![
            r.outcomes.len(),
            r.cases.len(),
            r.runtimes.len(),
            r.launchers.len(),
            verdicts("ready"),
            verdicts("exited"),
            verdicts("launch-failed"),
            verdicts("timeout"),
            r.not_expressible.len(),
        ];
        assert_eq!(n, data, "REPORT.md says: {sentence}");
    }
}

/// The committed results are of the corpus as committed: each case file that is not
/// abstract is in them, and no other case.
#[test]
fn the_committed_results_are_of_the_committed_corpus() {
    let r = results();
    // As the loader reads the corpus: an abstract case (a base others extend) is never run.
    let corpus = dindcheck::case::load_dir(&root().join("cases")).expect("the corpus loads");
    let mut files: Vec<String> = corpus.runnable().map(|c| c.name.clone()).collect();
    files.sort();
    let mut cases: Vec<String> = r.cases.iter().map(|c| c.name.clone()).collect();
    cases.sort();
    assert_eq!(
        cases, files,
        "reports/results.json's cases and cases/*.toml"
    );
}

#[test]
fn benchs_default_run_agrees_with_results_json() {
    let r = results();
    let bench = read("reports/BENCH.md");
    for (sentence, n) in figures(
        &bench,
        r"the default run: (\d+) trials \((\d+) cases × (\d+) runsc × (\d+) launchers, (\d+) not expressible\)",
        "the default run's shape",
    ) {
        assert_eq!(n, shape(&r), "BENCH.md says: {sentence}");
    }
    // Real sandbox networking: the trials of a runsc whose sandbox network starts here.
    let real = r
        .outcomes
        .iter()
        .filter(|o| {
            r.network_override.is_none()
                && r.runtimes
                    .iter()
                    .any(|rt| rt.name == o.runtime && rt.sandbox_network.is_none())
        })
        .count();
    for (sentence, n) in figures(
        &bench,
        r"it is (\d+) now, of which (\d+) run with real\s+sandbox networking",
        "the trials with real sandbox networking",
    ) {
        assert_eq!(n, [r.outcomes.len(), real], "BENCH.md says: {sentence}");
    }
}

/// BENCH.md's probe durations are the committed run's (issue 24: it said 0.5–1.5 s while
/// the case pages showed 8.9–10.6 s): the upper median, the 90th percentile and the worst of
/// the passing probes' `ms`, to a tenth of a second.
#[test]
fn benchs_probe_durations_are_the_committed_runs() {
    let r = results();
    let mut ms: Vec<u64> = r
        .outcomes
        .iter()
        .flat_map(|o| &o.probes)
        .filter(|p| p.verdict == dindcheck::trial::probe::ProbeVerdict::Ok)
        .map(|p| p.ms)
        .collect();
    ms.sort_unstable();
    let n = ms.len();
    let s = |ms: u64| format!("{:.1} s", ms as f64 / 1000.0);
    let data = format!(
        "median {}, 90th percentile {}, worst {} over its {n} passing probes",
        s(ms[n / 2]),
        s(ms[9 * n / 10]),
        s(ms[n - 1])
    );
    let bench = read("reports/BENCH.md");
    let (sentence, _) = &figures(
        &bench,
        r"median [0-9.]+ s, 90th percentile [0-9.]+ s, worst [0-9.]+ s over its (\d+)\s+passing probes",
        "the probes' durations",
    )[0];
    // However the paragraph is wrapped.
    let sentence = sentence.split_whitespace().collect::<Vec<_>>().join(" ");
    assert_eq!(sentence, data, "BENCH.md's probe durations; results.json's");
}

#[test]
fn counts_of_the_repositorys_files_agree_with_the_files() {
    let baselines = count("tests/baselines", ".snap");
    let bad_cases = count("tests/bad-cases", ".toml");
    let cases = count("cases", ".toml");
    let mut stated = 0;
    for file in ["README.md", "reports/BENCH.md", "reports/REPORT.md"] {
        let text = read(file);
        for (pattern, files) in [
            (r"(\d+)\s+conformance\s+trials", baselines),
            (r"(\d+)\s+malformed\s+case\s+files", bad_cases),
            (r"(\d+)\s+case\s+files", cases),
        ] {
            for c in Regex::new(pattern).unwrap().captures_iter(&text) {
                stated += 1;
                let n: usize = c[1].parse().unwrap();
                assert_eq!(n, files, "{file} says: {}", &c[0]);
            }
        }
    }
    assert!(stated > 0, "no count of the repository's files found");
}

#[test]
fn the_readmes_runsc_releases_and_docker_versions_are_the_results() {
    let r = results();
    let readme = read("README.md");
    for rt in &r.runtimes {
        let release = rt.name.trim_start_matches("runsc-");
        assert!(
            readme.contains(release),
            "README.md does not name {release}"
        );
    }
    // The README spells small counts as words.
    let words = [
        "no", "one", "two", "three", "four", "five", "six", "seven", "eight",
    ];
    let stated = format!("{} runsc releases", words[r.runtimes.len()]);
    assert!(
        readme.contains(&stated),
        "README.md does not say \"{stated}\" (results.json has {} runtimes)",
        r.runtimes.len()
    );
    for fs in &r.rootfs {
        // `20.10.24+dfsg1-…` is stated as `20.10`.
        let minor: String = fs.docker.split('.').take(2).collect::<Vec<_>>().join(".");
        assert!(
            readme.contains(&minor),
            "README.md does not name Docker {minor} ({})",
            fs.name
        );
    }
}
