//! The names of the files a report writes: a leaf module, so that every format can link to
//! another's file without importing the one that writes it.

/// The data, written by the JSON format.
pub const RESULTS_FILE: &str = "results.json";
/// The markdown report.
pub const REPORT_FILE: &str = "REPORT.md";
/// The heat map, beside `REPORT.md`.
pub const HEATMAP_FILE: &str = "heatmap.svg";

/// Where the case pages go, under the output directory.
pub const CASES_DIR: &str = "cases";
/// `dindcheck minimize`'s recipes, each part's evidence.
pub const MINIMAL_RECIPES_PAGE: &str = "minimal-recipes.md";
/// `dindcheck minimize --leave-one-out`: each part removed alone.
pub const WHY_EACH_FLAG_PAGE: &str = "why-each-flag.md";
/// The workload probes of every ready trial.
pub const PROBES_PAGE: &str = "probes.md";
/// The catalogue entries the run's failures named.
pub const CATALOGUE_PAGE: &str = "catalogue.md";
/// The network probes of every trial that ran them.
pub const NETWORKING_PAGE: &str = "networking.md";
/// Every page a report may write beside `REPORT.md`: the output directory removes the ones a
/// new report does not write, so that none outlives the data it was rendered from.
pub const PAGES: [&str; 5] = [
    MINIMAL_RECIPES_PAGE,
    WHY_EACH_FLAG_PAGE,
    PROBES_PAGE,
    NETWORKING_PAGE,
    CATALOGUE_PAGE,
];
