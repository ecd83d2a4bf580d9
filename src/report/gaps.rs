//! The catalogue's coverage over everything saved: every failure of a run's outcomes (a
//! verdict other than ready, a failed probe) and of every `minimize`/`repair` trial, taken by
//! the line that decides its diagnosis, clustered by that line with its variable parts
//! (ids, paths of temporary directories, numbers) normalised away, most frequent first. A
//! cluster diagnosed `unknown` is a gap in `catalogue/errors.toml`; `dindcheck gaps` prints
//! the clusters and the report's "Catalogue gaps" section lists the unexplained ones.
//!
//! The corpus's own trials are explained by construction (their baselines hold them); the
//! answers' trials are configurations nobody wrote down, as a user's own recipe is, so they are
//! what the catalogue's coverage is measured on.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use regex::Regex;
use serde::{Deserialize, Serialize};

use super::Results;
use super::answers::Answers;
use crate::trial::classify::{Catalogue, UNKNOWN};
use crate::trial::outcome::{Outcome, Verdict};
use crate::trial::probe::ProbeVerdict;

/// One failure: the line its diagnosis was made from, the diagnosis, and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The decisive line (not ready), a failed probe's error, or a search trial's line.
    pub line: Option<String>,
    /// A catalogue id, or `unknown`.
    pub diagnosis: String,
    /// The configuration that produced it: the trial's name, or the search, its trial and
    /// what that trial changed.
    pub configuration: String,
}

/// Failures whose lines are the same once normalised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Cluster {
    /// The normalised line (`(no line)` when the failure recorded none).
    pub signature: String,
    pub count: usize,
    /// A catalogue id, or `unknown`.
    pub diagnosis: String,
    /// The first line of the cluster, as recorded.
    pub example: String,
    /// The configuration that produced the example.
    pub configuration: String,
}

/// Every failure of some saved results, clustered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Gaps {
    /// Failures seen (a failing search trial counts once; a run's trial once for its verdict
    /// and once for each failed probe).
    pub failures: usize,
    /// Of them, how many no catalogue cause explains.
    pub unknown: usize,
    /// Most frequent first, then by signature.
    pub clusters: Vec<Cluster>,
}

impl Gaps {
    /// Clusters `failures` by their normalised lines (and diagnosis).
    pub fn of(failures: impl IntoIterator<Item = Failure>) -> Gaps {
        let mut gaps = Gaps::default();
        for f in failures {
            gaps.failures += 1;
            if f.diagnosis == UNKNOWN {
                gaps.unknown += 1;
            }
            let line = f.line.as_deref().unwrap_or("(no line)");
            let signature = normalise(line);
            match gaps
                .clusters
                .iter_mut()
                .find(|c| c.signature == signature && c.diagnosis == f.diagnosis)
            {
                Some(c) => c.count += 1,
                None => gaps.clusters.push(Cluster {
                    signature,
                    count: 1,
                    diagnosis: f.diagnosis,
                    example: line.to_string(),
                    configuration: f.configuration,
                }),
            }
        }
        // Stable: equal counts keep the order they were first seen in.
        gaps.clusters.sort_by_key(|c| std::cmp::Reverse(c.count));
        gaps
    }

    /// The clusters no catalogue cause explains.
    pub fn unexplained(&self) -> impl Iterator<Item = &Cluster> {
        self.clusters.iter().filter(|c| c.diagnosis == UNKNOWN)
    }

    /// `3 of 120 failures unexplained (2.5 %)`.
    pub fn rate(&self) -> String {
        let pct = if self.failures == 0 {
            0.0
        } else {
            100.0 * self.unknown as f64 / self.failures as f64
        };
        format!(
            "{} of {} failures unexplained ({pct:.1} %)",
            self.unknown, self.failures
        )
    }
}

