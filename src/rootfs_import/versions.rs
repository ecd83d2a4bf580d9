//! The docker, containerd and runc versions of an imported root filesystem: from its dpkg
//! database when it has one (Debian and Ubuntu images, as `scripts/setup-host` records them),
//! otherwise from the binaries' own `--version`, run inside a gVisor sandbox on that root
//! filesystem: an image's binaries are never executed on the host.

use std::path::Path;
use std::time::Duration;

use crate::doctor::facts::dpkg_versions;
use crate::doctor::probe::Probe;

/// Where a version came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VersionSource {
    Dpkg,
    Binary,
    Unknown,
}

/// The three versions, `unknown` where none could be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentVersions {
    pub docker: (String, VersionSource),
    pub containerd: (String, VersionSource),
    pub runc: (String, VersionSource),
}

pub const UNKNOWN: &str = "unknown";

/// Debian's packages first, then Docker's own (`docker-ce`, `containerd.io`).
const DOCKER_PACKAGES: [&str; 2] = ["docker.io", "docker-ce"];
const CONTAINERD_PACKAGES: [&str; 2] = ["containerd", "containerd.io"];
const RUNC_PACKAGES: [&str; 1] = ["runc"];

/// The versions recorded in `root`'s dpkg database, `None` for each it does not record.
pub fn from_dpkg(root: &Path) -> [Option<String>; 3] {
    let Ok(status) = std::fs::read_to_string(root.join("var/lib/dpkg/status")) else {
        return [None, None, None];
    };
    let all: Vec<&str> = DOCKER_PACKAGES
        .iter()
        .chain(&CONTAINERD_PACKAGES)
        .chain(&RUNC_PACKAGES)
        .copied()
        .collect();
    let found = dpkg_versions(&status, &all);
    let first = |names: &[&str]| names.iter().find_map(|n| found.get(*n).cloned());
    [
        first(&DOCKER_PACKAGES),
        first(&CONTAINERD_PACKAGES),
        first(&RUNC_PACKAGES),
    ]
}

/// The marker before each binary's output in the sandbox's script.
const BINARY_MARKER: &str = "dindcheck-version:";

/// The script that prints each binary's version: `dindcheck-version: NAME` then its output.
pub fn version_script() -> String {
    ["dockerd", "containerd", "runc"]
        .iter()
        .map(|b| format!("echo '{BINARY_MARKER} {b}'; {b} --version 2>&1 | head -n 3"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Parses [`version_script`]'s output: `Docker version 28.5.2, build …`,
/// `containerd github.com/containerd/containerd v1.7.24 …`, `runc version 1.1.15`.
pub fn parse_binary_versions(output: &str) -> [Option<String>; 3] {
    let mut found: [Option<String>; 3] = [None, None, None];
    let mut current = None;
    for line in output.lines() {
        if let Some(b) = line.trim().strip_prefix(BINARY_MARKER) {
            current = match b.trim() {
                "dockerd" => Some(0),
                "containerd" => Some(1),
                "runc" => Some(2),
                _ => None,
            };
            continue;
        }
        let Some(i) = current else { continue };
        if found[i].is_some() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let version = match i {
            0 => words
                .windows(2)
                .find(|w| w[0] == "version")
                .map(|w| w[1].trim_end_matches(',')),
            1 => words
                .iter()
                .find(|w| w.starts_with('v') && w[1..].starts_with(|c: char| c.is_ascii_digit()))
                .map(|w| &w[1..]),
            _ => words
                .windows(3)
                .find(|w| w[0] == "runc" && w[1] == "version")
                .map(|w| w[2]),
        };
        if let Some(v) = version.filter(|v| v.starts_with(|c: char| c.is_ascii_digit())) {
            found[i] = Some(v.to_string());
        }
    }
    found
}

/// Runs [`version_script`] in a sandbox of `runsc` on `root`.
pub async fn from_binaries(runsc: &Path, root: &Path, home: &Path) -> [Option<String>; 3] {
    let mut probe = Probe::new(runsc, root, "import-image versions", &version_script());
    probe.timeout = Duration::from_secs(30);
    let run = probe.run(home).await;
    parse_binary_versions(&run.output)
}

/// The versions of `root`: dpkg's, then (for what dpkg does not record, when a runsc is
/// given) the binaries'.
pub async fn detect(root: &Path, runsc: Option<&Path>, home: &Path) -> ComponentVersions {
    let dpkg = from_dpkg(root);
    let binaries = match runsc {
        Some(r) if dpkg.iter().any(Option::is_none) => from_binaries(r, root, home).await,
        _ => [None, None, None],
    };
    let pick = |i: usize| match (&dpkg[i], &binaries[i]) {
        (Some(v), _) => (v.clone(), VersionSource::Dpkg),
        (None, Some(v)) => (v.clone(), VersionSource::Binary),
        (None, None) => (UNKNOWN.to_string(), VersionSource::Unknown),
    };
    ComponentVersions {
        docker: pick(0),
        containerd: pick(1),
        runc: pick(2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_versions_are_read_from_each_tools_own_format() {
        let out = "dindcheck-version: dockerd\nDocker version 28.5.2, build 28.5.2-0\n\
                   dindcheck-version: containerd\ncontainerd github.com/containerd/containerd/v2 v2.1.4 75cb2b7\n\
                   dindcheck-version: runc\nrunc version 1.3.0\ncommit: v1.3.0\nspec: 1.2.1\n";
        assert_eq!(
            parse_binary_versions(out),
            [
                Some("28.5.2".to_string()),
                Some("2.1.4".to_string()),
                Some("1.3.0".to_string())
            ]
        );
    }

    #[test]
    fn a_missing_binary_gives_no_version() {
        let out = "dindcheck-version: dockerd\nsh: dockerd: not found\n\
                   dindcheck-version: containerd\nsh: containerd: not found\n\
                   dindcheck-version: runc\nsh: runc: not found\n";
        assert_eq!(parse_binary_versions(out), [None, None, None]);
    }
}
