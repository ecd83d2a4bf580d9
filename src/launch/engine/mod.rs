//! The engine launcher: trials run as `docker run --runtime=runsc…` containers through an
//! outer Docker Engine that the harness owns, side by side with the OCI launcher
//! ([`super::oci`]).
//!
//! [`container`] translates a case into `docker run` terms (or says why it cannot),
//! [`daemon`] starts and stops the outer dockerd in a slot of its own (`slot`), [`image`]
//! imports the root filesystems as images, [`sandbox`] is the launcher's part of a trial,
//! and [`sweep`] ends the runsc sandboxes the engine leaks.

pub mod container;
pub mod daemon;
pub mod error;
pub mod image;
pub mod sandbox;
mod slot;
pub mod sweep;

pub use container::{EngineRuntime, expressible};
pub use daemon::{OuterEngine, Stopped};
pub use error::EngineError;
pub use sandbox::Engine;
pub use slot::{SLOTS, reap_stale_engines, stop_own_engines};