/// A run's failures: each trial's verdict when not ready (by its decisive line), and each of
/// its failed probes (by the probe's error), with the diagnoses the outcomes carry.
pub fn of_outcomes<'a>(outcomes: impl IntoIterator<Item = &'a Outcome>) -> Vec<Failure> {
    let mut failures = Vec::new();
    for o in outcomes {
        if o.verdict != Verdict::Ready {
            failures.push(Failure {
                line: o.decisive.clone(),
                diagnosis: o.diagnosis.clone().unwrap_or_else(|| UNKNOWN.to_string()),
                configuration: o.trial.clone(),
            });
        }
        for p in o
            .probes
            .iter()
            .filter(|p| p.verdict == ProbeVerdict::Failed)
        {
            failures.push(Failure {
                line: p.detail.clone(),
                diagnosis: p.diagnosis.clone().unwrap_or_else(|| UNKNOWN.to_string()),
                configuration: format!("{} probe {}", o.trial, p.probe),
            });
        }
    }
    failures
}

/// The searches' failing trials, each by its line and the diagnosis its `observed` shows
/// ([`super::answers::TrialEvidence::diagnosis`]).
pub fn of_answers(a: &Answers) -> Vec<Failure> {
    let mut failures = Vec::new();
    let searches = a
        .minimized
        .iter()
        .map(|m| {
            let kind = match m.kind {
                super::answers::SearchKind::Minimize => "minimize",
                super::answers::SearchKind::LeaveOneOut => "leave-one-out",
            };
            (kind, &m.asked.case, &m.asked.runtime, &m.trials)
        })
        .chain(
            a.repaired
                .iter()
                .map(|r| ("repair", &r.asked.case, &r.asked.runtime, &r.trials)),
        );
    for (kind, case, runtime, trials) in searches {
        for t in trials.iter().filter(|t| !t.pass) {
            let change = if t.change.is_empty() {
                "the case as it is".to_string()
            } else {
                t.change.join(", ")
            };
            failures.push(Failure {
                line: t.line.clone(),
                diagnosis: t.diagnosis().unwrap_or(UNKNOWN).to_string(),
                configuration: format!("{kind} {case} on {runtime}, trial {}: {change}", t.id),
            });
        }
    }
    failures
}

/// Where the exploration sweep (`scripts/explore`) saves its searches, under a report's
/// output directory.
pub const EXPLORE_DIR: &str = "explore";

/// The catalogue measured over the exploration sweep's searches: configurations around the
/// corpus's recipes, as a user's own would be.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Exploration {
    /// The directory, as given (`reports/explore`).
    pub dir: String,
    /// How many searches (minimize, leave-one-out, repair) were saved there.
    pub searches: usize,
    pub gaps: Gaps,
}

impl Exploration {
    /// The searches saved in `dir`, diagnosed with `catalogue`; none when there are none.
    pub fn read(dir: &Path, catalogue: &Catalogue) -> Option<Exploration> {
        let mut answers = Answers::read_dir(dir);
        if answers.is_empty() {
            return None;
        }
        answers.rediagnose(catalogue);
        Some(Exploration {
            dir: dir.display().to_string(),
            searches: answers.minimized.len() + answers.repaired.len(),
            gaps: Gaps::of(of_answers(&answers)),
        })
    }
}

