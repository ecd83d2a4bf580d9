//! Capability sets of a case: a named base set plus additions and removals.
//!
//! Names are the kernel's, with or without the `CAP_` prefix (`SYS_ADMIN`, `CAP_SYS_ADMIN`).
//! The resolved set goes into the bounding, effective, permitted and inheritable sets of the
//! sandbox's process, never the ambient set, as the design note and gVisor's tutorial do.

use std::collections::BTreeSet;
use std::str::FromStr;

use oci_spec::runtime::Capability;
use serde::{Deserialize, Deserializer, Serialize};

/// Docker's default capability set for containers (moby `oci/caps/defaults.go`).
const DOCKER_DEFAULT: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FSETID",
    "FOWNER",
    "MKNOD",
    "NET_RAW",
    "SETGID",
    "SETUID",
    "SETFCAP",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "KILL",
    "AUDIT_WRITE",
];

/// The 17 capabilities of the design note, the same list as gVisor's Docker tutorial.
const DOCKER_17: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_ADMIN",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_CHROOT",
    "SYS_PTRACE",
];

/// Every capability the kernel (and `oci-spec`) knows, what `--cap-add all` grants.
const ALL: &[&str] = &[
    "AUDIT_CONTROL",
    "AUDIT_READ",
    "AUDIT_WRITE",
    "BLOCK_SUSPEND",
    "BPF",
    "CHECKPOINT_RESTORE",
    "CHOWN",
    "DAC_OVERRIDE",
    "DAC_READ_SEARCH",
    "FOWNER",
    "FSETID",
    "IPC_LOCK",
    "IPC_OWNER",
    "KILL",
    "LEASE",
    "LINUX_IMMUTABLE",
    "MAC_ADMIN",
    "MAC_OVERRIDE",
    "MKNOD",
    "NET_ADMIN",
    "NET_BIND_SERVICE",
    "NET_BROADCAST",
    "NET_RAW",
    "PERFMON",
    "SETGID",
    "SETFCAP",
    "SETPCAP",
    "SETUID",
    "SYS_ADMIN",
    "SYS_BOOT",
    "SYS_CHROOT",
    "SYS_MODULE",
    "SYS_NICE",
    "SYS_PACCT",
    "SYS_PTRACE",
    "SYS_RAWIO",
    "SYS_RESOURCE",
    "SYS_TIME",
    "SYS_TTY_CONFIG",
    "SYSLOG",
    "WAKE_ALARM",
];

/// A capability name as written in a case, validated against the kernel's list.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, schemars::JsonSchema)]
#[serde(transparent)]
pub struct CapabilityName(String);

impl CapabilityName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The `oci-spec` value of this capability.
    pub fn to_oci(&self) -> Capability {
        // Every name in `ALL` is one oci-spec knows; a unit test checks that.
        Capability::from_str(&self.0).expect("capability names are validated on parse")
    }
}

impl FromStr for CapabilityName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let upper = s.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
        if ALL.contains(&bare) {
            return Ok(CapabilityName(bare.to_string()));
        }
        let hint = closest(bare, ALL)
            .map(|c| format!("; did you mean `{c}`?"))
            .unwrap_or_default();
        Err(format!("unknown capability `{s}`{hint}"))
    }
}

impl<'de> Deserialize<'de> for CapabilityName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Parsed inside the visitor: toml gives the value's own place only to errors raised
        // while it is deserialized, so a name checked after `String::deserialize` returned
        // was located at the whole array, not at its element.
        struct Name;
        impl serde::de::Visitor<'_> for Name {
            type Value = CapabilityName;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<CapabilityName, E> {
                s.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Name)
    }
}

/// The named base set a case starts from.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum CapabilityBase {
    /// Docker's default set for a container (14 capabilities).
    DockerDefault,
    /// The design note's 17 capabilities (gVisor's tutorial list).
    #[default]
    #[serde(rename = "docker-17")]
    Docker17,
    /// Every capability: what `docker run --cap-add all` gives.
    All,
    /// No capability at all.
    None,
}

impl CapabilityBase {
    fn names(self) -> &'static [&'static str] {
        match self {
            CapabilityBase::DockerDefault => DOCKER_DEFAULT,
            CapabilityBase::Docker17 => DOCKER_17,
            CapabilityBase::All => ALL,
            CapabilityBase::None => &[],
        }
    }
}

/// `capabilities = { base = "docker-17", add = [...], drop = [...] }` in a case.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CapabilitySet {
    #[serde(default)]
    pub base: CapabilityBase,
    #[serde(default)]
    pub add: Vec<CapabilityName>,
    #[serde(default)]
    pub drop: Vec<CapabilityName>,
}

impl CapabilitySet {
    /// The capabilities the sandbox's process gets, sorted by name.
    pub fn resolve(&self) -> BTreeSet<CapabilityName> {
        let mut set: BTreeSet<CapabilityName> = self
            .base
            .names()
            .iter()
            .map(|n| CapabilityName(n.to_string()))
            .collect();
        set.extend(self.add.iter().cloned());
        for d in &self.drop {
            set.remove(d);
        }
        set
    }

    /// A name present in both `add` and `drop` is a contradiction, not a choice.
    pub fn conflicts(&self) -> Vec<&CapabilityName> {
        self.add.iter().filter(|a| self.drop.contains(a)).collect()
    }
}

/// The candidate nearest to `word` by edit distance, when it is near enough to be a typo.
pub fn closest<'a>(word: &str, candidates: &[&'a str]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::levenshtein(word, c), *c))
        .filter(|(d, c)| *d <= 2.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_known_name_is_an_oci_capability() {
        for name in ALL {
            let cap: CapabilityName = name.parse().unwrap();
            let _ = cap.to_oci();
        }
    }

    #[test]
    fn the_note_lists_seventeen_and_docker_default_fourteen() {
        assert_eq!(DOCKER_17.len(), 17);
        assert_eq!(DOCKER_DEFAULT.len(), 14);
    }

    #[test]
    fn prefix_and_case_are_accepted() {
        let a: CapabilityName = "cap_sys_admin".parse().unwrap();
        assert_eq!(a.as_str(), "SYS_ADMIN");
    }

    #[test]
    fn a_typo_gets_a_suggestion() {
        let err = "SYS_ADMN".parse::<CapabilityName>().unwrap_err();
        assert_eq!(
            err,
            "unknown capability `SYS_ADMN`; did you mean `SYS_ADMIN`?"
        );
    }

    #[test]
    fn add_and_drop_apply_to_the_base() {
        let set = CapabilitySet {
            base: CapabilityBase::DockerDefault,
            add: vec!["SYS_ADMIN".parse().unwrap()],
            drop: vec!["MKNOD".parse().unwrap()],
        };
        let names: Vec<_> = set.resolve().into_iter().map(|c| c.0).collect();
        assert!(names.contains(&"SYS_ADMIN".to_string()));
        assert!(!names.contains(&"MKNOD".to_string()));
        assert_eq!(names.len(), 14);
    }
}
