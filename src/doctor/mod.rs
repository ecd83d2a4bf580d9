//! `dindcheck doctor`: can this host run Docker inside gVisor, and if not, why.
//!
//! moby's `check-config.sh` says whether a kernel can run Docker; doctor says whether a host
//! can run Docker *inside runsc*, by running the real thing: each runsc of the inventory
//! starts small sandboxes (on each platform, with sandbox networking, with and without a
//! cgroup mount, with `--host-uds`), and the root filesystems, the outer engine and the free
//! disk are looked at. Each [`Check`] carries a verdict, the evidence (what ran and what it
//! printed) and a one-line remedy.
//!
//! - [`facts`]: pure reasoning on text (versions, `runsc flags`, cgroup listings, dpkg).
//! - [`check`]: the data ([`Check`], [`Diagnosis`]).
//! - `probe`: one short-lived sandbox under a hard timeout, cleaned up however it ends.
//! - `discover`: runsc on `PATH` and in the host Docker's `daemon.json`.
//! - `checks` (the host's) and `runsc_checks` (each runsc's): the checks; [`diagnose`] runs
//!   them, the independent ones concurrently.
//! - [`render`]: the table, the lines `dindcheck run` prints first, the report's section.

pub mod check;
mod checks;
mod diagnose;
mod discover;
pub mod facts;
pub mod probe;
pub mod render;
mod runsc_checks;

pub use check::{
    Check, DOCTOR_SCHEMA_VERSION, Diagnosis, DoctorReport, HostVerdict, Status, Topic,
};
pub use checks::{PLATFORM_TIMEOUT, PROBE_TIMEOUT};
pub use diagnose::{DoctorOptions, diagnose};
