//! The data itself, `results.json`: what `report --merge`, the gate and the schemas read.

use super::files::RESULTS_FILE;
use super::{File, Format};
use crate::report::Results;

/// `results.json`, pretty-printed.
pub struct Json;

impl Format for Json {
    fn files(&self, r: &Results) -> Vec<File> {
        let json = serde_json::to_string_pretty(r).expect("results serialise");
        vec![(RESULTS_FILE.into(), json.into_bytes())]
    }
}
