//! Case files: what one recipe for running dockerd inside gVisor consists of.
//!
//! [`schema`] defines the keys of a case file (documented for users in `cases/README.md`),
//! [`capability`] the capability sets, and [`load`] reads a directory of cases, resolves
//! `extend` chains and reports a bad file with its line, column and key, found from `toml`'s
//! spans ([`spans`]).

pub mod capability;
mod diff;
pub mod load;
pub mod permission;
mod rules;
pub mod runsc_flags;
pub mod schema;
mod spans;
pub mod workload;

pub use capability::{CapabilityBase, CapabilitySet};
pub use load::{CaseError, Corpus, load_dir, load_dir_allowing};
pub use permission::Permission;
pub use schema::{Case, CgroupMode, Claimed, Mount, MountKind, RunscNetwork, SpecEdit};
pub use workload::Probe;
