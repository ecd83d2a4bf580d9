//! The one place that names each launcher's module: whether it can express a trial, and the
//! launcher that runs it. Adding a launcher is a module of its own, a variant of
//! [`Launcher`], and an arm in each function here.

use super::engine::{self, OuterEngine};
use super::launcher::{Launcher, NotExpressible};
use super::oci;
use super::sandbox::{Launch, LaunchError};
use crate::inventory::Inventory;
use crate::plan::Trial;

/// Whether `trial`'s launcher can run its case faithfully; each launcher decides for itself.
pub fn expressible(trial: &Trial) -> Result<(), NotExpressible> {
    match trial.launcher {
        Launcher::Oci => oci::expressible(trial),
        Launcher::Engine => engine::expressible(trial),
    }
}

/// What runs a trial once its launcher is prepared: the trial flow, the same for every
/// launcher.
pub(crate) trait Drive {
    type Output;
    async fn drive<L: Launch>(self, launcher: L) -> Self::Output;
}

/// Prepares `trial`'s launcher (checks what it needs on this host: the runsc binary, the
/// root filesystem or image, the engine's runtime) and hands it to `flow`.
pub(crate) async fn launch<D: Drive>(
    trial: &Trial,
    inventory: &Inventory,
    engine: Option<&OuterEngine>,
    flow: D,
) -> Result<D::Output, LaunchError> {
    expressible(trial)?;
    Ok(match trial.launcher {
        Launcher::Oci => flow.drive(oci::Oci::prepare(trial, inventory)?).await,
        Launcher::Engine => {
            let engine = engine.ok_or(LaunchError::NoEngine)?;
            let launcher = engine::Engine::prepare(trial, inventory, engine).await?;
            flow.drive(launcher).await
        }
    })
}
