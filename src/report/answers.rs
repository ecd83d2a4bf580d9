//! What `dindcheck minimize` and `dindcheck repair` found, as data: saved as JSON under
//! `reports/answers/` by the commands (they are expensive: trials by the dozen), read back
//! into [`Results::answers`](super::Results) when a report is written, and rendered by
//! the markdown format (`format/markdown/answers.rs`). The report never recomputes them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::trial::classify::{Catalogue, UNKNOWN};

/// Diagnoses `trials` again: (id, old observed, new observed) of each that changed.
fn rediagnose_trials(
    trials: &mut [TrialEvidence],
    catalogue: &Catalogue,
) -> Vec<(usize, String, String)> {
    let mut changed = Vec::new();
    for t in trials {
        if let Some(now) = t.rediagnosed(catalogue) {
            let old = std::mem::replace(&mut t.observed, now.clone());
            changed.push((t.id, old, now));
        }
    }
    changed
}

/// Where the commands save their results, under a run's output directory.
pub const ANSWERS_DIR: &str = "answers";

/// One removable part of a case (see `src/answers/parts.rs`), named as the case file has it.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(tag = "kind", content = "value", rename_all = "kebab-case")]
pub enum Part {
    /// A capability of the resolved set, without `CAP_`.
    Capability(String),
    DockerdArg(String),
    DaemonJsonKey(String),
    RunscFlag(String),
    /// A mount, by its destination.
    Mount(String),
    /// One logical line of the setup script (a line ending in `\` joins the next).
    SetupLine(String),
    /// An environment variable, by name.
    Env(String),
}

impl std::fmt::Display for Part {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Part::Capability(c) => write!(f, "CAP_{c}"),
            Part::DockerdArg(a) => write!(f, "dockerd {a}"),
            Part::DaemonJsonKey(k) => write!(f, "daemon.json key {k}"),
            Part::RunscFlag(x) => write!(f, "runsc {x}"),
            Part::Mount(d) => write!(f, "mount {d}"),
            Part::SetupLine(l) => write!(f, "setup line `{}`", l.replace('\n', " ")),
            Part::Env(k) => write!(f, "env {k}"),
        }
    }
}

/// One real trial of a search: the configuration (what it changed from the case), and what
/// it observed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct TrialEvidence {
    /// Its number in the search (1-based), as the printed evidence cites it.
    pub id: usize,
    /// What differs from the case: removed parts, or a repair's changes.
    pub change: Vec<String>,
    /// Whether it kept the target.
    pub pass: bool,
    /// `ready; run-none ok`, `exited (devices-cgroup-missing)`, `ready; run-none failed
    /// (nested-runc-exec-setns)`: the verdict, and the catalogue ids that explain it.
    pub observed: String,
    /// The decisive line when not ready, or the failed probe's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    pub ms: u64,
    /// A re-run of a configuration already tried (to tell a flaky verdict).
    #[serde(default)]
    pub rerun: bool,
}

impl TrialEvidence {
    /// The first failure `observed` names (`exited (…)`, `run-none fails (…)`, `run-none
    /// skipped (…)`, `run-none not run`), none when the trial kept its target.
    fn first_failure(&self) -> Option<&str> {
        if self.pass {
            return None;
        }
        self.observed
            .split("; ")
            .find(|w| *w != "ready" && !w.ends_with(" ok"))
    }

    /// The catalogue id that explains its failure, as `observed` shows it: none when it kept
    /// its target or its failure names no id (a probe not run, a skip recorded before skips
    /// named their cause).
    pub fn diagnosis(&self) -> Option<&str> {
        let w = self.first_failure()?.strip_suffix(')')?;
        w.rfind('(').map(|i| &w[i + 1..])
    }

    /// Its failure diagnosed again from its line by `catalogue`, when `observed` calls it
    /// `unknown` or names no cause for a line it has: the new `observed`, or none when nothing
    /// changes.
    fn rediagnosed(&self, catalogue: &Catalogue) -> Option<String> {
        let line = self.line.as_deref()?;
        let first = self.first_failure()?;
        let bare = match self.diagnosis() {
            Some(UNKNOWN) => first.strip_suffix(" (unknown)")?,
            Some(_) => return None,
            None if first.ends_with(" skipped") => first,
            None => return None,
        };
        let id = catalogue.diagnose(Some(line));
        let now = format!("{bare} ({id})");
        (now != first).then(|| self.observed.replacen(first, &now, 1))
    }
}

/// What the search concluded about one part.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PartStatus {
    /// The target holds without it (minimize: it was removed).
    NotNeeded,
    /// Every trial without it lost the target.
    Needed,
    /// Trials without it disagreed: kept, and not used to shrink.
    Flaky,
}

