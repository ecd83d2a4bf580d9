//! What doctor concludes from text it read: runsc's version and flags, the kernel release,
//! what a sandbox printed, a root filesystem's dpkg database. Pure functions, tested on
//! fixture text without a sandbox.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

pub use crate::inventory::network::{
    KernelVersion, NETNS_FIX_RELEASE, PER_NETNS_RMEM_KERNEL, Release, parse_kernel, parse_release,
    predicts_netns_misdetection,
};

/// The message runsc prints when it believes it runs in the root network namespace.
pub const ROOT_NETNS_MESSAGE: &str = "cannot run with network enabled in root network namespace";

/// The flags a runsc binary knows, from `runsc flags`, with each flag's usage text.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RunscFlags {
    pub usage: BTreeMap<String, String>,
}

/// Flags the harness passes to every sandbox, which a runsc without them cannot run: the
/// flags a case may not set (`runsc_flags::RESERVED`), and the overlay that keeps the root
/// filesystem unchanged.
pub fn required_flags() -> impl Iterator<Item = &'static str> {
    crate::case::runsc_flags::RESERVED
        .iter()
        .copied()
        .chain(["overlay2"])
}
/// The public name of the packet-socket write switch (from release 20251208) and the older,
/// test-only one that recipes fall back to.
pub const PACKET_WRITE_FLAGS: [&str; 2] = [
    "allow-packet-socket-write",
    "TESTONLY-allow-packet-endpoint-write",
];

impl RunscFlags {
    /// Parses `runsc flags`, which prints Go's flag usage: a line `  -name [type]` per flag,
    /// then its usage on lines indented by a tab.
    pub fn parse(text: &str) -> RunscFlags {
        let mut usage: BTreeMap<String, String> = BTreeMap::new();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("  -") {
                let name = rest.split_whitespace().next().unwrap_or_default();
                if !name.is_empty() {
                    usage.insert(name.to_string(), String::new());
                    current = Some(name.to_string());
                    continue;
                }
            }
            if let (Some(name), true) =
                (&current, line.starts_with('\t') || line.starts_with("    "))
            {
                let u = usage.entry(name.clone()).or_default();
                if !u.is_empty() {
                    u.push(' ');
                }
                u.push_str(line.trim());
            }
        }
        RunscFlags { usage }
    }

    pub fn knows(&self, name: &str) -> bool {
        self.usage.contains_key(name.trim_start_matches('-'))
    }

    /// Required flags this binary lacks.
    pub fn missing_required(&self) -> Vec<&'static str> {
        required_flags().filter(|f| !self.knows(f)).collect()
    }

    /// Which packet-socket write flag this binary takes, preferring the public one.
    pub fn packet_write_flag(&self) -> Option<&'static str> {
        PACKET_WRITE_FLAGS.into_iter().find(|f| self.knows(f))
    }

    /// The platforms named in `--platform`'s usage ("specifies which platform to use:
    /// systrap (default), ptrace, kvm."), and the default one.
    pub fn platforms(&self) -> (Vec<String>, Option<String>) {
        let Some(text) = self.usage.get("platform") else {
            return (Vec::new(), None);
        };
        let list = text
            .split_once("to use:")
            .map(|(_, l)| l.split('.').next().unwrap_or_default())
            .unwrap_or_default();
        let mut default = None;
        let names = list
            .split(',')
            .filter_map(|p| {
                let name = p.split_whitespace().next()?.to_string();
                if p.contains("(default)") {
                    default = Some(name.clone());
                }
                Some(name)
            })
            .collect();
        if default.is_none() {
            default = text
                .split_once("(default \"")
                .and_then(|(_, d)| d.split('"').next())
                .map(str::to_string);
        }
        (names, default)
    }
}

/// Cgroup controllers that dockerd (through runc) may ask for; the ones a sandbox is asked
/// to mount by hand.
pub const V1_CONTROLLERS: &[&str] = &[
    "blkio",
    "cpu",
    "cpuacct",
    "cpuset",
    "devices",
    "freezer",
    "hugetlb",
    "job",
    "memory",
    "net_cls",
    "perf_event",
    "pids",
];

/// Marks the line a probe prints with the entries of `/sys/fs/cgroup`.
pub const CGROUP_LISTING_MARKER: &str = "dindcheck-cgroup-listing:";
/// Marks a line a probe prints for each controller it could mount by hand.
pub const CGROUP_MOUNTABLE_MARKER: &str = "dindcheck-cgroup-mountable:";

