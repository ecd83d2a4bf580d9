//! Reuse of unchanged outcomes (`dindcheck run --reuse RESULTS.json`).
//!
//! A trial's outcome depends on its inputs: the case after `extend` as resolved, the runsc
//! binary, the root filesystem, the host's kernel, the harness (its version and the sha256
//! of the sources it was built from, the error catalogue among them: build.rs) and the
//! probes it runs. Their sha256 is the trial's [`digest`](Inputs::digest), recorded in
//! `results.json`. A run given earlier results takes an earlier outcome as it is when its
//! digest is the same and the earlier run did not see it vary
//! (its Stability section): it re-measures only what a change could have changed. The
//! report marks each reused outcome with the run and the date it came from
//! ([`crate::trial::outcome::Reused`]). A change the digest does not see (the host's own state, a
//! flaky trial not yet known as one) is what a scheduled full run, which reuses nothing, is
//! for (docs/ci.md).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::json;
use sha2::{Digest as _, Sha256};

use crate::inventory::Rootfs;
use crate::trial::outcome::{Outcome, Reused};
use crate::trial::plan::Trial;

/// What every trial's digest shares: each runsc binary's sha256, the kernel, the harness.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    runsc: HashMap<PathBuf, String>,
    kernel: String,
    harness: String,
    probes: bool,
}

impl Inputs {
    /// Reads what `trials` depend on outside their case (each runsc binary hashed once).
    /// `probes`: whether the run runs the workload probes at all (`--no-probes`).
    pub fn read(trials: &[Trial], probes: bool) -> Inputs {
        let mut runsc = HashMap::new();
        for t in trials {
            let path = &t.runtime.path;
            if !runsc.contains_key(path) {
                runsc.insert(path.clone(), file_sha256(path));
            }
        }
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_string();
        // The sources' sha256 covers the catalogue too (build.rs).
        let harness = format!(
            "{} sources {}",
            env!("CARGO_PKG_VERSION"),
            env!("DINDCHECK_SOURCE_SHA256")
        );
        Inputs {
            runsc,
            kernel,
            harness,
            probes,
        }
    }

    /// The sha256 of everything `trial`'s outcome depends on; `rootfs` is its root
    /// filesystem's inventory entry.
    pub fn digest(&self, trial: &Trial, rootfs: Option<&Rootfs>) -> String {
        let probes = if self.probes {
            trial.case.selected_probes()
        } else {
            Vec::new()
        };
        let inputs = json!({
            "case": trial.case,
            "launcher": trial.launcher,
            "network": trial.network,
            "runsc": {
                "name": trial.runtime.name,
                "platform": trial.runtime.platform,
                "sha256": self.runsc.get(&trial.runtime.path),
                "sandbox_network": trial.runtime.sandbox_network,
            },
            "rootfs": rootfs,
            "kernel": self.kernel,
            "harness": self.harness,
            "probes": probes,
        });
        // serde_json's maps are sorted by key: the same inputs give the same text.
        sha256(inputs.to_string().as_bytes())
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// A file's sha256, or a marker that matches no earlier digest when it cannot be read (the
/// trial then fails its host check and is listed under "Not run").
fn file_sha256(path: &Path) -> String {
    let mut hasher = Sha256::new();
    match std::fs::File::open(path).and_then(|mut f| std::io::copy(&mut f, &mut hasher)) {
        Ok(_) => format!("{:x}", hasher.finalize()),
        Err(e) => format!("unreadable: {e}"),
    }
}

/// The outcomes an earlier run measured that a run may take as they are.
#[derive(Debug, Clone, Default)]
pub struct Reuse {
    by_trial: HashMap<String, Outcome>,
}

impl Reuse {
    /// The reusable outcomes of the results at `path`: those with a digest, of trials the
    /// run did not see vary.
    pub fn read(path: &Path) -> Result<Reuse, super::SessionError> {
        let read = super::read_results(&[path.to_path_buf()])?;
        let Some((label, results)) = read.into_iter().next() else {
            return Ok(Reuse::default());
        };
        let flaky: Vec<&str> = results
            .stability
            .iter()
            .filter(|s| s.is_flaky())
            .map(|s| s.trial.as_str())
            .collect();
        let mark = Reused {
            from: label,
            generated: results.generated.clone(),
        };
        let by_trial = results
            .outcomes
            .iter()
            .filter(|o| o.digest.is_some() && !flaky.contains(&o.trial.as_str()))
            .map(|o| {
                let mut o = o.clone();
                // An outcome reused before keeps the run that measured it.
                o.reused.get_or_insert_with(|| mark.clone());
                (o.trial.clone(), o)
            })
            .collect();
        Ok(Reuse { by_trial })
    }

    /// The earlier outcome of the trial named `trial`, if its digest was `digest`.
    pub fn take(&self, trial: &str, digest: &str) -> Option<Outcome> {
        self.by_trial
            .get(trial)
            .filter(|o| o.digest.as_deref() == Some(digest))
            .cloned()
    }

    pub fn is_empty(&self) -> bool {
        self.by_trial.is_empty()
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// A trial of case `c` on `runsc-1` under the OCI launcher, changed by `f`.
    pub(in crate::session) fn trial(f: impl FnOnce(&mut crate::case::Case)) -> Trial {
        let mut case = crate::case::Case {
            name: "c".into(),
            rootfs: "r".into(),
            ..Default::default()
        };
        f(&mut case);
        let runtime = crate::inventory::Runtime {
            name: "runsc-1".into(),
            release: "1".into(),
            path: "/x/runsc".into(),
            platform: None,
            sandbox_network: None,
        };
        let options = crate::trial::plan::RunOptions::default();
        Trial::new(
            &case,
            &runtime,
            crate::trial::launch::Launcher::Oci,
            &options,
        )
    }

    fn inputs(runsc: &str) -> Inputs {
        Inputs {
            runsc: [(PathBuf::from("/x/runsc"), runsc.to_string())].into(),
            kernel: "6.1".into(),
            harness: "0.1.0".into(),
            probes: true,
        }
    }

    #[test]
    fn the_digest_changes_with_the_case_runsc_and_probes_and_nothing_else() {
        let inventory = None;
        let base = inputs("aa").digest(&trial(|_| {}), inventory);
        assert_eq!(base, inputs("aa").digest(&trial(|_| {}), inventory));
        let other_case = trial(|c| c.description = "edited".into());
        assert_ne!(base, inputs("aa").digest(&other_case, inventory));
        assert_ne!(base, inputs("bb").digest(&trial(|_| {}), inventory));
        let no_probes = Inputs {
            probes: false,
            ..inputs("aa")
        };
        assert_ne!(base, no_probes.digest(&trial(|_| {}), inventory));
    }
}
