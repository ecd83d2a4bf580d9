//! The report's output formats, each a renderer of [`Results`] behind one trait,
//! [`Format`]: the JSON data (`results.json`), the markdown report (`REPORT.md`, its pages
//! and its case pages) and the heat map (`heatmap.svg`). The output directory
//! ([`crate::output`]) writes whatever [`FORMATS`] return, and removes what a format owned
//! before and did not return this time; adding a format is a module here and one line in
//! [`FORMATS`].
//!
//! - `files`: the names of the files the formats write, a leaf every format links through.
//! - `view`: the outcomes by trial and the report's columns, shared by the matrix-shaped
//!   renderers (the markdown tables, the heat map).

pub mod files;
pub mod heatmap;
pub mod json;
pub mod markdown;
pub mod view;

use std::path::PathBuf;

use crate::report::Results;

/// One rendered file: its path relative to the output directory, and its bytes.
pub type File = (PathBuf, Vec<u8>);

/// One output format of the report.
pub trait Format {
    /// The files this format renders from `r`.
    fn files(&self, r: &Results) -> Vec<File>;

    /// What this format may have written before: its files that a later report does not
    /// always write, which go when it does not (an older one would describe other data).
    fn owned(&self) -> Owned {
        Owned::default()
    }
}

/// The files a format owns in the output directory, removed when it does not write them.
#[derive(Clone, Copy, Debug, Default)]
pub struct Owned {
    /// Files at fixed names.
    pub files: &'static [&'static str],
    /// Folders of `.md` files (one per case), each file in them not written removed; other
    /// files a person put there stay.
    pub folders: &'static [&'static str],
}

/// Every format a report is written in.
pub const FORMATS: [&dyn Format; 3] = [&json::Json, &markdown::Markdown, &heatmap::HeatMap];