/// One part, its status, and the trials that prove it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct PartFinding {
    pub part: Part,
    pub status: PartStatus,
    pub trials: Vec<usize>,
    /// The evidence in a line: what happened without it.
    pub evidence: String,
}

/// Which search a result comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SearchKind {
    /// ddmin to a 1-minimal recipe.
    Minimize,
    /// Each part of the case removed alone ("why each flag, measured").
    LeaveOneOut,
}

impl PartFinding {
    /// Why a needed part is needed, in the catalogue's words: the cause of what broke in the
    /// first trial without it (`trials`: its search's), its layer and the explanation's first
    /// sentence; `unknown` says that no entry explains it. None for a part not needed, or
    /// flaky.
    pub fn cause(&self, trials: &[TrialEvidence], catalogue: &Catalogue) -> Option<String> {
        if self.status != PartStatus::Needed {
            return None;
        }
        let t = trials.iter().find(|t| Some(&t.id) == self.trials.first())?;
        let id = t.diagnosis().unwrap_or(UNKNOWN);
        Some(match catalogue.get(id) {
            Some(s) => format!(
                "cause {id} ({}): {}",
                s.layer.as_str(),
                first_sentence(&s.explanation)
            ),
            None => format!("cause {UNKNOWN}: no catalogue entry explains this line yet"),
        })
    }
}

/// Up to the end of the first sentence (a `.` followed by a space, or the end).
fn first_sentence(text: &str) -> &str {
    text.find(". ").map_or(text, |i| &text[..=i])
}

/// What a search (`minimize`, `repair`) was asked about, and when: the first keys of its
/// saved result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Asked {
    pub case: String,
    pub runtime: String,
    pub launcher: String,
    pub network: String,
    /// `ready`, then the probes that had to pass.
    pub target: Vec<String>,
    pub generated: String,
}

/// A `minimize` (or `minimize --leave-one-out`) result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Minimized {
    pub kind: SearchKind,
    #[serde(flatten)]
    pub asked: Asked,
    /// Every part of the case, in the case file's order.
    pub parts: Vec<PartFinding>,
    /// The capabilities of the result (minimize) or of the case (leave-one-out).
    pub capabilities: Vec<String>,
    /// Every part the result keeps.
    pub kept: Vec<Part>,
    /// The confirmation re-runs of the result, and how many kept the target.
    pub confirmations: Vec<usize>,
    pub confirmed: usize,
    /// False when a confirmation lost the target: the recipe is flaky.
    pub stable: bool,
    /// The case file written for the result (minimize), relative to the current directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_file: Option<String>,
    pub trials: Vec<TrialEvidence>,
    /// Candidates answered from memory (the same configuration asked again).
    pub memo_hits: usize,
    pub elapsed_ms: u64,
}

/// One repair: changes that make a failing case keep its target.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Fix {
    pub changes: Vec<String>,
    /// The trial that proved it, and the confirmation re-runs.
    pub trial: usize,
    pub confirmations: Vec<usize>,
    pub confirmed: usize,
}

/// The changes that make a case keep its target only by switching a feature off, each with
/// what it switches off: a fix made of one is degenerate (issue 24: `--bridge=none` "fixed" a
/// recipe by dropping the bridge its claim is about). Changes as `repair` writes them
/// (`answers::repair::Change`'s text); a dockerd option's value with `=` or a space.
const SWITCHES_OFF: [(&str, &str); 4] = [
    (
        "+ dockerd --bridge=none",
        "drops Docker's default bridge: containers get no network of their own",
    ),
    (
        "+ dockerd --iptables=false",
        "turns off Docker's firewall and NAT rules: no egress NAT, no published ports",
    ),
    (
        "+ dockerd --ip-forward=false",
        "turns off IP forwarding: containers reach nothing past their host",
    ),
    (
        "- runsc --net-raw",
        "takes raw and packet sockets from the sandbox: ping and packet sockets fail inside",
    ),
];

impl Fix {
    /// What this fix switches off, when it keeps the target only that way: the reason of
    /// its first change that does.
    pub fn degenerate(&self) -> Option<&'static str> {
        self.changes.iter().find_map(|c| {
            let c = c
                .replacen(' ', "\u{0}", 2)
                .replace(' ', "=")
                .replace('\u{0}', " ");
            SWITCHES_OFF
                .iter()
                .find(|(change, _)| *change == c)
                .map(|(_, why)| *why)
        })
    }
}

