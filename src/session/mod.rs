//! A run's lifecycle as a library type: the CLI (`src/main.rs`) and the conformance harness
//! (`tests/conformance.rs`) are thin front ends over it.
//!
//! - [`selection`]: which cases, runtimes, launchers, network mode and shard, as trials.
//! - [`lifecycle`]: the [`Session`] and its one driver of a run ([`Session::drive`]):
//!   reaping, host checks, the launchers' run-wide parts, the trials, the results in order.
//! - [`reuse`]: each trial's input digest, and the earlier outcomes a run may take as they are.
//! - [`jobs`]: many trials at once (how many, and running them through the one trial flow).
//! - [`schedule`]: the order trials start in (longest first, by an earlier run's times).
//! - [`signal`]: cleanup when the process is told to stop.
//! - [`environment`]: the `DINDCHECK_*` variables, read once.

pub mod environment;
pub mod error;
pub mod jobs;
pub mod lifecycle;
pub mod reuse;
pub mod schedule;
pub mod selection;
pub mod signal;

pub use environment::Environment;
pub use error::{Fault, SessionError};
pub use lifecycle::{
    Driven, Event, Opened, Ran, Reaped, Run, RunOptions, Session, Stage, reap, split_expressible,
};
pub use schedule::Timings;
pub use selection::{Planned, Selection, read_results, repeated, unknown_rootfs};
