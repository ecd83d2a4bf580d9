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
//! - [`trial`] is one trial's pipeline, a module per stage: [`trial::plan`] (cases ×
//!   launchers × runtimes into [`trial::plan::Trial`]s), [`trial::launch`] (the
//!   [`trial::launch::Launcher`]s behind one seam), [`trial::observe`] (readiness and error
//!   lines), [`trial::probe`] (workloads against a ready dockerd), [`trial::classify`] (the
//!   error catalogue), [`trial::outcome`] (what a trial observed, [`trial::outcome::Outcome`])
//!   and [`trial::run`] (the one trial flow every launcher shares).
//! - [`report`] holds a run's results and renders them as markdown and JSON; [`output`]
//!   is the directory they are written to.
//! - [`gate`] names and reads the recorded baselines that the conformance tests compare with.
//! - [`doctor`] diagnoses the host before any case: what it can and cannot test.
//! - [`own_runsc`] adds any runsc binary (`--runsc PATH`) to the inventory as a runtime.
//! - [`rootfs_import`] turns an image tarball (`docker save`, OCI layout) into a named root
//!   filesystem beside the ones the setup built.
//! - [`session`] owns a run's lifecycle, and runs many trials at once ([`session::jobs`]).
//!
//! The CLI (`src/main.rs`) and the conformance harness (`tests/conformance.rs`) are thin
//! front ends over [`session`].

pub mod answers;
pub mod case;
pub mod doctor;
pub mod gate;
pub mod inventory;
pub mod output;
pub mod own_runsc;
pub mod report;
pub mod rootfs_import;
pub mod session;
pub mod trial;
