//! One trial, stage by stage (`docs/architecture.md`, "The pipeline"):
//!
//! ```text
//! plan (case × launcher × runtime) → launch (oci | engine) → observe (readiness, logs)
//!   → probe (workloads) → classify (error catalogue) → outcome
//! ```
//!
//! - [`plan`] crosses cases with launchers and runtimes into [`plan::Trial`]s.
//! - [`launch`] starts a trial's sandbox and removes it again: the [`launch::Launcher`]s
//!   (an OCI bundle under runsc, or a container through an outer Docker Engine) behind one
//!   seam, with their run-wide parts.
//! - [`observe`] waits for dockerd and collects the lines that explain a failure.
//! - [`probe`] runs workloads (import, run, build, exec, limits) against a ready dockerd.
//! - [`classify`] names every error line from the error catalogue (`catalogue/errors.toml`).
//! - [`outcome`] holds what a trial observed ([`outcome::Outcome`]).
//! - [`run`] is the one trial flow every launcher shares, from the host checks to the
//!   outcome (many trials at once: [`crate::session::jobs`]).

pub mod classify;
pub mod launch;
pub mod observe;
pub mod outcome;
pub mod plan;
pub mod probe;
pub mod run;
