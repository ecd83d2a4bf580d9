//! The launchers, in one table: the one place that names each launcher's module, and the
//! run-wide parts of a run's launchers ([`LauncherRuns`]), which a session holds. Adding a
//! launcher is a module of its own (a file, or a folder such as [`super::engine`]), a line
//! here, and its name in [`Launcher`] (plain data: `results.json`'s schema lists the
//! launchers); nothing in `plan`, `trial::run`, `session`, `report` or `main`.

use std::path::Path;

use super::engine;
use super::launcher::{Launcher, NotExpressible};
use super::oci;
use super::run::{LauncherRun, Prepared, Registration, RunFigures, RunSettings};
use super::sandbox::{DynLaunch, LaunchError};
use crate::inventory::Inventory;
use crate::trial::plan::Trial;

/// Every launcher, in [`Launcher::ALL`]'s order.
pub const LAUNCHERS: &[Registration] = &[oci::REGISTRATION, engine::REGISTRATION];

/// The registration of `launcher`.
pub fn registration(launcher: Launcher) -> &'static Registration {
    LAUNCHERS
        .iter()
        .find(|r| r.launcher == launcher)
        .expect("every launcher is registered")
}

/// Whether `trial`'s launcher can run its case faithfully.
pub fn expressible(trial: &Trial) -> Result<(), NotExpressible> {
    (registration(trial.launcher).expressible)(trial)
}

/// Ends what dead runs left under `home`, one line per thing ended.
pub fn reap(home: &Path) -> Vec<String> {
    LAUNCHERS.iter().flat_map(|r| (r.reap)(home)).collect()
}

/// Ends what this process started run-wide (from a signal handler): how many things.
pub fn stop_own() -> usize {
    LAUNCHERS.iter().map(|r| (r.stop_own)()).sum()
}

/// Every launcher's run-wide part, for one run (what a session holds).
pub struct LauncherRuns {
    runs: Vec<(Launcher, Box<dyn LauncherRun>)>,
}

impl std::fmt::Debug for LauncherRuns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<Launcher> = self.runs.iter().map(|(l, _)| *l).collect();
        f.debug_struct("LauncherRuns")
            .field("launchers", &names)
            .finish()
    }
}

impl LauncherRuns {
    /// Every registered launcher's run-wide part, not yet prepared.
    pub fn new(settings: &RunSettings) -> LauncherRuns {
        LauncherRuns {
            runs: LAUNCHERS
                .iter()
                .map(|r| (r.launcher, (r.run)(settings)))
                .collect(),
        }
    }

    /// Has each launcher prepare for its own among `trials`.
    pub async fn prepare(
        &mut self,
        trials: &[Trial],
        inventory: &Inventory,
    ) -> Result<Prepared, LaunchError> {
        let mut all = Prepared::default();
        for (launcher, run) in &mut self.runs {
            let own: Vec<Trial> = trials
                .iter()
                .filter(|t| t.launcher == *launcher)
                .cloned()
                .collect();
            let prepared = run.prepare(&own, inventory).await?;
            all.imported.extend(prepared.imported);
            all.reaped.extend(prepared.reaped);
        }
        Ok(all)
    }

    /// `launcher`'s run-wide part replaced by `run` (one made over an engine a test started).
    pub fn replace(&mut self, launcher: Launcher, run: Box<dyn LauncherRun>) {
        if let Some(entry) = self.runs.iter_mut().find(|(l, _)| *l == launcher) {
            entry.1 = run;
        }
    }

    fn run(&self, launcher: Launcher) -> &dyn LauncherRun {
        let (_, run) = (self.runs.iter())
            .find(|(l, _)| *l == launcher)
            .expect("every launcher has a run-wide part");
        run.as_ref()
    }

    /// `trial`'s launcher, once it is known to express the case.
    pub(crate) async fn launch<'a>(
        &'a self,
        trial: &'a Trial,
        inventory: &'a Inventory,
    ) -> Result<Box<dyn DynLaunch + 'a>, LaunchError> {
        (registration(trial.launcher).expressible)(trial)?;
        self.run(trial.launcher).launch(trial, inventory).await
    }

    /// Whether what `trial`'s teardown had to end is its launcher's leak.
    pub fn leftovers_leak(&self, trial: &Trial) -> bool {
        self.run(trial.launcher).leftovers_leak()
    }

    /// Stops every launcher's run-wide part, with what each took.
    pub async fn stop(&mut self) -> RunFigures {
        let mut figures = RunFigures::default();
        for (_, run) in &mut self.runs {
            run.stop(&mut figures).await;
        }
        figures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_launcher_is_registered_once_in_order() {
        let names: Vec<Launcher> = LAUNCHERS.iter().map(|r| r.launcher).collect();
        assert_eq!(names, Launcher::ALL);
    }
}
