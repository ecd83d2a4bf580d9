//! dindcheck: measures whether, and how, Docker runs inside a gVisor (`runsc`) sandbox.
//!
//! The library is one pipeline, each stage owning one plain data type
//! (`docs/architecture.md`):
//!
//! ```text
//! cases (TOML) → plan (case × launcher × runtime) → launch (oci | engine)
//!   → observe (readiness, logs, probes) → classify (error catalogue) → outcome
//!   → report (markdown, JSON) and gate (baseline snapshots in tests/)
//! ```
//!
//! - [`case`] reads and validates case files ([`case::Case`]).
//! - [`inventory`] discovers runsc binaries and root filesystems ([`inventory::Runtime`]).
//! - [`plan`] crosses cases with launchers and runtimes into [`plan::Trial`]s.
//! - [`launch`] starts a trial's sandbox and removes it again: the [`launch::Launcher`]s
//!   (an OCI bundle under runsc, or a container through an outer Docker Engine) behind one
//!   seam.
//! - [`observe`] waits for dockerd and collects the lines that explain a failure.
//! - [`probe`] runs workloads (import, run, build, exec, limits) against a ready dockerd.
//! - [`classify`] names every error line from the error catalogue (`catalogue/errors.toml`).
//! - [`outcome`] holds what a trial observed ([`outcome::Outcome`]).
//! - [`runner`] is the one trial flow every launcher shares, and runs many at once.
//! - [`report`] holds a run's results and renders them as markdown and JSON; [`output`]
//!   is the directory they are written to.
//! - [`gate`] names and reads the recorded baselines that the conformance tests compare with.
//! - [`doctor`] diagnoses the host before any case: what it can and cannot test.
//! - [`own_runsc`] adds any runsc binary (`--runsc PATH`) to the inventory as a runtime.
//! - [`rootfs_import`] turns an image tarball (`docker save`, OCI layout) into a named root
//!   filesystem beside the ones the setup built.
//! - [`session`] owns a run's lifecycle.
//!
//! The CLI (`src/main.rs`) and the conformance harness (`tests/conformance.rs`) are thin
//! front ends over [`session`].

pub mod answers;
pub mod case;
pub mod classify;
pub mod doctor;
pub mod gate;
pub mod inventory;
pub mod launch;
pub mod observe;
pub mod outcome;
pub mod output;
pub mod own_runsc;
pub mod plan;
pub mod probe;
pub mod report;
pub mod rootfs_import;
pub mod runner;
pub mod session;