/// Marks a line a probe prints for each controller the sandbox refused to mount.
pub const CGROUP_REFUSED_MARKER: &str = "dindcheck-cgroup-refused:";

/// The entries of `/sys/fs/cgroup` from a probe's `echo /sys/fs/cgroup/*` line. The shell
/// leaves the pattern as it is when nothing matches (`ls` is not used: its `statx` fails with
/// EINVAL under runsc 20221219).
pub fn parse_cgroup_listing(output: &str) -> Option<Vec<String>> {
    let line = output
        .lines()
        .find_map(|l| l.trim().strip_prefix(CGROUP_LISTING_MARKER))?;
    Some(
        line.split_whitespace()
            .filter(|e| !e.contains('*'))
            .map(|e| e.rsplit('/').next().unwrap_or(e).to_string())
            .collect(),
    )
}

/// The controllers a probe could mount by hand.
pub fn parse_mountable(output: &str) -> Vec<String> {
    output
        .lines()
        .filter_map(|l| l.trim().strip_prefix(CGROUP_MOUNTABLE_MARKER))
        .map(|c| c.trim().to_string())
        .collect()
}

/// Versions of installed packages in a dpkg status database (`var/lib/dpkg/status`).
pub fn dpkg_versions(status: &str, packages: &[&str]) -> BTreeMap<String, String> {
    let wanted: BTreeSet<&str> = packages.iter().copied().collect();
    let mut found = BTreeMap::new();
    for stanza in status.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        let (Some(pkg), Some(version)) = (field("Package"), field("Version")) else {
            continue;
        };
        let installed = field("Status").is_some_and(|s| s.ends_with(" installed"));
        if installed && wanted.contains(pkg) {
            found.insert(pkg.to_string(), version.to_string());
        }
    }
    found
}

/// A line cut to `max` characters, with an ellipsis when cut.
pub fn shorten(line: &str, max: usize) -> String {
    if line.chars().count() <= max {
        line.to_string()
    } else {
        format!("{}…", line.chars().take(max).collect::<String>())
    }
}

