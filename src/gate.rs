//! The conformance gate's baselines: where each trial's recorded outcome lives and what it
//! says. The test harness (`tests/conformance.rs`) asserts against them with insta; the
//! report reads them to show what changed since they were recorded.

use std::path::{Path, PathBuf};

use crate::outcome::Outcome;
use crate::plan::Trial;

/// Where baselines live, relative to the repository.
pub const BASELINE_DIR: &str = "tests/baselines";

/// The baseline's name: everything that decides an outcome (case, runtime, launcher, runsc
/// network, dockerd version), so that a new runsc or dockerd is a new baseline to review
/// rather than a silent change of an old one.
pub fn baseline_name(trial: &Trial, launcher: &str, dockerd_package_version: &str) -> String {
    // `20.10.24+dfsg1-1+deb12u1+b6` → `20.10.24`: Debian rebuilds do not change dockerd.
    let dockerd = dockerd_package_version
        .split(['+', '~', '-'])
        .next()
        .unwrap_or(dockerd_package_version);
    format!(
        "{}__{}__{}__net-{}__dockerd-{}",
        trial.case.name,
        trial.runtime.name.replace('@', "-"),
        launcher,
        trial.network.as_str(),
        dockerd
    )
}

/// [`baseline_name`] of `trial` on this host: the dockerd of its root filesystem, or for a
/// case that names an image, the image (`…__image-docker-dind`). `None` when the root
/// filesystem is not installed.
pub fn trial_baseline_name(
    trial: &Trial,
    inventory: &crate::inventory::Inventory,
) -> Option<String> {
    if let Some(image) = &trial.case.image {
        let image: String = image
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' {
                    c
                } else {
                    '-'
                }
            })
            .collect();
        return Some(format!(
            "{}__{}__{}__net-{}__image-{}",
            trial.case.name,
            trial.runtime.name.replace('@', "-"),
            trial.launcher,
            trial.network.as_str(),
            image
        ));
    }
    let rootfs = inventory.rootfs(&trial.case.rootfs)?;
    Some(baseline_name(
        trial,
        trial.launcher.as_str(),
        &rootfs.docker,
    ))
}

pub fn baseline_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.snap"))
}

/// The recorded baseline text (without insta's header), if one exists.
pub fn read_baseline(dir: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(baseline_path(dir, name)).ok()?;
    // insta's format: `---` header lines `---`, then the snapshot.
    let body = text.splitn(3, "---\n").nth(2)?;
    Some(body.trim_end().to_string() + "\n")
}

/// How an outcome compares with its baseline.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "status")]
pub enum BaselineComparison {
    Same,
    /// No baseline was recorded for this trial yet.
    New,
    Changed {
        expected: String,
    },
}

pub fn compare(dir: &Path, name: &str, outcome: &Outcome) -> BaselineComparison {
    match read_baseline(dir, name) {
        None => BaselineComparison::New,
        Some(expected) if expected == outcome.baseline() => BaselineComparison::Same,
        Some(expected) => BaselineComparison::Changed { expected },
    }
}
