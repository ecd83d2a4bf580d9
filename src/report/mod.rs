//! The report: what a run produced as data ([`Results`], written as `results.json`), merged
//! from several runs ([`merge()`]), and rendered in each output format ([`format`](mod@format)).
//!
//! The data, in this folder:
//! - [`results`]: the data, claim verdicts included, built from a run by `record`.
//! - [`merge`](mod@merge): shards of one run into one matrix, other hosts as extra columns.
//! - [`claims`]: each case's claim judged against what was measured.
//! - [`answers`]: what `minimize` and `repair` saved, read from the output directory.
//! - [`gaps`]: every saved failure clustered by its line: the catalogue's coverage.
//! - [`stability`]: repeated trials folded into one, with how often each outcome came.
//! - [`fail_on`]: the conditions `run --fail-on` fails the exit status on.
//! - [`schemas`]: the JSON Schemas of `results.json`, case files, `doctor --json` and
//!   `list --json`, generated from the types.
//!
//! The renderers, in [`format`](mod@format): one module per output format behind one trait
//! ([`format::Format`]): JSON, markdown (with its pages and case pages), the heat map.

pub mod answers;
pub mod claims;
pub mod fail_on;
pub mod format;
pub mod gaps;
pub mod merge;
mod record;
pub mod results;
pub mod schemas;
pub mod stability;

pub use fail_on::{EXIT_FAIL_ON, FailOn, failed_conditions};
pub use format::files::{CASES_DIR, HEATMAP_FILE, PAGES};
pub use format::heatmap::heatmap;
pub use format::markdown::{Page, Rendered, cell, markdown, matrix_cell, render, summary_line};
pub use format::{FORMATS, Format};
pub use merge::{MergeError, merge};
pub use record::RunRecord;
pub use results::{
    BaselineStatus, CaseInfo, ClaimStatus, ClaimVerdict, EngineFigures, ImportFigure, NotRun,
    Results, RuntimeInfo, SCHEMA_VERSION,
};
pub use stability::{Stability, Variant, fold_repeats};
