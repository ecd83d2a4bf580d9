//! Starting a trial under real runsc and removing everything it started.
//!
//! [`bundle`] turns a trial into an OCI bundle (pure: testable without a sandbox),
//! [`scratch`] owns a trial's scratch directory and its cleanup, and [`runsc`] drives the
//! runsc binary.

pub mod bundle;
pub mod runsc;
pub mod scratch;

pub use bundle::IO_DIR_IN_SANDBOX;
pub use scratch::TrialDir;
