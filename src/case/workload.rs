//! The workloads a case may ask for once its dockerd is ready: their names, as case files
//! and reports spell them. What each one does is [`crate::probe`]'s.

use serde::{Deserialize, Serialize};

/// One workload to try against a ready nested dockerd.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Deserialize,
    Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Probe {
    /// Import the busybox root filesystem as an image (`docker import`).
    ImageLoad,
    /// `docker run --rm --network=none` printing a known string.
    RunNone,
    /// The same with `--network=host`.
    RunHost,
    /// The same on the daemon's default network.
    RunDefault,
    /// `docker build` of `FROM` the image plus one `RUN` step.
    Build,
    /// A detached container, then `docker exec` into it.
    Exec,
    /// A run with `--memory` and `--cpus`, checking that the memory limit is in force.
    Limits,
    /// `docker run --rm --privileged` printing a known string: gVisor's own Docker test runs
    /// privileged nested containers. Only where a case lists it (not in [`Probe::DEFAULT`]).
    RunPrivileged,
}

impl Probe {
    /// The probes of a case that lists none: every probe but the opt-in ones.
    pub const DEFAULT: [Probe; 7] = [
        Probe::ImageLoad,
        Probe::RunNone,
        Probe::RunHost,
        Probe::RunDefault,
        Probe::Build,
        Probe::Exec,
        Probe::Limits,
    ];

    /// Every probe, in the order they run: the default ones, then `run-privileged`.
    pub const ALL: [Probe; 8] = {
        let mut all = [Probe::RunPrivileged; 8];
        let mut i = 0;
        while i < Probe::DEFAULT.len() {
            all[i] = Probe::DEFAULT[i];
            i += 1;
        }
        all
    };

    pub fn as_str(self) -> &'static str {
        match self {
            Probe::ImageLoad => "image-load",
            Probe::RunNone => "run-none",
            Probe::RunHost => "run-host",
            Probe::RunDefault => "run-default",
            Probe::Build => "build",
            Probe::Exec => "exec",
            Probe::Limits => "limits",
            Probe::RunPrivileged => "run-privileged",
        }
    }
}

impl std::fmt::Display for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_is_the_default_ones_then_the_opt_in_one() {
        assert_eq!(Probe::ALL[..7], Probe::DEFAULT);
        assert_eq!(Probe::ALL[7], Probe::RunPrivileged);
    }
}