/// A `repair` result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Repaired {
    #[serde(flatten)]
    pub asked: Asked,
    /// How the case itself failed (trial 1).
    pub failing: String,
    /// The vocabulary's size, and where its changes came from.
    pub vocabulary: usize,
    /// Whether pairs were searched (no single change was enough), and whether the trial
    /// budget cut the search short.
    pub searched_pairs: bool,
    pub budget_exhausted: bool,
    /// Smallest first, then in the vocabulary's order.
    pub fixes: Vec<Fix>,
    pub trials: Vec<TrialEvidence>,
    pub memo_hits: usize,
    pub elapsed_ms: u64,
}

/// Every saved result of a report's answers directory.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Answers {
    #[serde(default)]
    pub minimized: Vec<Minimized>,
    #[serde(default)]
    pub repaired: Vec<Repaired>,
}

impl Repaired {
    /// The fixes in the order to recommend them: the real fixes in their saved order
    /// (smallest first), then the degenerate ones ([`Fix::degenerate`]).
    pub fn ranked_fixes(&self) -> Vec<&Fix> {
        let (real, degenerate): (Vec<&Fix>, Vec<&Fix>) =
            self.fixes.iter().partition(|f| f.degenerate().is_none());
        real.into_iter().chain(degenerate).collect()
    }
}

impl Answers {
    pub fn is_empty(&self) -> bool {
        self.minimized.is_empty() && self.repaired.is_empty()
    }

    /// Diagnoses again, with `catalogue`, every failing trial whose `observed` says `unknown`
    /// (or names no cause for the line it has), and mends the evidence and `failing` lines
    /// that quote it: a saved search keeps its lines, so an entry added since explains them
    /// without re-running a trial, and the report shows the same diagnosis everywhere.
    pub fn rediagnose(&mut self, catalogue: &Catalogue) {
        for m in &mut self.minimized {
            let changed = rediagnose_trials(&mut m.trials, catalogue);
            for f in &mut m.parts {
                for (old, new) in changed
                    .iter()
                    .filter(|(id, _, _)| f.trials.contains(id))
                    .map(|(_, o, n)| (o, n))
                {
                    f.evidence = f.evidence.replace(old.as_str(), new);
                }
            }
        }
        for r in &mut self.repaired {
            let changed = rediagnose_trials(&mut r.trials, catalogue);
            if let Some((_, old, new)) = changed.iter().find(|(id, _, _)| *id == 1)
                && r.failing == *old
            {
                r.failing = new.clone();
            }
        }
    }

    /// Reads `minimize-*.json`, `leave-one-out-*.json` and `repair-*.json` from `dir`, in
    /// name order; a file that is not a result is skipped with a warning (the report is
    /// still written). No directory: no answers.
    pub fn read_dir(dir: &Path) -> Answers {
        let mut answers = Answers::default();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return answers;
        };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_answer_file(p))
            .collect();
        files.sort();
        for path in files {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let read = if name.starts_with("repair-") {
                serde_json::from_str(&text).map(|r| answers.repaired.push(r))
            } else {
                serde_json::from_str(&text).map(|m| answers.minimized.push(m))
            };
            if let Err(e) = read {
                tracing::warn!("{}: not a minimize or repair result: {e}", path.display());
            }
        }
        answers
    }
}

/// Whether `path` is named as a saved result is (`minimize-*.json`, `leave-one-out-*.json`,
/// `repair-*.json`): a directory of them may hold a `results.json` too.
pub fn is_answer_file(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.ends_with(".json")
        && ["minimize-", "leave-one-out-", "repair-"]
            .iter()
            .any(|k| name.starts_with(k))
}

