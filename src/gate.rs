//! The conformance gate's baselines: where each trial's recorded outcome lives and what it
//! says. The test harness (`tests/conformance.rs`) asserts against them with insta; the
//! report reads them to show what changed since they were recorded.

use std::path::{Path, PathBuf};

use crate::trial::outcome::Outcome;
use crate::trial::plan::Trial;

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

/// The baselines in `dir` that no trial reads any more, sorted: `used` are the baseline
/// names of every planned trial. A baseline that is not used is an orphan when its case is
/// not in the corpus (renamed or removed), or when trials of its runtime, launcher and
/// network ran and none read it (a dockerd or image that changed). Baselines of a runtime,
/// launcher or network this run did not select are outside its view: not judged. Pending
/// `.snap.new` files are not baselines.
pub fn orphaned_baselines(dir: &Path, used: &[String]) -> std::io::Result<Vec<String>> {
    // `<case>__<runtime>__<launcher>__net-<network>__<dockerd or image>` (see baseline_name).
    fn parts(name: &str) -> Option<(&str, String)> {
        let f: Vec<&str> = name.split("__").collect();
        (f.len() == 5).then(|| (f[0], f[1..4].join("__")))
    }
    let used_parts: Vec<(&str, String)> = used.iter().filter_map(|u| parts(u)).collect();
    let mut orphans = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let Some(stem) = path
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|_| path.extension().is_some_and(|e| e == "snap"))
        else {
            continue;
        };
        if used.iter().any(|u| u == stem) {
            continue;
        }
        let orphan = match parts(stem) {
            // Not a name this harness writes: nothing reads it.
            None => true,
            Some((case, view)) => {
                !used_parts.iter().any(|(c, _)| *c == case)
                    || used_parts.iter().any(|(_, v)| *v == view)
            }
        };
        if orphan {
            orphans.push(stem.to_string());
        }
    }
    orphans.sort();
    Ok(orphans)
}

/// The recorded baseline text (without insta's header), if one exists.
pub fn read_baseline(dir: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(baseline_path(dir, name)).ok()?;
    // insta's format: `---` header lines `---`, then the snapshot.
    let body = text.splitn(3, "---\n").nth(2)?;
    Some(body.trim_end().to_string() + "\n")
}

/// How an outcome compares with its baseline.
#[derive(
    Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
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

/// Where the trials known to vary from run to run are listed, relative to the repository.
pub const FLAKY_FILE: &str = "tests/flaky.toml";

/// A trial known to give more than one outcome, with the other outcomes it was seen to give
/// (`dindcheck run --repeat N` measures them; the report's Stability section shows them).
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KnownFlaky {
    /// `<case>::<launcher>::<runtime>`.
    pub trial: String,
    /// Outcomes other than the baseline that the trial was seen to give, as the gate
    /// compares them (the baseline text).
    pub variants: Vec<String>,
    /// What is known of why it varies: a catalogue id, an upstream issue, a measurement.
    pub note: String,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FlakyFile {
    #[serde(default)]
    flaky: Vec<KnownFlaky>,
}

/// The known-flaky trials listed in `path` (none when the file does not exist).
pub fn known_flaky(path: &Path) -> Result<Vec<KnownFlaky>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    toml::from_str::<FlakyFile>(&text)
        .map(|f| f.flaky)
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Whether `observed` (an outcome's baseline text) is a known variant of `trial`: the gate
/// then passes it, saying that the known-flaky trial varied, instead of failing it as a
/// regression.
pub fn is_known_variant(known: &[KnownFlaky], trial: &str, observed: &str) -> Option<String> {
    known
        .iter()
        .filter(|k| k.trial == trial)
        .find(|k| {
            k.variants
                .iter()
                .any(|v| v.trim_end() == observed.trim_end())
        })
        .map(|k| k.note.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_baseline_no_trial_uses_is_an_orphan() {
        let dir = tempfile::tempdir().unwrap();
        let used = [
            "a__runsc-1__oci__net-none__dockerd-28.5",
            "b__runsc-1__oci__net-none__dockerd-28.5",
        ];
        for f in used {
            std::fs::write(dir.path().join(format!("{f}.snap")), "").unwrap();
        }
        for f in [
            // Its case is gone.
            "gone__runsc-1__oci__net-none__dockerd-28.5.snap",
            // Its runtime ran, with another dockerd.
            "a__runsc-1__oci__net-none__dockerd-20.10.snap",
            // Not this run's runtime or network: not judged.
            "a__runsc-2__oci__net-none__dockerd-28.5.snap",
            "b__runsc-1__oci__net-sandbox__dockerd-28.5.snap",
            // A pending snapshot and another file are not baselines.
            "a__runsc-1__oci__net-none__dockerd-28.5.snap.new",
            "notes.md",
        ] {
            std::fs::write(dir.path().join(f), "").unwrap();
        }
        let used: Vec<String> = used.map(String::from).to_vec();
        let orphans = orphaned_baselines(dir.path(), &used).unwrap();
        assert_eq!(
            orphans,
            [
                "a__runsc-1__oci__net-none__dockerd-20.10",
                "gone__runsc-1__oci__net-none__dockerd-28.5"
            ]
        );
    }

    #[test]
    fn a_known_variant_passes_only_for_its_trial_and_only_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("flaky.toml");
        assert_eq!(
            known_flaky(&file).unwrap(),
            Vec::new(),
            "no file, no entries"
        );
        std::fs::write(
            &file,
            "[[flaky]]\ntrial = \"c::oci::r\"\nvariants = [\"verdict: exited\\n\"]\nnote = \"seen once\"\n",
        )
        .unwrap();
        let known = known_flaky(&file).unwrap();
        assert_eq!(
            is_known_variant(&known, "c::oci::r", "verdict: exited\n").as_deref(),
            Some("seen once")
        );
        assert_eq!(
            is_known_variant(&known, "c::engine::r", "verdict: exited\n"),
            None
        );
        assert_eq!(
            is_known_variant(&known, "c::oci::r", "verdict: timeout\n"),
            None
        );
        std::fs::write(&file, "[[flaky]]\ntrial = \"x\"\n").unwrap();
        assert!(
            known_flaky(&file).is_err(),
            "an entry without variants and note is refused"
        );
    }

    #[test]
    fn the_repository_list_of_flaky_trials_parses() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join(FLAKY_FILE);
        known_flaky(&file).unwrap();
    }
}
