//! The outcomes of a report as its tables and its heat map lay them out: found by trial, in
//! columns of (runtime, launcher), each runtime's launchers side by side so that a
//! difference between them stands out. Shared by the formats that draw a matrix.

use std::collections::BTreeMap;

use crate::report::Results;
use crate::trial::launch::Launcher;
use crate::trial::outcome::Outcome;

/// Outcomes by (case, launcher, runtime).
pub type ByTrial<'a> = BTreeMap<(&'a str, &'a str, &'a str), &'a Outcome>;

/// The outcomes, and the columns (runtime, launcher) that every per-case table and the heat
/// map show side by side, as the matrix does.
pub struct View<'a> {
    pub by_trial: ByTrial<'a>,
    pub columns: Vec<(&'a str, &'static str)>,
}

impl<'a> View<'a> {
    /// The view of a report: each runtime's launchers next to each other, so that a
    /// difference between them stands out.
    pub fn of(r: &'a Results) -> View<'a> {
        let by_trial = r
            .outcomes
            .iter()
            .map(|o| {
                (
                    (o.case.as_str(), o.launcher.as_str(), o.runtime.as_str()),
                    o,
                )
            })
            .collect();
        let launchers = launchers(r);
        let columns = r
            .runtimes
            .iter()
            .flat_map(|rt| {
                launchers
                    .iter()
                    .map(move |l| (rt.name.as_str(), l.as_str()))
            })
            .collect();
        View { by_trial, columns }
    }

    /// The outcome of `case` in one column, if it ran.
    pub fn get<'k>(&'k self, case: &'k str, column: (&'k str, &'k str)) -> Option<&'k Outcome> {
        // The map is covariant in its keys: it can be asked with shorter-lived ones.
        let map: &BTreeMap<(&'k str, &'k str, &'k str), &'k Outcome> = &self.by_trial;
        map.get(&(case, column.1, column.0)).copied()
    }
}

/// Whether the launcher said it cannot express the case (no trial, and no failure).
pub fn is_not_expressible(r: &Results, case: &str, launcher: &str, runtime: &str) -> bool {
    let name = format!("{case}::{launcher}::{runtime}");
    r.not_expressible.iter().any(|n| n.trial == name)
}

/// The run's launchers; results written before launchers existed were all `oci`.
pub fn launchers(r: &Results) -> Vec<Launcher> {
    if r.launchers.is_empty() {
        vec![Launcher::Oci]
    } else {
        r.launchers.clone()
    }
}
