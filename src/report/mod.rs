//! The report: what a run produced as data ([`Results`], written as `results.json`), merged
//! from several runs ([`merge()`]), and rendered as markdown ([`markdown()`]).
//!
//! - [`results`]: the data, claim verdicts included, built from a run.
//! - [`merge`](mod@merge): shards of one run into one matrix, other hosts as extra columns.
//! - [`markdown`](mod@markdown): the document, its header, matrix and per-case details.
//! - `summary`: the opening (verdict counts, the gate's answer, root causes), and
//!   `recommend`: its first screen (which recipe works here, the least it needs, the one
//!   change that fixes yours).
//! - `pages`: the long sections (minimal recipes, why each flag, workload probes, catalogue
//!   entries), each a page beside the report that it links with one line.
//! - `case_page`, `heatmap`: each case's page and the SVG heat map, beside the report.
//! - [`fail_on`]: the conditions `run --fail-on` fails the exit status on.
//! - [`schemas`]: the JSON Schemas of `results.json`, case files, `doctor --json` and
//!   `list --json`, generated from the types.
//! - `sections`: the other tables (host checks, engine, probes, catalogue, before/after).
//! - [`claims`]: each case's claim judged against what was measured.
//! - [`gaps`]: every saved failure clustered by its line: the catalogue's coverage.

pub mod answers;
pub mod answers_md;
mod case_page;
pub mod claims;
pub mod fail_on;
mod files;
pub mod gaps;
mod heatmap;
pub mod markdown;
pub mod merge;
mod network;
pub mod pages;
mod recommend;
mod record;
pub mod results;
mod reused;
pub mod schemas;
mod sections;
pub mod stability;
mod summary;
mod table;

pub use fail_on::{EXIT_FAIL_ON, FailOn, failed_conditions};
pub use markdown::{CASES_DIR, HEATMAP_FILE, Rendered, markdown, render};
pub use merge::{MergeError, merge};
pub use pages::{PAGES, Page};
pub use record::RunRecord;
pub use results::{
    BaselineStatus, CaseInfo, ClaimStatus, ClaimVerdict, EngineFigures, ImportFigure, NotRun,
    Results, RuntimeInfo, SCHEMA_VERSION,
};
pub use stability::{Stability, Variant, fold_repeats};
pub use table::{cell, matrix_cell, summary_line};
