//! One run's lifecycle, from what a killed earlier run left to the ordered results: the
//! CLI's `run` and the conformance harness go through the same steps.
//!
//! 1. [`reap`] what dead runs left (scratch directories, outer engines);
//! 2. [`split_expressible`]: a trial its launcher cannot express is reported, never run as
//!    something else;
//! 3. [`Session::host_checks`]: doctor's quick checks, and the trials this host cannot test;
//! 4. [`Session::start_engine`] when some trial goes through the engine, images imported;
//! 5. [`Session::run`] the trials, at most `jobs` at once;
//! 6. [`Session::stop_engine`], and [`Session::results`] in the plan's order.
//!
//! Signal cleanup is [`super::signal`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::doctor::{self, Diagnosis, DoctorOptions};
use crate::inventory::Inventory;
use crate::launch::engine::{self, EngineRuntime, OuterEngine, image::Image};
use crate::launch::scratch::{self, Stale};
use crate::launch::{Launcher, expressible};
use crate::outcome::Outcome;
use crate::plan::{NotRun, Trial};
use crate::report::{EngineFigures, Results, RunRecord};
use crate::runner::{RunContext, TrialError, TrialResult, run_all, run_trial};

use super::error::SessionError;
use super::selection::Planned;

/// What dead runs left, and was ended.
#[derive(Debug, Default)]
pub struct Reaped {
    /// Outer engines and what ran under them.
    pub engines: Vec<String>,
    /// Scratch directories, with what still ran in them.
    pub scratch: Vec<Stale>,
}

impl Reaped {
    /// One line per thing ended, for a front end to print.
    pub fn describe(&self) -> Vec<String> {
        let engines = self
            .engines
            .iter()
            .map(|e| format!("ended what a dead run's outer engine left: {e}"));
        let scratch = self.scratch.iter().map(|s| {
            format!(
                "removed what an earlier, dead run left for {} ({} containers, {} processes) in {}",
                s.trial,
                s.leftovers.containers.len(),
                s.leftovers.processes.len(),
                s.dir.display()
            )
        });
        engines.chain(scratch).collect()
    }
}

/// Ends what earlier dindcheck processes that were killed outright left under `home`.
pub fn reap(home: &Path) -> Reaped {
    Reaped {
        engines: engine::reap_stale_engines(home),
        scratch: scratch::reap_stale(home),
    }
}

/// Splits `trials` into those their launcher can express and those it cannot, with why.
pub fn split_expressible(trials: &[Trial]) -> (Vec<Trial>, Vec<NotRun>) {
    let mut run = Vec::new();
    let mut not = Vec::new();
    for t in trials {
        match expressible(t) {
            Ok(()) => run.push(t.clone()),
            Err(e) => not.push(NotRun {
                trial: t.name(),
                reason: e.0,
            }),
        }
    }
    (run, not)
}

/// What running the trials gave.
#[derive(Debug, Default)]
pub struct Ran {
    /// In the order the trials finished.
    pub outcomes: Vec<Outcome>,
    /// Trials that could not be attempted, with the reason.
    pub not_run: Vec<NotRun>,
    /// Engine trials whose sandbox the engine left running after the container was removed
    /// (ended).
    pub leaked: Vec<NotRun>,
}

/// A run: the host, the inventory, and the outer engine once started.
pub struct Session {
    pub home: PathBuf,
    pub inventory: Inventory,
    /// Keep each trial's scratch directory (processes are ended all the same).
    pub keep_scratch: bool,
    /// Readiness only: no workload probes after a trial is ready.
    pub no_probes: bool,
    /// An existing engine (`unix:///path`) to use instead of starting one.
    pub existing_engine: Option<String>,
    /// An earlier run's wall times (the trials start longest first, [`super::schedule`])
    /// and the outcomes to reuse ([`super::reuse`]).
    pub earlier: super::schedule::Earlier,
    engine: Option<Arc<OuterEngine>>,
}

impl Session {
    pub fn new(home: PathBuf, inventory: Inventory) -> Session {
        Session {
            home,
            inventory,
            keep_scratch: false,
            no_probes: false,
            existing_engine: None,
            earlier: Default::default(),
            engine: None,
        }
    }

    /// doctor's quick checks for the runsc binaries (and forced platforms) of `trials`.
    pub async fn host_checks(&self, trials: &[Trial]) -> Diagnosis {
        let options = DoctorOptions::for_trials(self.home.clone(), trials);
        doctor::diagnose(&options).await
    }

    /// Starts the outer engine when some trial needs it (or connects to the existing one),
    /// with one runtime per distinct runsc binary and flags among those trials, and imports
    /// their root filesystems up front. Returns the root filesystems it imported now, with
    /// their images.
    pub async fn start_engine(
        &mut self,
        trials: &[Trial],
    ) -> Result<Vec<(String, Image)>, SessionError> {
        let engine_trials: Vec<&Trial> = trials
            .iter()
            .filter(|t| t.launcher == Launcher::Engine)
            .collect();
        if engine_trials.is_empty() {
            return Ok(Vec::new());
        }
        let runtimes: Vec<EngineRuntime> = engine_trials
            .iter()
            .map(|t| EngineRuntime::for_trial(t))
            .collect();
        let engine = match &self.existing_engine {
            Some(address) => OuterEngine::connect(address, &runtimes).await,
            None => OuterEngine::start(&self.home, &runtimes).await,
        }?;
        let mut names: Vec<&str> = engine_trials
            .iter()
            .map(|t| t.case.rootfs.as_str())
            .collect();
        names.sort();
        names.dedup();
        let mut imported = Vec::new();
        for name in names {
            if let Some(rootfs) = self.inventory.rootfs(name) {
                let image = engine.image(rootfs).await?;
                if image.import_ms.is_some() {
                    imported.push((rootfs.name.clone(), image));
                }
            }
        }
        self.engine = Some(Arc::new(engine));
        Ok(imported)
    }