/// A saved file that cannot be read as results.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum SavedError {
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is neither a results.json nor a saved minimize or repair result")]
    NotResults {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

/// Everything saved that a failure can come from: runs' outcomes and searches' answers.
#[derive(Clone, Debug, Default)]
pub struct Saved {
    pub outcomes: Vec<Outcome>,
    pub answers: Answers,
}

impl Saved {
    /// Reads each of `paths`: a `results.json` (its outcomes and the answers it carries), a
    /// saved `minimize-`/`leave-one-out-`/`repair-` result, or a directory: its
    /// `results.json` if any, and the saved results in it and in its `answers/` (which stand
    /// for those its results.json carries, as when its report is written).
    pub fn read(paths: &[PathBuf]) -> Result<Saved, SavedError> {
        let mut saved = Saved::default();
        for path in paths {
            if !path.is_dir() {
                saved.read_file(path)?;
                continue;
            }
            let results = path.join("results.json");
            let mut answers = Answers::read_dir(path);
            let nested = Answers::read_dir(&path.join(super::answers::ANSWERS_DIR));
            answers.minimized.extend(nested.minimized);
            answers.repaired.extend(nested.repaired);
            if results.is_file() {
                let r: Results = parse(&results)?;
                saved.outcomes.extend(r.outcomes);
                if answers.is_empty() {
                    answers = r.answers;
                }
            }
            saved.answers.minimized.extend(answers.minimized);
            saved.answers.repaired.extend(answers.repaired);
        }
        Ok(saved)
    }

    fn read_file(&mut self, path: &Path) -> Result<(), SavedError> {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if !super::answers::is_answer_file(path) {
            let r: Results = parse(path)?;
            self.outcomes.extend(r.outcomes);
            self.answers.minimized.extend(r.answers.minimized);
            self.answers.repaired.extend(r.answers.repaired);
        } else if name.starts_with("repair-") {
            self.answers.repaired.push(parse(path)?);
        } else {
            self.answers.minimized.push(parse(path)?);
        }
        Ok(())
    }

    /// Every failure diagnosed again with `catalogue`: the lines are what was saved, the
    /// diagnoses are what the catalogue says of them now.
    pub fn gaps(mut self, catalogue: &Catalogue) -> Gaps {
        for o in &mut self.outcomes {
            o.classify(catalogue);
        }
        self.answers.rediagnose(catalogue);
        Gaps::of(
            of_outcomes(&self.outcomes)
                .into_iter()
                .chain(of_answers(&self.answers)),
        )
    }
}

fn parse<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, SavedError> {
    let text = std::fs::read_to_string(path).map_err(|source| SavedError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| SavedError::NotResults {
        path: path.to_path_buf(),
        source,
    })
}

/// What `dindcheck gaps` prints: the rate, then each cluster (the unexplained ones, or
/// `all`), most frequent first, with its diagnosis, example line and configuration.
pub fn render(gaps: &Gaps, all: bool) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let shown: Vec<&Cluster> = if all {
        gaps.clusters.iter().collect()
    } else {
        gaps.unexplained().collect()
    };
    let _ = writeln!(
        s,
        "{}; {} clusters of lines, {} of them unexplained",
        gaps.rate(),
        gaps.clusters.len(),
        gaps.unexplained().count()
    );
    for c in shown {
        let _ = writeln!(s, "\n{:>5}  {}\n       {}", c.count, c.diagnosis, c.example);
        let _ = writeln!(s, "       from {}", c.configuration);
    }
    s
}

