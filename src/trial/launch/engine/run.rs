//! The engine launcher's run-wide part: the outer engine started (or connected to) for the
//! run's engine trials, their root filesystems imported up front, each trial's container
//! launched through it, and the engine stopped with what it took ([`EngineFigures`]).

use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::LocalBoxFuture;

use super::container::EngineRuntime;
use super::daemon::OuterEngine;
use super::error::EngineError;
use super::figures::EngineFigures;
use super::sandbox::Engine;
use crate::inventory::Inventory;
use crate::trial::launch::launcher::Launcher;
use crate::trial::launch::run::{LauncherRun, Prepared, Registration, RunFigures, RunSettings};
use crate::trial::launch::sandbox::{DynLaunch, LaunchError};
use crate::trial::plan::Trial;

/// The engine launcher in the launchers' table.
pub const REGISTRATION: Registration = Registration {
    launcher: Launcher::Engine,
    expressible: super::container::expressible,
    // A case that names an image runs that image, not a root filesystem of the setup.
    needs_rootfs: |trial| trial.case.image.is_none(),
    run: |settings| Box::new(EngineRun::new(settings)),
    reap: |home| {
        (super::slot::reap_stale_engines(home).into_iter())
            .map(|e| format!("ended what a dead run's outer engine left: {e}"))
            .collect()
    },
    stop_own: super::slot::stop_own_engines,
};

/// The outer engine of one run, once its trials are known.
pub(crate) struct EngineRun {
    home: PathBuf,
    /// An existing engine (`unix:///path`) to use instead of starting one.
    existing: Option<String>,
    /// Shared only with the engine's own tests ([`over`]), which look inside it.
    engine: Option<Arc<OuterEngine>>,
}

impl EngineRun {
    pub(crate) fn new(settings: &RunSettings) -> EngineRun {
        EngineRun {
            home: settings.home.clone(),
            existing: settings.existing_engine.clone(),
            engine: None,
        }
    }

    /// Starts the outer engine (or connects to the existing one) with one runtime per
    /// distinct runsc binary and flags among `trials`, and imports their root filesystems up
    /// front.
    async fn start(
        &mut self,
        trials: &[Trial],
        inventory: &Inventory,
    ) -> Result<Prepared, EngineError> {
        if trials.is_empty() {
            return Ok(Prepared::default());
        }
        let runtimes: Vec<EngineRuntime> = trials.iter().map(EngineRuntime::for_trial).collect();
        let engine = match &self.existing {
            Some(address) => OuterEngine::connect(address, &runtimes).await,
            None => OuterEngine::start(&self.home, &runtimes).await,
        }?;
        let mut names: Vec<&str> = trials.iter().map(|t| t.case.rootfs.as_str()).collect();
        names.sort();
        names.dedup();
        let mut prepared = Prepared {
            reaped: engine
                .reaped
                .iter()
                .map(|r| format!("ended what a dead run left in the engine's slot: {r}"))
                .collect(),
            ..Default::default()
        };
        for name in names {
            if let Some(rootfs) = inventory.rootfs(name) {
                let image = engine.image(rootfs).await?;
                if let Some(ms) = image.import_ms {
                    prepared.imported.push(format!(
                        "imported {} as {} in {ms} ms",
                        rootfs.name, image.reference
                    ));
                }
            }
        }
        self.engine = Some(Arc::new(engine));
        Ok(prepared)
    }
}

impl LauncherRun for EngineRun {
    fn prepare<'a>(
        &'a mut self,
        trials: &'a [Trial],
        inventory: &'a Inventory,
    ) -> LocalBoxFuture<'a, Result<Prepared, LaunchError>> {
        Box::pin(async move { Ok(self.start(trials, inventory).await?) })
    }

    fn launch<'a>(
        &'a self,
        trial: &'a Trial,
        inventory: &'a Inventory,
    ) -> LocalBoxFuture<'a, Result<Box<dyn DynLaunch + 'a>, LaunchError>> {
        Box::pin(async move {
            let engine = self.engine.as_deref().ok_or(EngineError::NotStarted)?;
            let launcher = Engine::prepare(trial, inventory, engine).await?;
            Ok(Box::new(launcher) as Box<dyn DynLaunch>)
        })
    }

    fn leftovers_leak(&self) -> bool {
        true
    }

    /// Stops the outer engine (an existing one keeps running) and says what it took.
    fn stop<'a>(&'a mut self, figures: &'a mut RunFigures) -> LocalBoxFuture<'a, ()> {
        Box::pin(async move {
            let Some(engine) = self.engine.take() else {
                return;
            };
            let mut engine_figures = EngineFigures {
                dockerd: engine.version.clone(),
                existing: self.existing.clone(),
                start_ms: engine.start_ms,
                stop_ms: None,
                imports: engine.imports(),
                reaped: engine.reaped.clone(),
                leaked_at_stop: Vec::new(),
                reload_ms: engine.reloads(),
            };
            // Shared with a test that still holds it: dropping stops it when it lets go.
            if let Ok(engine) = Arc::try_unwrap(engine) {
                let owned = engine.owned();
                let stopped = engine.stop().await;
                engine_figures.stop_ms = owned.then_some(stopped.stop_ms);
                engine_figures.leaked_at_stop = stopped.leaked;
            }
            figures.engine = Some(engine_figures);
        })
    }
}

/// The engine launcher's run-wide part over `engine`, already started: for the engine's own
/// tests, which look inside the engine while its trials run through the session
/// (`LauncherRuns::replace`).
pub fn over(settings: &RunSettings, engine: Arc<OuterEngine>) -> Box<dyn LauncherRun> {
    let mut run = EngineRun::new(settings);
    run.engine = Some(engine);
    Box::new(run)
}

/// What [`start_and_stop`] measured of an outer engine.
#[derive(Debug)]
pub struct StartStop {
    pub start_ms: u64,
    pub stop_ms: u64,
    /// The runtimes `docker info` listed (or why it could not say).
    pub registered: Vec<String>,
}

/// Starts an outer engine with `runtimes`, asks it which runtimes it has, and stops it: what
/// doctor checks of this host's engine.
pub async fn start_and_stop(
    home: &std::path::Path,
    runtimes: &[EngineRuntime],
) -> Result<StartStop, EngineError> {
    let engine = OuterEngine::start(home, runtimes).await?;
    let registered: Vec<String> = match engine.docker().info().await {
        Ok(info) => info
            .runtimes
            .map(|m| m.into_keys().collect())
            .unwrap_or_default(),
        Err(e) => vec![format!("(docker info failed: {e})")],
    };
    let start_ms = engine.start_ms;
    let stopped = engine.stop().await;
    Ok(StartStop {
        start_ms,
        stop_ms: stopped.stop_ms,
        registered,
    })
}
