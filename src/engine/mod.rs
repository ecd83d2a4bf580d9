//! The engine launcher: trials run as `docker run --runtime=runsc…` containers through an
//! outer Docker Engine that the harness owns, side by side with the OCI launcher
//! ([`crate::launch`]).
//!
//! [`container`] translates a case into `docker run` terms (or says why it cannot),
//! [`daemon`] starts and stops the outer dockerd in a slot of its own, [`image`] imports the
//! root filesystems as images, [`trial`] runs one trial, and [`sweep`] ends the runsc
//! sandboxes the engine leaks.

pub mod container;
pub mod daemon;
pub mod error;
pub mod image;
mod slot;
pub mod sweep;
pub mod trial;

pub use container::{EngineRuntime, NotExpressible, express};
pub use daemon::{OuterEngine, Stopped};
pub use error::EngineError;
pub use slot::{SLOTS, reap_stale_engines, stop_own_engines};