/// A line with what varies from run to run replaced: long hex ids, temporary directories,
/// numbers. Lines that differ only there are one cluster.
pub fn normalise(line: &str) -> String {
    static HEX: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b[0-9a-f]{12,}\b").expect("a valid pattern"));
    static TMP: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"/tmp/[^\s:'\x22]*").expect("a valid pattern"));
    static NUMBER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"\b[0-9]+\b").expect("a valid pattern"));
    let s = HEX.replace_all(line, "<id>");
    let s = TMP.replace_all(&s, "<tmp>");
    NUMBER.replace_all(&s, "<n>").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::answers::{Minimized, Repaired, SearchKind, TrialEvidence};

    fn trial(id: usize, observed: &str, line: Option<&str>) -> TrialEvidence {
        TrialEvidence {
            id,
            change: vec![format!("without CAP_{id}")],
            pass: observed == "ready; run-none ok",
            observed: observed.into(),
            line: line.map(str::to_string),
            ms: 0,
            rerun: false,
        }
    }

    fn repaired(trials: Vec<TrialEvidence>) -> Repaired {
        crate::report::answers::tests::repaired("runsc-20240729", trials)
    }

    #[test]
    fn lines_that_differ_in_ids_numbers_and_temporary_paths_are_one_signature() {
        assert_eq!(
            normalise("listen unix /var/run/docker/libnetwork/3f2a9c81be77d0a1.sock: bind"),
            "listen unix /var/run/docker/libnetwork/<id>.sock: bind"
        );
        assert_eq!(
            normalise("setup failed (exit 32): mount /tmp/dindcheck-1943-24/x: ipv4"),
            normalise("setup failed (exit 1): mount /tmp/other: ipv4")
        );
        assert_eq!(normalise("inode number 86"), "inode number <n>");
        // Words with digits are words: ipv4, ip6tables, CAP_... stay as they are.
        assert_eq!(normalise("ip6tables ipv4 runc"), "ip6tables ipv4 runc");
    }

    #[test]
    fn failing_trials_cluster_by_line_most_frequent_first_with_the_unknown_rate() {
        let caps = "runc create failed: unable to apply caps: operation not permitted: unknown";
        let answers = Answers {
            minimized: Vec::new(),
            repaired: vec![repaired(vec![
                trial(
                    1,
                    "exited (devices-cgroup-missing)",
                    Some("Devices cgroup isn't mounted"),
                ),
                trial(2, "ready; run-none fails (unknown)", Some(caps)),
                trial(3, "ready; run-none ok", None),
                trial(4, "ready; run-none fails (unknown)", Some(caps)),
                trial(5, "ready; run-none not run", None),
            ])],
        };
        let gaps = Gaps::of(of_answers(&answers));
        assert_eq!((gaps.failures, gaps.unknown), (4, 3));
        assert_eq!(gaps.rate(), "3 of 4 failures unexplained (75.0 %)");
        let first = &gaps.clusters[0];
        assert_eq!((first.count, first.diagnosis.as_str()), (2, UNKNOWN));
        assert_eq!(first.example, caps);
        assert_eq!(
            first.configuration,
            "repair c on runsc-20240729, trial 2: without CAP_2"
        );
        assert_eq!(gaps.clusters[1].diagnosis, "devices-cgroup-missing");
        assert_eq!(gaps.clusters[2].signature, "(no line)");
        assert_eq!(gaps.unexplained().count(), 2);
        let text = render(&gaps, false);
        assert!(
            text.starts_with(
                "3 of 4 failures unexplained (75.0 %); 3 clusters of lines, 2 of them unexplained\n"
            ),
            "{text}"
        );
        assert!(text.contains(&format!("\n    2  unknown\n       {caps}\n       from repair c on runsc-20240729, trial 2: without CAP_2\n")), "{text}");
        assert!(!text.contains("devices-cgroup-missing"), "{text}");
        assert!(render(&gaps, true).contains("devices-cgroup-missing"));
    }

    #[test]
    fn a_runs_failures_are_its_verdicts_and_its_failed_probes() {
        let mut o = Outcome::fixture("t::oci::r", Verdict::Ready);
        o.probes = serde_json::from_value(serde_json::json!([
            {"probe": "exec", "verdict": "failed", "ms": 1, "detail": "boom 12",
             "diagnosis": "unknown"},
            {"probe": "build", "verdict": "skipped", "ms": 0, "detail": "no image"}
        ]))
        .unwrap();
        let f = of_outcomes([&o]);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].configuration, "t::oci::r probe exec");
        let gaps = Gaps::of(f);
        assert_eq!(gaps.clusters[0].signature, "boom <n>");
        let m = Minimized {
            kind: SearchKind::LeaveOneOut,
            asked: crate::report::answers::tests::asked("c", "r", &[], "g"),
            parts: Vec::new(),
            capabilities: Vec::new(),
            kept: Vec::new(),
            confirmations: Vec::new(),
            confirmed: 0,
            stable: true,
            case_file: None,
            trials: vec![trial(1, "exited (unknown)", Some("x"))],
            memo_hits: 0,
            elapsed_ms: 0,
        };
        let a = Answers {
            minimized: vec![m],
            repaired: Vec::new(),
        };
        assert_eq!(
            of_answers(&a)[0].configuration,
            "leave-one-out c on r, trial 1: without CAP_1"
        );
    }

    /// The committed reports (reports/results.json and reports/answers/), diagnosed by the
    /// catalogue as it is now: the saved lines are the evidence, the diagnoses are the
    /// catalogue's reading of them, so a new entry is checked against every line already
    /// saved without rerunning the trials that saved it.
    fn saved_report() -> Results {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("reports");
        let text = std::fs::read_to_string(dir.join("results.json")).unwrap();
        let mut r: Results = serde_json::from_str(&text).unwrap();
        for o in &mut r.outcomes {
            o.classify(Catalogue::builtin());
        }
        r.answers = Answers::read_dir(&dir.join(super::super::answers::ANSWERS_DIR));
        r.answers.rediagnose(Catalogue::builtin());
        r
    }

    /// The report's "Catalogue gaps" section lists every unexplained line the report shows
    /// anywhere (a verdict, a probe, a search's trial; `REPORT.md` or a page beside it), and
    /// says "None" only when the report shows no `(unknown)` at all (issue 26: it said "None"
    /// beside about 20 of them).
    #[test]
    fn the_gaps_section_agrees_with_every_unknown_the_report_shows() {
        let r = saved_report();
        let rendered = crate::report::render(&r);
        let md = rendered.markdown;
        let start = md.find("\n## Catalogue gaps\n").expect("a gaps section");
        let end = md[start + 1..]
            .find("\n## ")
            .map_or(md.len(), |e| start + 1 + e);
        let section = &md[start..end];
        let rest = std::iter::once(format!("{}{}", &md[..start], &md[end..]))
            .chain(rendered.pages.into_iter().map(|p| p.text))
            .collect::<Vec<_>>()
            .join("\n");
        let mut shown: Vec<String> = Vec::new();
        for t in r
            .answers
            .minimized
            .iter()
            .flat_map(|m| &m.trials)
            .chain(r.answers.repaired.iter().flat_map(|x| &x.trials))
        {
            // A trial saves the line of its first failure only, and that is the one it is
            // diagnosed by and counted for (a later probe's "(unknown)" has no line saved to
            // read again: a stale mark, not a gap of its own).
            if t.diagnosis() == Some(UNKNOWN) {
                shown.push(normalise(t.line.as_deref().unwrap_or("(no line)")));
            }
        }
        for f in of_outcomes(&r.outcomes) {
            if f.diagnosis == UNKNOWN {
                shown.push(normalise(f.line.as_deref().unwrap_or("(no line)")));
            }
        }
        let gaps = Gaps::of(
            of_outcomes(&r.outcomes)
                .into_iter()
                .chain(of_answers(&r.answers)),
        );
        assert_eq!(gaps.unknown, shown.len(), "{section}");
        for line in &shown {
            let c = gaps
                .unexplained()
                .find(|c| c.signature == *line)
                .unwrap_or_else(|| panic!("no cluster for a shown unknown: {line}"));
            assert!(
                section.contains(&crate::report::cell(&c.example)),
                "the section does not list\n    {line}\n{section}"
            );
        }
        let unknown_shown = rest.contains("(unknown)") || rest.contains("✖ unknown");
        assert_eq!(
            section.contains("None:"),
            !unknown_shown,
            "the section says None while the report shows unknowns, or the reverse\n{section}"
        );
    }

    /// Wrong is worse than unknown: every failing line saved in the committed reports (the
    /// run's and every search's) is claimed by at most one cause of the catalogue, so that no
    /// diagnosis of real evidence depends on the catalogue's order.
    #[test]
    fn no_saved_line_is_claimed_by_two_causes() {
        let r = saved_report();
        let failures = of_outcomes(&r.outcomes)
            .into_iter()
            .chain(of_answers(&r.answers));
        let mut problems = Vec::new();
        for f in failures {
            let Some(line) = f.line else { continue };
            let causes: Vec<&str> = Catalogue::builtin()
                .signatures
                .iter()
                .filter(|s| s.kind == crate::trial::classify::Kind::Cause && s.matches(&line))
                .map(|s| s.id.as_str())
                .collect();
            if causes.len() > 1 {
                problems.push(format!("{causes:?} ({}):\n    {line}", f.configuration));
            }
        }
        problems.dedup();
        assert!(problems.is_empty(), "\n{}", problems.join("\n"));
    }
}