/// A byte count for people: `75.2 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_from_debian_and_upstream_version_lines() {
        assert_eq!(
            parse_release("runsc version 0.0~20221219.0\nspec: 1.0.2-dev\n"),
            Some(Release(20221219))
        );
        assert_eq!(
            parse_release("runsc version release-20240807.0\nspec: 1.1.0\n"),
            Some(Release(20240807))
        );
        assert_eq!(parse_release("runsc version google-12345\n"), None);
        assert_eq!(parse_release(""), None);
    }

    #[test]
    fn kernel_major_minor() {
        assert_eq!(
            parse_kernel("6.18.44-fc-v782"),
            Some(KernelVersion {
                major: 6,
                minor: 18
            })
        );
        assert_eq!(
            parse_kernel("6.1.0-18-amd64\n"),
            Some(KernelVersion { major: 6, minor: 1 })
        );
        assert_eq!(parse_kernel("garbage"), None);
    }

    /// The root-namespace misdetection: runsc before 20240807 on Linux 6.11 or later
    /// (docs/host-facts.md, "Sandbox networking is misdetected on kernel 6.18").
    #[test]
    fn netns_misdetection_needs_old_runsc_and_new_kernel() {
        let k = |major, minor| Some(KernelVersion { major, minor });
        let r = |d| Some(Release(d));
        assert_eq!(
            predicts_netns_misdetection(r(20221219), k(6, 18)),
            Some(true)
        );
        assert_eq!(
            predicts_netns_misdetection(r(20240729), k(6, 11)),
            Some(true)
        );
        assert_eq!(
            predicts_netns_misdetection(r(20240729), k(6, 10)),
            Some(false)
        );
        assert_eq!(
            predicts_netns_misdetection(r(20240807), k(6, 18)),
            Some(false)
        );
        assert_eq!(
            predicts_netns_misdetection(r(20250101), k(7, 0)),
            Some(false)
        );
        assert_eq!(
            predicts_netns_misdetection(r(20221219), k(5, 15)),
            Some(false)
        );
        assert_eq!(predicts_netns_misdetection(None, k(6, 18)), None);
        assert_eq!(predicts_netns_misdetection(r(20221219), None), None);
    }

    /// An excerpt of `runsc flags` from runsc 0.0~20240729.0.
    const FLAGS_20240729: &str = "  -TESTONLY-allow-packet-endpoint-write
    \tTEST ONLY; do not ever use! Used for tests to allow writes on packet sockets.
  -debug
    \tenable debug logging.
  -debug-log string
    \tadditional location for logs.
  -host-uds value
    \tcontrols permission to access host Unix-domain sockets.
  -net-raw runsc exec
    \tenable raw sockets. When false, raw sockets are disabled.
  -network string
    \tspecifies which network to use: sandbox (default), host, none. (default \"sandbox\")
  -overlay2 value
    \twrap mounts with overlayfs.
  -platform string
    \tspecifies which platform to use: systrap (default), ptrace, kvm. (default \"systrap\")
  -root string
    \troot directory for storage of container state.
";

    #[test]
    fn runsc_flags_names_and_usage() {
        let f = RunscFlags::parse(FLAGS_20240729);
        assert!(f.knows("net-raw"));
        assert!(f.knows("--host-uds"));
        assert!(!f.knows("allow-packet-socket-write"));
        assert_eq!(
            f.packet_write_flag(),
            Some("TESTONLY-allow-packet-endpoint-write")
        );
        assert!(f.missing_required().is_empty());
        assert_eq!(
            f.platforms(),
            (
                vec!["systrap".into(), "ptrace".into(), "kvm".into()],
                Some("systrap".into())
            )
        );
        assert!(f.usage["net-raw"].starts_with("enable raw sockets"));
    }

    #[test]
    fn newer_runsc_prefers_the_public_packet_write_flag() {
        let f = RunscFlags::parse(
            "  -TESTONLY-allow-packet-endpoint-write\n\tdeprecated\n  -allow-packet-socket-write\n\tallow writes\n",
        );
        assert_eq!(f.packet_write_flag(), Some("allow-packet-socket-write"));
        assert!(f.missing_required().contains(&"host-uds"));
    }

    #[test]
    fn platforms_of_runsc_20221219() {
        let f = RunscFlags::parse(
            "  -platform string\n    \tspecifies which platform to use: ptrace (default), kvm. (default \"ptrace\")\n",
        );
        assert_eq!(
            f.platforms(),
            (vec!["ptrace".into(), "kvm".into()], Some("ptrace".into()))
        );
    }

    #[test]
    fn cgroup_listing_with_controllers_empty_and_absent() {
        let out = "dindcheck-doctor: started\n\
                   dindcheck-cgroup-listing: /sys/fs/cgroup/cpu /sys/fs/cgroup/devices /sys/fs/cgroup/pids\n";
        assert_eq!(
            parse_cgroup_listing(out),
            Some(vec!["cpu".into(), "devices".into(), "pids".into()])
        );
        // Nothing matched: the shell printed the pattern itself.
        assert_eq!(
            parse_cgroup_listing("dindcheck-cgroup-listing: /sys/fs/cgroup/*\n"),
            Some(vec![])
        );
        assert_eq!(parse_cgroup_listing("the probe never got there\n"), None);
    }

    #[test]
    fn mountable_controllers() {
        let out = "dindcheck-cgroup-mountable: cpu\nmount: /sys/fs/cgroup/devices: wrong fs type\n\
                   dindcheck-cgroup-mountable: memory\n";
        assert_eq!(parse_mountable(out), vec!["cpu", "memory"]);
    }

    #[test]
    fn dpkg_versions_of_installed_packages_only() {
        let status = "Package: containerd\nStatus: install ok installed\nVersion: 1.7.24~ds1-6\n\n\
                      Package: docker.io\nStatus: install ok installed\nArchitecture: amd64\nVersion: 26.1.5+dfsg1-9\n\n\
                      Package: runc\nStatus: deinstall ok config-files\nVersion: 1.1.15\n\n\
                      Package: bash\nStatus: install ok installed\nVersion: 5.2\n";
        let v = dpkg_versions(status, &["docker.io", "containerd", "runc"]);
        assert_eq!(
            v.get("docker.io").map(String::as_str),
            Some("26.1.5+dfsg1-9")
        );
        assert_eq!(
            v.get("containerd").map(String::as_str),
            Some("1.7.24~ds1-6")
        );
        assert_eq!(v.get("runc"), None);
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(512), "512 B");
        assert_eq!(human_bytes(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }
}
