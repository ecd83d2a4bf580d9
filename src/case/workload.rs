//! The workloads a case may ask for once its dockerd is ready: their names, as case files
//! and reports spell them. What each one does is [`crate::trial::probe`]'s.

use serde::{Deserialize, Serialize};

/// One workload to try against a ready nested dockerd.
#[derive(
    Clone,
    Copy,
    Debug,
    Hash,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
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
    /// A container on the daemon's default network fetches a page from the harness's HTTP
    /// endpoint outside the sandbox (through the sandbox's NAT, if any).
    Egress,
    /// The same from a container with `--network=host`: no nested NAT on the way.
    EgressHost,
    /// A container publishes a port (`-p`); the harness connects to it from outside the
    /// sandbox and must get the container's answer.
    Publish,
    /// Two containers on a user-defined network: one reaches the other by its name (Docker's
    /// embedded DNS).
    Dns,
    /// A container on the default network downloads several MiB from the harness's endpoint
    /// within a bound; the throughput is recorded.
    Bulk,
    /// `docker run --rm --privileged` printing a known string: gVisor's own Docker test runs
    /// privileged nested containers. Only where a case lists it (not in [`Probe::DEFAULT`]).
    RunPrivileged,
}

impl Probe {
    /// Whether the probe fetches from the harness's endpoint outside the sandbox.
    pub fn uses_endpoint(self) -> bool {
        matches!(self, Probe::Egress | Probe::EgressHost | Probe::Bulk)
    }

    /// Whether the probe needs the sandbox's network ([`Probe::NETWORK`]).
    pub fn is_network(self) -> bool {
        Probe::NETWORK.contains(&self)
    }

    /// The probes of a case that lists none: every probe but the opt-in ones. The network
    /// ones ([`Probe::NETWORK`]) run where the sandbox has a network the harness can reach,
    /// and are "not applicable" elsewhere.
    pub const DEFAULT: [Probe; 12] = [
        Probe::ImageLoad,
        Probe::RunNone,
        Probe::RunHost,
        Probe::RunDefault,
        Probe::Build,
        Probe::Exec,
        Probe::Limits,
        Probe::Egress,
        Probe::EgressHost,
        Probe::Publish,
        Probe::Dns,
        Probe::Bulk,
    ];

    /// The probes that need the sandbox's network and the harness's uplink.
    pub const NETWORK: [Probe; 5] = [
        Probe::Egress,
        Probe::EgressHost,
        Probe::Publish,
        Probe::Dns,
        Probe::Bulk,
    ];

    /// Every probe, in the order they run: the default ones, then `run-privileged`.
    pub const ALL: [Probe; 13] = {
        let mut all = [Probe::RunPrivileged; 13];
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
            Probe::Egress => "egress",
            Probe::EgressHost => "egress-host",
            Probe::Publish => "publish",
            Probe::Dns => "dns",
            Probe::Bulk => "bulk",
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
        assert_eq!(Probe::ALL[..12], Probe::DEFAULT);
        assert_eq!(Probe::ALL[12], Probe::RunPrivileged);
        assert_eq!(Probe::DEFAULT[7..], Probe::NETWORK);
    }
}
