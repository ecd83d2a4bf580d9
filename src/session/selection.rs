//! What a command works on: the case files, the runtimes of the inventory, the launchers,
//! the network mode and the shard, turned into the trials of a run.

use std::path::PathBuf;

use crate::case::{self, Corpus, RunscNetwork};
use crate::inventory::Inventory;
use crate::launch::Launcher;
use crate::plan::{self, Partition, RunOptions, Trial};

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
}

/// The trials of a selection, and what they came from.
#[derive(Debug)]
pub struct Planned {
    pub trials: Vec<Trial>,
    pub corpus: Corpus,
    pub inventory: Inventory,
}

impl Selection {
    /// Reads the case files. A bad case file is in the corpus's `errors`, not an error: the
    /// other cases still run.
    pub fn load_cases(&self) -> Result<Corpus, SessionError> {
        case::load_dir(&self.cases).map_err(SessionError::Cases)
    }

    /// The trials of `corpus` on the runtimes of the inventory under `home`.
    pub fn plan(&self, corpus: Corpus, home: &std::path::Path) -> Result<Planned, SessionError> {
        let unknown = case::load::unknown_names(&corpus, &self.only);
        if !unknown.is_empty() {
            return Err(SessionError::UnknownCases(
                unknown.iter().map(|s| s.to_string()).collect(),
            ));
        }
        let inventory = Inventory::load(home)?;
        let runtimes = if self.runtimes.is_empty() {
            inventory.runtimes()
        } else {
            inventory.select(&self.runtimes)?
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
        })
    }
}

/// `trials` `n` times over (`dindcheck run --repeat N`), the repetitions one after the other
/// so that a trial's runs are spread over the run rather than back to back.
pub fn repeated(trials: &[Trial], n: u32) -> Vec<Trial> {
    (0..n.max(1)).flat_map(|_| trials.iter().cloned()).collect()
}
