//! What a runsc release can do on this host's kernel: the release and kernel versions, and
//! whether runsc's sandbox networking can start (docs/host-facts.md, "Sandbox networking").
//! Read by the plan (which network mode a trial gets) and by doctor (which also tries it).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A gVisor release, named by its date (`20240729`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct Release(pub u32);

impl fmt::Display for Release {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The first release whose root-namespace test no longer relies on the existence of
/// `/proc/sys/net/core/rmem_default` (docs/host-facts.md, "Sandbox networking").
pub const NETNS_FIX_RELEASE: Release = Release(20240807);

/// The kernel that made `net.core.rmem_default` per network namespace, so that the file
/// exists in every namespace and older runsc believes it always runs in the root one.
pub const PER_NETNS_RMEM_KERNEL: KernelVersion = KernelVersion {
    major: 6,
    minor: 11,
};

/// The release date in `runsc --version` output. Debian's builds print
/// `runsc version 0.0~20221219.0`, gVisor's own `runsc version release-20240807.0`.
pub fn parse_release(version_output: &str) -> Option<Release> {
    let first = version_output.lines().next()?;
    let re = regex::Regex::new(r"(?:^|[^0-9])(20[0-9]{6})(?:[^0-9]|$)").expect("a valid regex");
    re.captures(first)?
        .get(1)?
        .as_str()
        .parse()
        .ok()
        .map(Release)
}

/// A kernel's major and minor version: all that the checks compare.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
pub struct KernelVersion {
    pub major: u32,
    pub minor: u32,
}

impl fmt::Display for KernelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// `6.18.44-fc-v782` → 6.18.
pub fn parse_kernel(release: &str) -> Option<KernelVersion> {
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some(KernelVersion { major, minor })
}

/// Whether runsc `release` on `kernel` will refuse sandbox networking with "cannot run with
/// network enabled in root network namespace" although it is not in the root namespace.
/// `None` when either version is unknown.
pub fn predicts_netns_misdetection(
    release: Option<Release>,
    kernel: Option<KernelVersion>,
) -> Option<bool> {
    Some(release? < NETNS_FIX_RELEASE && kernel? >= PER_NETNS_RMEM_KERNEL)
}


/// Why runsc `release` cannot start its sandbox networking on `kernel_release`, or `None`
/// when it can (or when either version is unknown: the trial then tries).
pub fn sandbox_network_unavailable(release: &str, kernel_release: &str) -> Option<String> {
    let r = release.parse().ok().map(Release);
    let k = parse_kernel(kernel_release);
    match predicts_netns_misdetection(r, k) {
        Some(true) => Some(format!(
            "runsc {release} (before {NETNS_FIX_RELEASE}) misdetects the root network namespace \
             on Linux {} (from {PER_NETNS_RMEM_KERNEL} on) and refuses sandbox networking",
            k.map_or_else(|| "?".into(), |k| k.to_string()),
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_releases_before_the_fix_on_new_kernels_lose_sandbox_networking() {
        assert!(sandbox_network_unavailable("20240729", "6.18.44-fc-v1252").is_some());
        assert!(sandbox_network_unavailable("20221219", "6.11.0").is_some());
        assert_eq!(sandbox_network_unavailable("20240729", "6.10.3"), None);
        assert_eq!(sandbox_network_unavailable("20240807", "6.18.44"), None);
        assert_eq!(sandbox_network_unavailable("20251215", "6.18.44"), None);
        // A release that is not a date (a `--runsc` binary named otherwise) is tried.
        assert_eq!(sandbox_network_unavailable("mine", "6.18.44"), None);
    }
}
