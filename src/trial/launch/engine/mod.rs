//! The engine launcher: trials run as `docker run --runtime=runsc…` containers through an
//! outer Docker Engine that the harness owns, side by side with the OCI launcher
//! ([`super::oci`]).
//!
//! [`container`] translates a case into `docker run` terms (or says why it cannot),
//! [`daemon`] starts and stops the outer dockerd in a slot of its own (`slot`), [`image`]
//! imports the root filesystems as images, [`run`] is the launcher's run-wide part (the
//! engine started for a run's trials, stopped with its figures), [`sandbox`] its part of a
//! trial, and [`sweep`] ends the runsc sandboxes the engine leaks. Nothing outside this
//! folder names the outer engine: the rest of the program reaches it through the launcher
//! seam ([`crate::trial::launch::run`], [`crate::trial::launch::registry`]).

pub mod container;
pub mod daemon;
pub mod error;
pub mod figures;
pub mod image;
pub mod run;
pub mod sandbox;
mod slot;
pub mod sweep;

pub use container::{EngineRuntime, expressible};
pub use daemon::{OuterEngine, Stopped};
pub use error::EngineError;
pub use figures::EngineFigures;
pub use run::{REGISTRATION, StartStop, start_and_stop};
pub use sandbox::Engine;
pub use slot::{SLOTS, reap_stale_engines, stop_own_engines};
