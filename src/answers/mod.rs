//! Answers, not only verdicts: the least a recipe needs, and the change that fixes one that
//! fails, found by experiment (real trials through the one trial flow).
//!
//! - [`parts`]: the removable parts of a case, and the case that keeps only some.
//! - [`ddmin`]: delta debugging over parts, against any [`ddmin::Oracle`].
//! - [`trials`]: the trials of a search, memoised by configuration and run in parallel.
//! - [`minimize`](mod@minimize): ddmin to a 1-minimal recipe, confirmed; and leave-one-out.
//! - [`repair`](mod@repair): a failing case's neighbours, one change then pairs, from the
//!   corpus's own vocabulary.
//! - [`casefile`]: the minimal recipe as a case file that extends the original.
//!
//! What they find is saved as data ([`crate::report::answers`]) that the report renders.

pub mod casefile;
pub mod command;
pub mod ddmin;
pub mod minimize;
pub mod parts;
pub mod render;
pub mod repair;
pub mod trials;
