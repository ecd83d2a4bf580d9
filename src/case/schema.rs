//! The keys of a case file. `cases/README.md` documents them for users; keep both in step.
//!
//! Every struct denies unknown keys, so a typo is an error with its line and column rather
//! than a silently ignored setting. Every key has a default so that a case that `extend`s
//! another can be parsed (and checked) on its own; the keys a runnable case must have are
//! checked after `extend` is resolved (`finish` and `check` in `load.rs`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::capability::CapabilitySet;
use super::workload::Probe;

/// Where a case's sandbox finds the harness's io directory (its entry script, `daemon.json`,
/// dockerd's socket for the harness): a case may not mount over it or listen in it.
pub const IO_DIR_IN_SANDBOX: &str = "/run/dindcheck";

/// Readiness timeout when a case says nothing.
pub const DEFAULT_TIMEOUT_SECS: u64 = 90;
/// The longest readiness timeout a case may ask for; longer is a mistake, not a wish.
pub const MAX_TIMEOUT_SECS: u64 = 1800;

/// One recipe for running dockerd inside gVisor, and the claim made about it.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The case's name; defaults to the file name without `.toml`. Not inherited.
    #[serde(default)]
    pub name: String,
    /// What the case does, in a sentence.
    #[serde(default)]
    pub description: String,
    /// Where the recipe comes from (a note, a commit, a tutorial).
    #[serde(default)]
    pub source: String,
    /// What the recipe's author asserted about it.
    #[serde(default)]
    pub claim: String,
    /// What the claim predicts, in a form the report can check: `works` (dockerd becomes
    /// ready) or `fails` (it does not). Absent: the claim is shown but not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claimed: Option<Claimed>,
    /// What the claim predicts of workload probes once dockerd is ready, e.g.
    /// `{ run-none = "works", limits = "fails" }` ("Docker commands work", "limits won't").
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub claimed_probes: BTreeMap<Probe, Claimed>,
    /// Another case (by name) whose keys this one starts from. Not inherited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extend: Option<String>,
    /// A base that only exists to be extended: it is not run. Not inherited.
    #[serde(default, rename = "abstract")]
    pub is_abstract: bool,
    /// The root filesystem (by name, as the setup built it) that holds dockerd.
    #[serde(default)]
    pub rootfs: String,
    /// An image the engine launcher runs instead of a root filesystem (e.g. `docker:dind`),
    /// pulled by the outer engine when it does not have it. The OCI launcher cannot run an
    /// image: its trials of such a case are not expressible. `rootfs` is then not used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// How long to wait for dockerd to answer `info`, in seconds.
    #[serde(default)]
    pub timeout: Option<u64>,
    #[serde(default)]
    pub dockerd: Dockerd,
    /// Environment of dockerd (and of the setup script).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub capabilities: CapabilitySet,
    #[serde(default)]
    pub cgroup: CgroupMode,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    /// Shell run inside the sandbox (by `/bin/sh -e`) before dockerd starts.
    #[serde(default)]
    pub setup: String,
    #[serde(default)]
    pub spec_edits: Vec<SpecEdit>,
    #[serde(default)]
    pub runsc: Runsc,
    /// The workload probes to run once dockerd is ready; all when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probes: Option<Vec<Probe>>,
}

/// The checkable part of a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Claimed {
    Works,
    Fails,
}

/// dockerd's command line and configuration file.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Dockerd {
    /// Arguments after `dockerd`. The harness adds one `--host` of its own, for its socket.
    #[serde(default)]
    pub args: Vec<String>,
    /// Written as `/etc/docker/daemon.json` inside the sandbox when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(with = "Option<serde_json::Map<String, serde_json::Value>>")]
    pub daemon_json: Option<toml::Table>,
}

/// What is at `/sys/fs/cgroup` in the sandbox.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum CgroupMode {
    /// A read-write mount of type `cgroup` in the spec, as Docker's spec for a privileged
    /// container has: runsc serves its own cgroupfs there (which controllers depends on the
    /// runsc version).
    #[default]
    Gvisor,
    /// The same mount read-only, as Docker's spec for a container that is not privileged has
    /// (`docker run --cap-add all` without `--privileged`).
    GvisorRo,
    /// The host's `/sys/fs/cgroup` bind-mounted read-only.
    HostBind,
    /// The host's `/sys/fs/cgroup` bind-mounted read-write (`rbind,rw`), as the design note
    /// did. Lets the sandbox write the host's cgroup tree: only for the recipe that needs it.
    HostBindRw,
    /// Nothing: only the plain `sysfs` at `/sys`.
    None,
}

impl CgroupMode {
    /// The value as a case file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            CgroupMode::Gvisor => "gvisor",
            CgroupMode::GvisorRo => "gvisor-ro",
            CgroupMode::HostBind => "host-bind",
            CgroupMode::HostBindRw => "host-bind-rw",
            CgroupMode::None => "none",
        }
    }
}

/// A mount the case adds to the sandbox.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Mount {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// For `bind`: the host path. Must be on the allow list (see `cases/README.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PathBuf>,
    pub destination: PathBuf,
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum MountKind {
    Tmpfs,
    Bind,
}

/// Changes to the generated OCI spec, for the attempts whose essence is a spec change.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SpecEdit {
    /// Add the device rule `{"allow": false, "access": "rwm"}`, as the design note's sandbox
    /// spec had.
    DenyAllDevices,
    /// Set `linux.resources.devices` to an empty list (the note's attempt 2).
    EmptyDeviceRules,
}

/// How runsc is invoked for this case.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Runsc {
    /// The network mode the recipe used. A run may substitute another (`--runsc-network`).
    #[serde(default)]
    pub network: RunscNetwork,
    /// Extra runsc flags, e.g. `--net-raw`. Placed before the subcommand.
    #[serde(default)]
    pub flags: Vec<String>,
    /// Whether the host's side of the sandbox's link hands it coalesced frames, larger than
    /// its MTU (GRO/TSO), as a veth does by default (`true`, the default). `false` models a
    /// host that turned offloading off for the sandbox's link (`ethtool -K <veth> gro off
    /// gso off tso off`): the harness's uplink then sends only frames of the link's MTU
    /// (docs/networking.md, "Coalesced frames"). Only with sandbox networking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uplink_offload: Option<bool>,
}

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum RunscNetwork {
    /// runsc's default: gVisor's own network stack (netstack).
    #[default]
    Sandbox,
    Host,
    None,
}

impl RunscNetwork {
    pub fn as_str(self) -> &'static str {
        match self {
            RunscNetwork::Sandbox => "sandbox",
            RunscNetwork::Host => "host",
            RunscNetwork::None => "none",
        }
    }
}

impl std::str::FromStr for RunscNetwork {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sandbox" => Ok(RunscNetwork::Sandbox),
            "host" => Ok(RunscNetwork::Host),
            "none" => Ok(RunscNetwork::None),
            _ => Err(format!(
                "unknown runsc network `{s}`: expected sandbox, host or none"
            )),
        }
    }
}

impl Case {
    /// The probes this case asks for, in the order they run.
    pub fn selected_probes(&self) -> Vec<Probe> {
        match &self.probes {
            Some(list) => Probe::ALL
                .into_iter()
                .filter(|p| list.contains(p))
                .collect(),
            None => Probe::DEFAULT.to_vec(),
        }
    }

    /// The readiness timeout in seconds.
    pub fn timeout_secs(&self) -> u64 {
        self.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS)
    }
}
