//! The report: what a run produced as data ([`Results`], written as `results.json`), merged
//! from several runs ([`merge()`]), and rendered as markdown ([`markdown()`]).
//!
//! - [`results`]: the data, claim verdicts included, built from a run.
//! - [`merge`](mod@merge): shards of one run into one matrix, other hosts as extra columns.
//! - [`markdown`](mod@markdown): the document, its header, matrix and per-case details.
//! - `sections`: the other tables (host checks, engine, probes, catalogue, before/after).
//! - [`claims`]: each case's claim judged against what was measured.

pub mod answers;
pub mod answers_md;
pub mod claims;
pub mod markdown;
pub mod merge;
mod record;
pub mod results;
mod sections;
pub mod stability;
mod table;

pub use markdown::markdown;
pub use merge::{MergeError, merge};
pub use record::RunRecord;
pub use results::{
    BaselineStatus, CaseInfo, ClaimStatus, ClaimVerdict, EngineFigures, ImportFigure, NotRun,
    Results, RuntimeInfo, SCHEMA_VERSION,
};
pub use stability::{Stability, Variant, fold_repeats};
pub use table::{cell, matrix_cell, summary_line};
