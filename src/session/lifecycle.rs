//! One run's lifecycle, from what a killed earlier run left to the ordered results, written
//! once: [`Session::drive`] runs it for the CLI's `run` and the conformance harness, and tells
//! them what happens through [`Event`]s.
//!
//! 1. [`reap`] what dead runs left (scratch directories, each launcher's run-wide state);
//! 2. [`split_expressible`]: a trial its launcher cannot express is reported, never run as
//!    something else;
//! 3. doctor's quick checks ([`Session::host_checks`]), and the trials this host cannot test;
//! 4. [`Session::prepare`]: each launcher readies itself for its trials (the engine
//!    launcher starts the outer engine and imports the root filesystems);
//! 5. [`Session::run`] the trials, at most `jobs` at once;
//! 6. [`Session::stop`] the launchers, with their figures; [`Run::results`] in the plan's
//!    order.
//!
//! What the launchers started for the run is stopped when the session is dropped, too (the
//! outer engine's own `Drop`), however the run ended. Signal cleanup is [`super::signal`].

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::jobs::run_all;
use crate::doctor::{self, Diagnosis, DoctorOptions};
use crate::inventory::Inventory;
use crate::report::{Results, RunRecord};
use crate::trial::launch::scratch::{self, Stale};
use crate::trial::launch::{
    LauncherRuns, Prepared, RunFigures, RunSettings, expressible, registry,
};
use crate::trial::outcome::Outcome;
use crate::trial::plan::{NotRun, Trial};
use crate::trial::run::{RunContext, TrialError, TrialResult, run_trial};

use super::error::SessionError;
use super::selection::Planned;

/// What dead runs left, and was ended.
#[derive(Debug, Default)]
pub struct Reaped {
    /// What the launchers keep run-wide (outer engines and what ran under them), one line
    /// each.
    pub launchers: Vec<String>,
    /// Scratch directories, with what still ran in them.
    pub scratch: Vec<Stale>,
}

impl Reaped {
    /// One line per thing ended, for a front end to print.
    pub fn describe(&self) -> Vec<String> {
        let launchers = self.launchers.iter().cloned();
        let scratch = self.scratch.iter().map(|s| {
            format!(
                "removed what an earlier, dead run left for {} ({} containers, {} processes) in {}",
                s.trial,
                s.leftovers.containers.len(),
                s.leftovers.processes.len(),
                s.dir.display()
            )
        });
        launchers.chain(scratch).collect()
    }
}

/// Ends what earlier dindcheck processes that were killed outright left under `home`.
pub fn reap(home: &Path) -> Reaped {
    Reaped {
        launchers: registry::reap(home),
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

/// How [`Session::drive`] runs the trials it is given.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// End what dead runs left first (the conformance harness does it once, not per trial).
    pub reap: bool,
    /// doctor's quick checks first, and the trials this host cannot test left out.
    pub host_checks: bool,
    /// Each trial this many times (`--repeat`).
    pub repeat: u32,
    /// At most this many trials at once.
    pub jobs: usize,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            reap: true,
            host_checks: true,
            repeat: 1,
            jobs: 1,
        }
    }
}

