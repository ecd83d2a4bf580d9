//! Starting a trial's sandbox, and removing everything it started.
//!
//! A launcher is one module behind one seam ([`sandbox::Launch`]): [`oci`] (a hand-made
//! OCI bundle under runsc) and [`engine`] (`docker run --runtime=runsc` through an outer
//! Docker Engine), each deciding by itself whether it can express a case, each with a
//! run-wide part ([`run::LauncherRun`]: what it starts for a run and stops after it);
//! [`registry`] is the one table that names them, [`launcher`] their names. What they share: runsc's global
//! flags ([`flags`]), the base OCI spec ([`spec`]) and the files a sandbox reads from its io
//! directory ([`bundle`]), the runsc binary ([`runsc`]), the trial's scratch directory with
//! its cleanup ([`scratch`]), the processes it started ([`procs`]) and what `/proc` says of
//! them and of the host's mounts ([`procfs`]), the cgroups a trial
//! leaves ([`cgroups`]), and dockerd's socket
//! pinned in the io directory ([`socket`]), and waiting for a directory to change
//! ([`watch`]).

pub mod bundle;
pub mod cgroups;
pub mod engine;
pub mod flags;
pub mod launcher;
pub mod netns;
pub mod oci;
pub mod procfs;
pub mod procs;
pub mod registry;
pub mod run;
pub mod runsc;
pub mod sandbox;
pub mod scratch;
pub mod socket;
pub mod spec;
pub mod watch;

pub use launcher::{Launcher, NotExpressible};
pub use registry::LauncherRuns;
pub use registry::expressible;
pub use run::{Prepared, RunFigures, RunSettings};
pub use sandbox::LaunchError;
pub use scratch::TrialDir;
pub use spec::IO_DIR_IN_SANDBOX;
