//! What a command works on: the case files, the runtimes of the inventory, the launchers,
//! the network mode and the shard, turned into the trials of a run.

use std::path::PathBuf;

use crate::case::{self, Corpus, RunscNetwork};
use crate::inventory::Inventory;
use crate::own_runsc;
use crate::trial::launch::Launcher;
use crate::trial::plan::{self, Partition, RunOptions, Trial};

use super::error::SessionError;

/// A selection of trials, as the CLI's options or the test harness's environment give it.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// The directory of case files.
    pub cases: PathBuf,
    /// Only these cases; empty: every case that is not abstract.
    pub only: Vec<String>,
    /// Only these runtimes (`runsc-20240729`, `runsc-20240729@systrap`); empty: every runsc
    /// of the inventory with its default platform.
    pub runtimes: Vec<String>,
    /// Replaces every case's runsc network mode.
    pub network: Option<RunscNetwork>,
    pub partition: Option<Partition>,
    /// Empty: every launcher.
    pub launchers: Vec<Launcher>,
    /// runsc binaries of the user's own (`--runsc`), added to the inventory's; when given
    /// and `runtimes` is empty, only these run.
    pub runsc: Vec<std::path::PathBuf>,
    /// What the person running dindcheck permits case files to do (`--allow`).
    pub allow: Vec<case::Permission>,
}

/// The trials of a selection, and what they came from.
#[derive(Debug)]
pub struct Planned {
    pub trials: Vec<Trial>,
    pub corpus: Corpus,
    pub inventory: Inventory,
    /// How each `--runsc` binary joined the inventory.
    pub own_runsc: Vec<own_runsc::Added>,
}

impl Selection {
    /// Reads the case files. A bad case file is in the corpus's `errors`, not an error: the
    /// other cases still run.
    pub fn load_cases(&self) -> Result<Corpus, SessionError> {
        case::load_dir_allowing(&self.cases, &self.allow).map_err(SessionError::Cases)
    }

    /// The trials of `corpus` on the runtimes of the inventory under `home`.
    pub fn plan(&self, corpus: Corpus, home: &std::path::Path) -> Result<Planned, SessionError> {
        let unknown = case::load::unknown_names(&corpus, &self.only);
        // A name whose case file exists but is invalid is that, not "no such case".
        let (invalid, unknown): (Vec<&str>, Vec<&str>) = unknown.into_iter().partition(|n| {
            corpus
                .errors
                .iter()
                .any(|e| e.file.file_stem().is_some_and(|s| s == *n))
        });
        if !invalid.is_empty() {
            return Err(SessionError::InvalidCases(
                invalid.iter().map(|n| format!("`{n}`")).collect(),
            ));
        }
        if !unknown.is_empty() {
            let names: Vec<&str> = corpus.runnable().map(|c| c.name.as_str()).collect();
            return Err(SessionError::UnknownCases(
                unknown
                    .iter()
                    .map(|n| format!("`{n}`{}", crate::inventory::did_you_mean(n, &names)))
                    .collect(),
            ));
        }
        let (inventory, own_runsc) = self.inventory(home)?;
        let mut own: Vec<String> = Vec::new();
        for a in &own_runsc {
            if !own.contains(&a.name) {
                own.push(a.name.clone());
            }
        }
        let runtimes = match (self.runtimes.is_empty(), own.is_empty()) {
            (true, true) => inventory.runtimes(),
            (true, false) => inventory.select(&own)?,
            (false, _) => {
                let mut names = self.runtimes.clone();
                names.extend(own.into_iter().filter(|n| !self.runtimes.contains(n)));
                inventory.select(&names)?
            }
        };
        if runtimes.is_empty() {
            return Err(SessionError::NoRunsc);
        }
        let options = RunOptions {
            network_override: self.network,
            launchers: self.launchers.clone(),
        };
        let cases = corpus
            .runnable()
            .filter(|k| self.only.is_empty() || self.only.contains(&k.name));
        let mut trials = plan::plan(cases, &runtimes, &options);
        if let Some(p) = &self.partition {
            trials = p.select(trials);
        }
        Ok(Planned {
            trials,
            corpus,
            inventory,
            own_runsc,
        })
    }

