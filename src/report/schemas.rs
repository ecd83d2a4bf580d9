//! JSON Schemas of what dindcheck writes and reads, generated from the types themselves
//! (`schemars`), so that they cannot drift from the code: `results.json`, case files (TOML,
//! checked as the data they hold), `doctor --json` and `list --json`. They are committed
//! under `schemas/`; `tests/schemas.rs` fails when a committed schema is out of date.

use schemars::schema_for;

use super::results::Results;
use crate::case::Case;
use crate::doctor::DoctorReport;
use crate::trial::plan::ListedTrial;

/// The folder of the committed schemas, relative to the repository.
pub const SCHEMA_DIR: &str = "schemas";

/// Each schema's file name and text (pretty JSON, with a final newline).
pub fn json_schemas() -> Vec<(&'static str, String)> {
    let text =
        |s: schemars::Schema| serde_json::to_string_pretty(&s).expect("a schema serialises") + "\n";
    vec![
        ("results.schema.json", text(schema_for!(Results))),
        ("case.schema.json", text(schema_for!(Case))),
        ("doctor.schema.json", text(schema_for!(DoctorReport))),
        ("list.schema.json", text(schema_for!(Vec<ListedTrial>))),
    ]
}