/// The file name a result is saved under: `minimize-<case>-<runtime>.json`,
/// `leave-one-out-<case>-<runtime>.json`, `repair-<case>-<runtime>.json` (a forced
/// platform's `@` becomes `-`).
pub fn file_name(kind: &str, case: &str, runtime: &str) -> String {
    format!("{kind}-{case}-{}.json", runtime.replace('@', "-"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// What a search of `case` on `runtime` was asked (the `oci` launcher, no network).
    pub(crate) fn asked(case: &str, runtime: &str, target: &[&str], generated: &str) -> Asked {
        Asked {
            case: case.into(),
            runtime: runtime.into(),
            launcher: "oci".into(),
            network: "none".into(),
            target: target.iter().map(|t| t.to_string()).collect(),
            generated: generated.into(),
        }
    }

    /// A repair of case `c` on `runtime` whose case failed as `exited`, with `trials`.
    pub(crate) fn repaired(runtime: &str, trials: Vec<TrialEvidence>) -> Repaired {
        Repaired {
            asked: asked("c", runtime, &["ready"], "g"),
            failing: "exited".into(),
            vocabulary: 1,
            searched_pairs: false,
            budget_exhausted: false,
            fixes: Vec::new(),
            trials,
            memo_hits: 0,
            elapsed_ms: 0,
        }
    }

    /// gvisor-tutorial-dockerd28 on runsc 20260905 (reports/answers/): `--bridge=none` and
    /// dropping `--net-raw` keep dockerd up by switching off what the recipe is for; the
    /// real fix, allowing packet-socket writes, is recommended first, whatever the saved
    /// order.
    #[test]
    fn a_degenerate_fix_is_ranked_after_the_real_ones_with_its_reason() {
        let fix = |change: &str, trial| Fix {
            changes: vec![change.into()],
            trial,
            confirmations: Vec::new(),
            confirmed: 0,
        };
        let mut r = repaired("runsc-20260905", Vec::new());
        r.fixes = vec![
            fix("+ dockerd --bridge none", 2),
            fix("+ runsc --allow-packet-socket-write", 3),
            fix("- runsc --net-raw", 4),
            fix("cgroup = \"gvisor\"", 5),
        ];
        let ranked: Vec<usize> = r.ranked_fixes().iter().map(|f| f.trial).collect();
        assert_eq!(ranked, [3, 5, 2, 4]);
        assert_eq!(
            r.fixes[0].degenerate(),
            Some("drops Docker's default bridge: containers get no network of their own")
        );
        assert!(r.fixes[2].degenerate().unwrap().starts_with("takes raw"));
        assert_eq!(r.fixes[1].degenerate(), None);
        // A pair is degenerate when one of its changes is.
        let pair = Fix {
            changes: vec![
                "cgroup = \"gvisor\"".into(),
                "+ dockerd --iptables=false".into(),
            ],
            ..fix("", 6)
        };
        assert!(pair.degenerate().is_some());
    }

    #[test]
    fn saved_results_are_read_by_their_file_names_and_a_stray_file_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let repaired = repaired("r", Vec::new());
        let name = file_name("repair", "c", "runsc-20240729@systrap");
        assert_eq!(name, "repair-c-runsc-20240729-systrap.json");
        std::fs::write(
            dir.path().join(&name),
            serde_json::to_string(&repaired).unwrap(),
        )
        .unwrap();
        std::fs::write(dir.path().join("minimize-x-r.json"), "{}").unwrap();
        let answers = Answers::read_dir(dir.path());
        assert_eq!(answers.repaired, [repaired]);
        assert!(answers.minimized.is_empty());
        assert!(Answers::read_dir(&dir.path().join("absent")).is_empty());
    }

    fn evidence(id: usize, observed: &str, line: &str) -> TrialEvidence {
        TrialEvidence {
            id,
            change: Vec::new(),
            pass: false,
            observed: observed.into(),
            line: Some(line.into()),
            ms: 0,
            rerun: false,
        }
    }

    /// A saved search keeps its lines: an entry added since it ran explains them, in its
    /// trials, its parts' evidence and its `failing` line alike; a known diagnosis stays.
    #[test]
    fn saved_unknowns_are_diagnosed_again_by_the_current_catalogue() {
        let chown = "failed to load listeners: can't create unix socket /run/dindcheck/docker.sock: chown /run/dindcheck/docker.sock: operation not permitted";
        let caps = "Error response from daemon: failed to create shim task: OCI runtime create failed: runc create failed: unable to start container process: unable to apply caps: operation not permitted: unknown";
        let mut a = Answers {
            minimized: Vec::new(),
            repaired: vec![{
                let mut r = repaired(
                    "r",
                    vec![
                        evidence(1, "exited (unknown)", chown),
                        evidence(2, "ready; run-none fails (unknown)", caps),
                        evidence(
                            3,
                            "ready; run-none skipped",
                            "the image could not be imported (see image-load)",
                        ),
                        evidence(4, "exited (devices-cgroup-missing)", chown),
                    ],
                );
                r.failing = "exited (unknown)".into();
                r
            }],
        };
        a.rediagnose(Catalogue::builtin());
        let r = &a.repaired[0];
        assert_eq!(r.failing, "exited (cap-chown-missing)");
        let observed: Vec<&str> = r.trials.iter().map(|t| t.observed.as_str()).collect();
        assert_eq!(
            observed,
            [
                "exited (cap-chown-missing)",
                "ready; run-none fails (nested-runc-apply-caps)",
                "ready; run-none skipped (unknown)",
                "exited (devices-cgroup-missing)",
            ]
        );
        assert_eq!(r.trials[1].diagnosis(), Some("nested-runc-apply-caps"));
        assert_eq!(r.trials[2].diagnosis(), Some(UNKNOWN));
    }
}
