//! dindcheck: measures whether, and how, Docker runs inside a gVisor (`runsc`) sandbox.
//!
//! The library is one pipeline, each stage owning one plain data type:
//!
//! ```text
//! cases (TOML) → plan (case × launcher × runtime) → launch (runsc bundle | engine)
//!   → observe (readiness, logs) → probe (workloads) → classify (error catalogue) → outcome
//!   → report (markdown, JSON) and gate (baseline snapshots in tests/)
//! ```
//!
//! - [`case`] reads and validates case files ([`case::Case`]).
//! - [`inventory`] discovers runsc binaries and root filesystems ([`inventory::Runtime`]).
//! - [`plan`] crosses cases with runtimes into [`plan::Trial`]s.
//! - [`launch`] turns a trial into an OCI bundle and a running sandbox, and removes it again.
//! - [`engine`] runs a trial as a `docker run --runtime=runsc` container through an outer
//!   Docker Engine that the harness owns.
//! - [`observe`] waits for dockerd and collects the lines that explain a failure.
//! - [`probe`] runs workloads (import, run, build, exec, limits) against a ready dockerd.
//! - [`classify`] names every error line from the error catalogue (`catalogue/errors.toml`).
//! - [`outcome`] holds what a trial observed ([`outcome::Outcome`]).
//! - [`runner`] drives trials end to end, with bounded concurrency.
//! - [`report`] renders outcomes as markdown and JSON.
//! - [`gate`] names and reads the recorded baselines that the conformance tests compare with.
//! - [`doctor`] diagnoses the host before any case: what it can and cannot test.
//!
//! The CLI (`src/main.rs`) and the conformance harness (`tests/conformance.rs`) are thin
//! front ends over this library.

pub mod case;
pub mod classify;
pub mod doctor;
pub mod gate;
pub mod inventory;
pub mod launch;
pub mod observe;
pub mod outcome;
pub mod output;
pub mod plan;
pub mod probe;
pub mod report;
pub mod runner;
pub mod session;
