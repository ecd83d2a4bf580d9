//! The trials of a search: each generated configuration is a real trial through the one
//! trial flow ([`crate::trial::run`], by way of the [`Session`]), run at most `jobs` at once,
//! remembered by the configuration it ran ([`super::parts::config_key`]) so that the same
//! experiment is never run twice, and numbered so that the evidence can cite it.

use std::collections::HashMap;
use std::future::Future;

use futures_util::StreamExt;

use crate::case::{Case, Probe, RunscNetwork};
use crate::inventory::Runtime;
use crate::report::answers::TrialEvidence;
use crate::session::Session;
use crate::trial::launch::Launcher;
use crate::trial::outcome::{Outcome, Verdict};
use crate::trial::plan::{RunOptions, Trial};
use crate::trial::probe::ProbeVerdict;

/// What a search must keep: dockerd ready, and these probes ok.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub probes: Vec<Probe>,
}

impl Target {
    /// `ready` then the probes, as results and messages spell the target.
    pub fn names(&self) -> Vec<String> {
        std::iter::once("ready".to_string())
            .chain(self.probes.iter().map(|p| p.as_str().to_string()))
            .collect()
    }

    /// `ready,run-none` (`--keep`): `ready` is always part of the target.
    pub fn parse(s: &str) -> Result<Target, String> {
        let mut probes = Vec::new();
        for word in s.split(',').map(str::trim).filter(|w| !w.is_empty()) {
            if word == "ready" {
                continue;
            }
            let p = Probe::ALL
                .into_iter()
                .find(|p| p.as_str() == word)
                .ok_or_else(|| {
                    let all: Vec<&str> = Probe::ALL.iter().map(|p| p.as_str()).collect();
                    format!(
                        "unknown target `{word}`: expected ready or a probe ({})",
                        all.join(", ")
                    )
                })?;
            if !probes.contains(&p) {
                probes.push(p);
            }
        }
        Ok(Target { probes })
    }

    /// Whether `o` kept the target, and what it observed in a line.
    pub fn judge(&self, o: &Outcome) -> Observation {
        let ms = o.ready_ms.unwrap_or_default();
        if o.verdict != Verdict::Ready {
            let why = o.diagnosis.as_deref().unwrap_or("unknown");
            return Observation {
                pass: false,
                observed: format!("{} ({why})", o.verdict),
                line: o.decisive.clone(),
                ms,
            };
        }
        let mut pass = true;
        let mut line = None;
        let mut words = vec!["ready".to_string()];
        for p in &self.probes {
            let r = o.probes.iter().find(|r| r.probe == *p);
            match r.map(|r| (r.verdict, r)) {
                Some((ProbeVerdict::Ok, _)) => words.push(format!("{p} ok")),
                // A network probe where the sandbox has none: neither a pass nor a failure.
                Some((ProbeVerdict::NotApplicable, _)) => words.push(format!("{p} n/a")),
                Some((ProbeVerdict::Failed, r)) => {
                    pass = false;
                    let why = r.diagnosis.as_deref().unwrap_or("unknown");
                    words.push(format!("{p} fails ({why})"));
                    line = line.or(r.detail.clone());
                }
                Some((ProbeVerdict::Skipped, r)) => {
                    pass = false;
                    // A probe is skipped when the image could not be imported: the import's
                    // own error says why (the skip's reason only points at it).
                    let load = o
                        .probes
                        .iter()
                        .find(|l| l.probe == Probe::ImageLoad && l.verdict == ProbeVerdict::Failed);
                    match load {
                        Some(l) => {
                            let why = l.diagnosis.as_deref().unwrap_or("unknown");
                            words.push(format!("{p} skipped ({why})"));
                            line = line.or(l.detail.clone());
                        }
                        None => {
                            words.push(format!("{p} skipped"));
                            line = line.or(r.detail.clone());
                        }
                    }
                }
                None => {
                    pass = false;
                    words.push(format!("{p} not run"));
                }
            }
        }
        Observation {
            pass,
            observed: words.join("; "),
            line,
            ms,
        }
    }
}

/// One trial reduced to what a search needs.
#[derive(Clone, Debug, PartialEq)]
pub struct Observation {
    pub pass: bool,
    pub observed: String,
    pub line: Option<String>,
    pub ms: u64,
}

/// Runs one generated case. The search is written against this seam so that its logic
/// (memoisation, parallelism, flaky verdicts) is tested on pure functions, and runs real
/// trials through [`SessionTrials`].
pub trait Experiment {
    /// The configuration's identity: equal keys are the same experiment.
    fn key(&self, case: &Case) -> String;
    /// One real trial; an error is a trial that could not be attempted (a host fault).
    fn run(&self, case: &Case) -> impl Future<Output = Result<Observation, String>>;
}

