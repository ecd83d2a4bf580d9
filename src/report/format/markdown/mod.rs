//! The markdown format: `REPORT.md` (summary first, then the matrix and the tables that carry
//! data), a page of its own for each long section and for each case, all linked from it.
//!
//! - `report`: `REPORT.md` itself; `summary` its opening, and `recommend` the first screen
//!   (which recipe works here, the least it needs, the one change that fixes yours).
//! - `pages`: the long sections (minimal recipes, why each flag, workload probes,
//!   networking, catalogue entries), each a page beside the report, linked with one line.
//! - `case_page`: each case's details; `sections`: the other tables (host checks, engine,
//!   probes, catalogue, before/after); `claims`, `network`, `reused`; `answers`: what
//!   `minimize` and `repair` saved.
//! - `table`: what every table shares (escaping a cell, an outcome's short forms).

mod answers;
mod case_page;
mod claims;
mod network;
mod pages;
mod recommend;
mod report;
mod reused;
mod sections;
mod summary;
mod table;

use std::path::Path;

pub use pages::Page;
pub use report::markdown;
pub use table::{cell, matrix_cell, summary_line};

use super::files::{CASES_DIR, PAGES, REPORT_FILE};
use super::view::View;
use super::{File, Format, Owned};
use crate::report::Results;

/// Everything the markdown format is made of: `REPORT.md`, the pages of its long sections
/// and one page per case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rendered {
    pub markdown: String,
    /// The long sections, each written as its `file` beside `REPORT.md`.
    pub pages: Vec<Page>,
    /// `(case name, its page)`, written as `cases/<case>.md`.
    pub case_pages: Vec<(String, String)>,
}

/// Renders the report, its pages and its case pages.
pub fn render(r: &Results) -> Rendered {
    let view = View::of(r);
    Rendered {
        markdown: markdown(r),
        pages: pages::pages(r),
        case_pages: r
            .cases
            .iter()
            .map(|c| (c.name.clone(), case_page::case_page(r, c, &view)))
            .collect(),
    }
}

/// `REPORT.md`, the pages that have something to show, and `cases/<case>.md`.
pub struct Markdown;

impl Format for Markdown {
    fn files(&self, r: &Results) -> Vec<File> {
        let rendered = render(r);
        let mut files = vec![(REPORT_FILE.into(), rendered.markdown.into_bytes())];
        for page in rendered.pages {
            files.push((page.file.into(), page.text.into_bytes()));
        }
        for (case, page) in rendered.case_pages {
            files.push((
                Path::new(CASES_DIR).join(format!("{case}.md")),
                page.into_bytes(),
            ));
        }
        files
    }

    /// A section with nothing to show writes no page, and a case that is gone no case page.
    fn owned(&self) -> Owned {
        Owned {
            files: &PAGES,
            folders: &[CASES_DIR],
        }
    }
}