/// What happens during [`Session::drive`], in order, for a front end to show.
pub enum Event<'a> {
    /// What dead runs left, ended before anything started.
    Reaped(&'a Reaped),
    /// doctor's quick checks start.
    CheckingHost,
    /// What they found.
    HostChecked(&'a Diagnosis),
    /// A trial this host cannot test: not run.
    NotRunning(&'a NotRun),
    /// The launchers start preparing for the trials (the outer engine, its imports).
    Preparing,
    /// The launchers are ready for the trials.
    Prepared(&'a Prepared),
    /// The trials start: this many.
    Running(usize),
    /// A trial finished (or was taken from an earlier run).
    Finished(&'a Trial, &'a Result<TrialResult, TrialError>),
    /// The run was told to stop while its trials ran: they are being dropped, and with them
    /// their sandboxes.
    Interrupted,
    /// The launchers stopped, with what they took.
    Stopped(&'a RunFigures),
}

/// Where [`Session::drive`] was when it was told to stop before any trial ran (nothing to
/// report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    HostChecks,
    Prepare,
}

/// A run opened ([`Session::open`]): the trials to run, and those left out.
#[derive(Debug)]
pub struct Opened {
    pub runnable: Vec<Trial>,
    pub not_expressible: Vec<NotRun>,
    /// The host cannot test these.
    pub not_run: Vec<NotRun>,
    pub host_checks: Option<Diagnosis>,
}

/// How [`Session::drive`] ended.
pub enum Driven {
    /// Told to stop before any trial ran.
    Interrupted(Stage),
    /// The trials ran (all of them, or until the run was told to stop: [`Run::complete`]).
    Ran(Box<Run>),
}

/// A run's trials as they ran, for the report ([`Run::results`]).
#[derive(Debug, Default)]
pub struct Run {
    pub ran: Ran,
    pub not_expressible: Vec<NotRun>,
    /// Trials not run: the host cannot test them.
    pub not_run: Vec<NotRun>,
    pub host_checks: Option<Diagnosis>,
    pub figures: RunFigures,
    /// False when the run was told to stop before every trial finished.
    pub complete: bool,
}

/// A run: the host, the inventory, and each launcher's run-wide part.
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
    /// Shared with each trial's [`RunContext`] while trials run.
    launchers: Arc<LauncherRuns>,
}

impl Session {
    pub fn new(home: PathBuf, inventory: Inventory) -> Session {
        let launchers = Arc::new(LauncherRuns::new(&RunSettings {
            home: home.clone(),
            existing_engine: None,
        }));
        Session {
            home,
            inventory,
            keep_scratch: false,
            no_probes: false,
            existing_engine: None,
            earlier: Default::default(),
            launchers,
        }
    }

    /// A session whose launchers were prepared elsewhere (the engine's own tests start the
    /// engine themselves, to look inside it: `launch::engine::run::launcher_runs`).
    pub fn with_launchers(home: PathBuf, inventory: Inventory, launchers: LauncherRuns) -> Session {
        let mut session = Session::new(home, inventory);
        session.launchers = Arc::new(launchers);
        session
    }

    /// Runs `trials` from start to end: [`Session::open`] (reap, split off what cannot be
    /// expressed, host checks, the launchers prepared), the trials (each `repeat` times, at
    /// most `jobs` at once), and the launchers stopped, telling `on_event` as it goes. When
    /// `stop` resolves (a signal), it stops where it is.
    pub async fn drive(
        &mut self,
        trials: &[Trial],
        options: &RunOptions,
        stop: impl Future<Output = ()>,
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<Driven, SessionError> {
        let mut stop = std::pin::pin!(futures_util::FutureExt::fuse(stop));
        let stage = std::cell::Cell::new(Stage::HostChecks);
        let opened = tokio::select! {
            o = self.open(trials, options, |e| {
                if matches!(e, Event::Preparing) {
                    stage.set(Stage::Prepare);
                }
                on_event(e)
            }) => o?,
            _ = &mut stop => {
                if stage.get() == Stage::Prepare {
                    // Dropping the preparation stopped what it had started; this ends what a
                    // half-made start left.
                    registry::stop_own();
                }
                return Ok(Driven::Interrupted(stage.get()));
            }
        };
        let Opened {
            runnable,
            not_expressible,
            not_run,
            host_checks,
        } = opened;
        let runnable = super::selection::repeated(&runnable, options.repeat);
        on_event(Event::Running(runnable.len()));
        let mut ran = Ran::default();
        let complete = {
            let work = self.run(&runnable, options.jobs, &mut ran, |t, r| {
                on_event(Event::Finished(t, r))
            });
            tokio::select! {
                _ = work => true,
                _ = &mut stop => false,
            }
        };
        // Leaving the select dropped any trials still running, and with them their sandboxes.
        if !complete {
            on_event(Event::Interrupted);
        }
        let figures = self.stop().await;
        on_event(Event::Stopped(&figures));
        Ok(Driven::Ran(Box::new(Run {
            ran,
            not_expressible,
            not_run,
            host_checks,
            figures,
            complete,
        })))
    }

    /// A run up to its trials, for [`Session::drive`] and for a search (`minimize`,
    /// `repair`) that runs trials of its own making: reaps what dead runs left, splits off
    /// the trials their launcher cannot express, runs doctor's quick checks and leaves out
    /// what this host cannot test, and prepares the launchers for the rest. What it starts
    /// is stopped by [`Session::stop`], or when the session is dropped.
    pub async fn open(
        &mut self,
        trials: &[Trial],
        options: &RunOptions,
        mut on_event: impl FnMut(Event<'_>),
    ) -> Result<Opened, SessionError> {
        if options.reap {
            on_event(Event::Reaped(&reap(&self.home)));
        }
        let (trials, not_expressible) = split_expressible(trials);
        let host_checks = if options.host_checks {
            on_event(Event::CheckingHost);
            let checked = self.host_checks(&trials).await;
            on_event(Event::HostChecked(&checked));
            Some(checked)
        } else {
            None
        };
        // A trial that this host cannot test is not run: its failure would be the host's.
        let (runnable, not_run) = match &host_checks {
            Some(d) => d.split_untestable(&trials),
            None => (trials, Vec::new()),
        };
        not_run.iter().for_each(|n| on_event(Event::NotRunning(n)));
        // Preparing includes importing root filesystems (seconds each): [`Session::drive`]
        // stops here on a signal, rather than wait for the imports.
        on_event(Event::Preparing);
        let prepared = self.prepare(&runnable).await?;
        on_event(Event::Prepared(&prepared));
        Ok(Opened {
            runnable,
            not_expressible,
            not_run,
            host_checks,
        })
    }

    /// doctor's quick checks for the runsc binaries (and forced platforms) of `trials`.
    pub async fn host_checks(&self, trials: &[Trial]) -> Diagnosis {
        let options = DoctorOptions::for_trials(self.home.clone(), trials);
        doctor::diagnose(&options).await
    }

    /// Has each launcher ready itself for its own among `trials` (the engine launcher starts
    /// the outer engine, or connects to the existing one, and imports the root filesystems
    /// up front).
    pub async fn prepare(&mut self, trials: &[Trial]) -> Result<Prepared, SessionError> {
        let mut launchers = LauncherRuns::new(&RunSettings {
            home: self.home.clone(),
            existing_engine: self.existing_engine.clone(),
        });
        let prepared = launchers.prepare(trials, &self.inventory).await?;
        self.launchers = Arc::new(launchers);
        Ok(prepared)
    }

    fn context(&self) -> RunContext {
        RunContext {
            home: self.home.clone(),
            inventory: self.inventory.clone(),
            keep_scratch: self.keep_scratch,
            no_probes: self.no_probes,
            launchers: self.launchers.clone(),
        }
    }

    /// Runs one trial.
    pub async fn run_trial(&self, trial: &Trial) -> Result<TrialResult, TrialError> {
        run_trial(trial, &self.context()).await
    }

    /// Runs `trials`, at most `jobs` at once and longest first by [`Session::earlier`]'s
    /// timings, gathering into `ran` what each gives as it finishes (in any order:
    /// [`Run::results`] puts them in the plan's) with its input digest, then calling
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
                    if ctx.launchers.leftovers_leak(t) && !res.leftovers.is_empty() {
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

    /// Whether what `trial`'s teardown had to end is its launcher's leak (the engine's).
    pub fn leftovers_leak(&self, trial: &Trial) -> bool {
        self.launchers.leftovers_leak(trial)
    }

    /// Stops what the launchers started for the run (an existing engine keeps running) and
    /// says what it took.
    pub async fn stop(&mut self) -> RunFigures {
        match Arc::get_mut(&mut self.launchers) {
            Some(launchers) => launchers.stop().await,
            // A trial's context is still held somewhere: the last one dropped stops them.
            None => RunFigures::default(),
        }
    }
}

impl Run {
    /// The run's results, in the plan's order: two runs of the same plan give files that
    /// compare line by line.
    pub fn results(
        self,
        planned: &Planned,
        network_override: Option<String>,
        baseline_dir: Option<&Path>,
    ) -> Results {
        let Run {
            ran,
            not_expressible,
            mut not_run,
            host_checks,
            figures,
            complete,
        } = self;
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
        results.engine = figures.engine;
        results.stability = stability;
        results
    }
}