/// Real trials of one runtime and launcher, through the session's trial flow.
pub struct SessionTrials<'a> {
    pub session: &'a Session,
    pub runtime: Runtime,
    pub launcher: Launcher,
    pub network: Option<RunscNetwork>,
    pub target: Target,
}

impl SessionTrials<'_> {
    /// The trial of `case` (the search's own trials, and the engine's runtimes).
    pub fn trial(&self, case: &Case) -> Trial {
        let options = RunOptions {
            network_override: self.network,
            launchers: vec![self.launcher],
        };
        Trial::new(case, &self.runtime, self.launcher, &options)
    }
}

impl Experiment for SessionTrials<'_> {
    fn key(&self, case: &Case) -> String {
        let t = self.trial(case);
        super::parts::config_key(
            case,
            &self.runtime.name,
            t.launcher.as_str(),
            t.network.as_str(),
        )
    }

    async fn run(&self, case: &Case) -> Result<Observation, String> {
        let trial = self.trial(case);
        crate::trial::launch::expressible(&trial)
            .map_err(|e| format!("not expressible: {}", e.0))?;
        match self.session.run_trial(&trial).await {
            Ok(r) => Ok(self.target.judge(&r.outcome)),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// What is told of each trial as it is recorded.
pub type OnTrial = Box<dyn FnMut(&TrialEvidence) + Send>;

/// Every trial of a search, numbered, and the configurations already tried.
pub struct Book<E> {
    pub experiment: E,
    pub jobs: usize,
    /// Each configuration's trials: the first answers the search, re-runs follow.
    memo: HashMap<String, Vec<usize>>,
    pub trials: Vec<TrialEvidence>,
    /// Candidates answered from memory.
    pub memo_hits: usize,
    /// The first trial that could not be attempted: the search stops, it is no evidence.
    pub fault: Option<String>,
    /// Called as each trial is recorded (the CLI prints it).
    pub on_trial: Option<OnTrial>,
}

impl<E: Experiment> Book<E> {
    pub fn new(experiment: E, jobs: usize) -> Self {
        Book {
            experiment,
            jobs: jobs.max(1),
            memo: HashMap::new(),
            trials: Vec::new(),
            memo_hits: 0,
            fault: None,
            on_trial: None,
        }
    }

    pub fn get(&self, id: usize) -> &TrialEvidence {
        &self.trials[id - 1]
    }

    /// The trial already run for `case`'s configuration, if any.
    pub fn known(&self, case: &Case) -> Option<usize> {
        self.runs_of(case).first().copied()
    }

    /// Every trial of `case`'s configuration, re-runs included.
    pub fn runs_of(&self, case: &Case) -> Vec<usize> {
        self.memo
            .get(&self.experiment.key(case))
            .cloned()
            .unwrap_or_default()
    }

    /// Each candidate's trial id, running (at most `jobs` at once) those not tried yet. After a
    /// fault, nothing more runs and every unknown candidate fails.
    pub async fn try_all(&mut self, candidates: &[(Case, Vec<String>)]) -> Vec<Option<usize>> {
        let mut fresh: Vec<(String, &Case, &Vec<String>)> = Vec::new();
        for (case, change) in candidates {
            let key = self.experiment.key(case);
            if self.memo.contains_key(&key) || fresh.iter().any(|(k, _, _)| *k == key) {
                self.memo_hits += 1;
            } else {
                fresh.push((key, case, change));
            }
        }
        if self.fault.is_none() {
            let items: Vec<(&Case, &[String])> =
                fresh.iter().map(|(_, c, ch)| (*c, ch.as_slice())).collect();
            let ids = self.run_and_record(&items, false).await;
            for ((key, _, _), id) in fresh.iter().zip(ids) {
                if let Some(id) = id {
                    self.memo.insert(key.clone(), vec![id]);
                }
            }
        }
        candidates.iter().map(|(c, _)| self.known(c)).collect()
    }

    /// Runs each candidate again, however often it ran before (to tell a flaky verdict).
    pub async fn rerun(&mut self, candidates: &[(Case, Vec<String>)]) -> Vec<Option<usize>> {
        if self.fault.is_some() {
            return vec![None; candidates.len()];
        }
        let items: Vec<(&Case, &[String])> = candidates
            .iter()
            .map(|(c, ch)| (c, ch.as_slice()))
            .collect();
        let ids = self.run_and_record(&items, true).await;
        for ((case, _), id) in candidates.iter().zip(&ids) {
            if let Some(id) = id {
                let key = self.experiment.key(case);
                self.memo.entry(key).or_default().push(*id);
            }
        }
        ids
    }

    /// Whether trial `id` kept the target (a missing trial did not).
    pub fn passed(&self, id: Option<usize>) -> bool {
        id.is_some_and(|id| self.get(id).pass)
    }

    /// Runs `items` at most `jobs` at once and records each as it comes back (in order), so
    /// that the trials are told as they finish, not when the whole batch has.
    async fn run_and_record(
        &mut self,
        items: &[(&Case, &[String])],
        rerun: bool,
    ) -> Vec<Option<usize>> {
        let Book {
            experiment,
            jobs,
            trials,
            on_trial,
            fault,
            ..
        } = self;
        let experiment = &*experiment;
        let mut done = futures_util::stream::iter(items.iter().copied())
            .map(|(case, change)| async move { (experiment.run(case).await, change) })
            .buffered(*jobs);
        let mut ids = Vec::new();
        while let Some((result, change)) = done.next().await {
            ids.push(record(trials, on_trial, fault, result, change, rerun));
        }
        ids
    }
}

/// Numbers and keeps one trial's observation (a trial that could not run is the search's
/// fault, not evidence).
fn record(
    trials: &mut Vec<TrialEvidence>,
    on_trial: &mut Option<OnTrial>,
    fault: &mut Option<String>,
    result: Result<Observation, String>,
    change: &[String],
    rerun: bool,
) -> Option<usize> {
    match result {
        Ok(o) => {
            let id = trials.len() + 1;
            trials.push(TrialEvidence {
                id,
                change: change.to_vec(),
                pass: o.pass,
                observed: o.observed,
                line: o.line,
                ms: o.ms,
                rerun,
            });
            if let Some(f) = on_trial {
                f(&trials[id - 1]);
            }
            Some(id)
        }
        Err(e) => {
            fault.get_or_insert(e);
            None
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::Cell;

    /// A pure experiment: `keeps` judges a case; `flaky` says which configurations answer
    /// differently every other time they run.
    pub struct Pure<F: Fn(&Case) -> bool, G: Fn(&Case) -> bool> {
        pub keeps: F,
        pub flaky: G,
        pub runs: Cell<usize>,
        pub flaky_runs: Cell<usize>,
    }

    /// A pure experiment that is never flaky.
    pub fn keeping<F: Fn(&Case) -> bool>(keeps: F) -> Pure<F, fn(&Case) -> bool> {
        Pure {
            keeps,
            flaky: |_| false,
            runs: Cell::new(0),
            flaky_runs: Cell::new(0),
        }
    }

    /// Runs a search to its end on a runtime of its own.
    pub fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    impl<F: Fn(&Case) -> bool, G: Fn(&Case) -> bool> Experiment for Pure<F, G> {
        fn key(&self, case: &Case) -> String {
            crate::answers::parts::config_key(case, "r", "oci", "none")
        }
        async fn run(&self, case: &Case) -> Result<Observation, String> {
            let n = self.runs.get();
            self.runs.set(n + 1);
            let pass = if (self.flaky)(case) {
                // Passes, fails, passes, …: the first run of a flaky configuration passes.
                let f = self.flaky_runs.get();
                self.flaky_runs.set(f + 1);
                f % 2 == 0
            } else {
                (self.keeps)(case)
            };
            Ok(Observation {
                pass,
                observed: if pass {
                    "ready".into()
                } else {
                    "exited (x)".into()
                },
                line: None,
                ms: 0,
            })
        }
    }

    #[test]
    fn targets_parse_and_ready_is_always_kept() {
        let t = Target::parse("ready,run-none").unwrap();
        assert_eq!(t.names(), ["ready", "run-none"]);
        assert_eq!(Target::parse("").unwrap().names(), ["ready"]);
        assert!(
            Target::parse("ready,fly")
                .unwrap_err()
                .contains("unknown target `fly`")
        );
    }

    /// A probe skipped because the image could not be imported is judged by the import's
    /// error, not by the skip's pointer to it (which no catalogue entry can explain).
    #[test]
    fn a_skipped_probe_is_judged_by_the_image_imports_error() {
        let mut o = Outcome::fixture("t::oci::r", crate::trial::outcome::Verdict::Ready);
        o.probes = serde_json::from_value(serde_json::json!([
            {"probe": "image-load", "verdict": "failed", "ms": 1,
             "detail": "load failed: mount: permission denied", "diagnosis": "unknown"},
            {"probe": "run-none", "verdict": "skipped", "ms": 0,
             "detail": "the image could not be imported (see image-load)"}
        ]))
        .unwrap();
        let target = Target::parse("ready,run-none").unwrap();
        let seen = target.judge(&o);
        assert!(!seen.pass);
        assert_eq!(seen.observed, "ready; run-none skipped (unknown)");
        assert_eq!(
            seen.line.as_deref(),
            Some("load failed: mount: permission denied")
        );
    }
}