    /// The inventory under `home` with the `--runsc` binaries added (on a host without the
    /// setup, an empty one when binaries are given), and how each was added.
    pub fn inventory(
        &self,
        home: &std::path::Path,
    ) -> Result<(Inventory, Vec<own_runsc::Added>), SessionError> {
        let mut inventory = if self.runsc.is_empty() {
            Inventory::load(home)?
        } else {
            Inventory::load_or_empty(home)?
        };
        let added = own_runsc::add_to(&mut inventory, &self.runsc)?;
        Ok((inventory, added))
    }
}

/// `trials` `n` times over (`dindcheck run --repeat N`), the repetitions one after the other
/// so that a trial's runs are spread over the run rather than back to back.
pub fn repeated(trials: &[Trial], n: u32) -> Vec<Trial> {
    (0..n.max(1)).flat_map(|_| trials.iter().cloned()).collect()
}

impl Selection {
    /// The binaries of `--runsc` that are not already runtimes of the inventory under `home`
    /// (what `doctor --runsc` checks beside the inventory's own), and what was made of each.
    pub fn own_runsc_only(
        runsc: &[PathBuf],
        home: &std::path::Path,
    ) -> Result<
        (
            Vec<crate::inventory::RunscBinary>,
            Vec<crate::own_runsc::Added>,
        ),
        SessionError,
    > {
        let selection = Selection {
            runsc: runsc.to_vec(),
            ..Default::default()
        };
        let (inventory, added) = selection.inventory(home)?;
        let extra = inventory
            .runsc
            .into_iter()
            .filter(|b| {
                added
                    .iter()
                    .any(|a| a.same_as.is_none() && a.name == b.runtime_name())
            })
            .collect();
        Ok((extra, added))
    }
}

/// The cases of `corpus` whose root filesystem this host's inventory does not have: one
/// line each, with the nearest known name (`dindcheck list` reports them as errors; a run
/// lists such trials as not run).
pub fn unknown_rootfs(corpus: &Corpus, inventory: &Inventory, only: &[String]) -> Vec<String> {
    let known: Vec<&str> = inventory.rootfs.iter().map(|r| r.name.as_str()).collect();
    corpus
        .runnable()
        .filter(|c| c.image.is_none() && (only.is_empty() || only.contains(&c.name)))
        .filter(|c| !known.contains(&c.rootfs.as_str()))
        .map(|c| {
            format!(
                "case `{}`: unknown rootfs `{}`{}; this host has: {}",
                c.name,
                c.rootfs,
                crate::inventory::did_you_mean(&c.rootfs, &known),
                known.join(", ")
            )
        })
        .collect()
}

/// Reads `results.json` files for `report --merge`, each with its path as its label.
///
/// A directory stands for every `*.json` file in it, in name order (what the conformance
/// harness writes with `DINDCHECK_RESULTS_DIR`, one file per trial).
pub fn read_results(
    paths: &[PathBuf],
) -> Result<Vec<(String, crate::report::Results)>, SessionError> {
    let mut files = Vec::new();
    for path in paths {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let entries = std::fs::read_dir(path).map_err(|source| SessionError::Read {
            path: path.clone(),
            source,
        })?;
        let mut found: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        found.sort();
        files.extend(found);
    }
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).map_err(|source| SessionError::Read {
                path: path.clone(),
                source,
            })?;
            let not_results = |source| SessionError::NotResults {
                path: path.clone(),
                source,
            };
            // The schema version first: results of another version may not parse as these
            // types, and "unknown field" would hide the real reason.
            let value: serde_json::Value = serde_json::from_str(&text).map_err(not_results)?;
            let label = path.display().to_string();
            crate::report::merge::check_schema(&label, &value)?;
            let results = serde_json::from_value(value).map_err(not_results)?;
            Ok((label, results))
        })
        .collect()
}