    /// The outer engine, once started.
    pub fn engine(&self) -> Option<&OuterEngine> {
        self.engine.as_deref()
    }

    fn context(&self) -> RunContext {
        RunContext {
            home: self.home.clone(),
            inventory: self.inventory.clone(),
            keep_scratch: self.keep_scratch,
            no_probes: self.no_probes,
            engine: self.engine.clone(),
        }
    }

    /// Runs one trial.
    pub async fn run_trial(&self, trial: &Trial) -> Result<TrialResult, TrialError> {
        run_trial(trial, &self.context()).await
    }

    /// Runs `trials`, at most `jobs` at once and longest first by [`Session::earlier`]'s
    /// timings, gathering into `ran` what each gives as it finishes (in any order:
    /// [`Session::results`] puts them in the plan's) with its input digest, then calling
    /// `on_done`. A trial whose earlier outcome can be reused is not run: that outcome is
    /// what it gives. Dropped half-way (an interrupted run), `ran` keeps what finished.
    pub async fn run<F>(&self, trials: &[Trial], jobs: usize, ran: &mut Ran, mut on_done: F)
    where
        F: FnMut(&Trial, &Result<TrialResult, TrialError>),
    {
        let ctx = self.context();
        let inputs = super::reuse::Inputs::read(trials, !self.no_probes);
        let digest = |t: &Trial| inputs.digest(t, self.inventory.rootfs(&t.case.rootfs));
        let mut measure = Vec::new();
        for t in super::schedule::longest_first(trials, &self.earlier.timings) {
            let reused = (self.earlier.reuse.as_ref()).and_then(|r| r.take(&t.name(), &digest(&t)));
            match reused {
                Some(outcome) => {
                    ran.outcomes.push(outcome.clone());
                    on_done(&t, &Ok(TrialResult::reused(outcome)));
                }
                None => measure.push(t),
            }
        }
        run_all(&measure, &ctx, jobs, |t, r| {
            match r {
                Ok(res) => {
                    let mut outcome = res.outcome.clone();
                    outcome.digest = Some(digest(t));
                    ran.outcomes.push(outcome);
                    if t.launcher == Launcher::Engine && !res.leftovers.is_empty() {
                        ran.leaked.push(NotRun {
                            trial: t.name(),
                            reason: format!(
                                "runsc containers {:?}, processes {:?}",
                                res.leftovers.containers, res.leftovers.processes
                            ),
                        });
                    }
                }
                Err(e) => ran.not_run.push(NotRun {
                    trial: t.name(),
                    reason: e.to_string(),
                }),
            }
            on_done(t, r);
        })
        .await;
    }

    /// Stops the outer engine (an existing one keeps running) and says what it took.
    pub async fn stop_engine(&mut self) -> Option<EngineFigures> {
        let engine = self.engine.take()?;
        let mut figures = EngineFigures {
            dockerd: engine.version.clone(),
            existing: self.existing_engine.clone(),
            start_ms: engine.start_ms,
            stop_ms: None,
            imports: engine.imports(),
            reaped: engine.reaped.clone(),
            leaked_at_stop: Vec::new(),
            reload_ms: engine.reloads(),
        };
        match Arc::try_unwrap(engine) {
            Ok(engine) => {
                let owned = engine.owned();
                let stopped = engine.stop().await;
                figures.stop_ms = owned.then_some(stopped.stop_ms);
                figures.leaked_at_stop = stopped.leaked;
            }
            // Only the trials held other references, and they are done: dropping stops it.
            Err(shared) => drop(shared),
        }
        Some(figures)
    }
}

/// Everything a finished (or interrupted) run hands to the report.
pub struct Finished<'a> {
    pub planned: &'a Planned,
    pub ran: Ran,
    pub not_expressible: Vec<NotRun>,
    /// Trials not run: the host cannot test them, then those that could not be attempted.
    pub not_run: Vec<NotRun>,
    pub host_checks: Option<Diagnosis>,
    pub engine: Option<EngineFigures>,
    pub network_override: Option<String>,
    pub complete: bool,
    pub baseline_dir: Option<&'a Path>,
}

impl Session {
    /// The run's results, in the plan's order: two runs of the same plan give files that
    /// compare line by line.
    pub fn results(finished: Finished) -> Results {
        let Finished {
            planned,
            ran,
            not_expressible,
            mut not_run,
            host_checks,
            engine,
            network_override,
            complete,
            baseline_dir,
        } = finished;
        let mut outcomes = ran.outcomes;
        outcomes.sort_by_key(|o| planned.trials.iter().position(|t| t.name() == o.trial));
        // A repeated run (`--repeat N`) has N outcomes per trial: one per trial, and how
        // they varied.
        let (outcomes, stability) = crate::report::fold_repeats(outcomes);
        not_run.extend(ran.not_run);
        // A trial that could not run in one repetition is listed once.
        not_run.dedup_by(|a, b| a.trial == b.trial);
        let mut results = Results::from_run(RunRecord {
            trials: &planned.trials,
            corpus: &planned.corpus,
            inventory: &planned.inventory,
            outcomes,
            not_run,
            network_override,
            complete,
            baseline_dir,
        });
        results.host_checks = host_checks;
        results.not_expressible = not_expressible;
        results.leaked = ran.leaked;
        results.engine = engine;
        results.stability = stability;
        results
    }
}
