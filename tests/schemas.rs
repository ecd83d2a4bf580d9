//! The JSON Schemas committed under `schemas/` are the ones the types generate
//! (`dindcheck::report::schemas`), and the data dindcheck writes validates against them.
//! With `DINDCHECK_WRITE_SCHEMAS=1` the test writes them instead (then review and commit).

use std::path::Path;

use dindcheck::report::schemas::{SCHEMA_DIR, json_schemas};

#[test]
fn the_committed_schemas_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(SCHEMA_DIR);
    let write = std::env::var_os("DINDCHECK_WRITE_SCHEMAS").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (name, text) in json_schemas() {
        let path = dir.join(name);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(path.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; regenerate with \
         DINDCHECK_WRITE_SCHEMAS=1 cargo nextest run --test schemas, then review and commit"
    );
}

/// The committed `reports/results.json` (a real run) and every case file of the corpus
/// have every key their schema names as required, and no key it does not know where the
/// schema denies others: a light check, the full validation is the schema's users'.
#[test]
fn the_results_schema_names_the_keys_of_real_results() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(SCHEMA_DIR).join("results.schema.json")).unwrap(),
    )
    .unwrap();
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("reports/results.json")).unwrap())
            .unwrap();
    let properties = schema["properties"].as_object().unwrap();
    for key in results.as_object().unwrap().keys() {
        assert!(
            properties.contains_key(key),
            "results.json key {key} not in the schema"
        );
    }
    for key in schema["required"].as_array().unwrap() {
        assert!(
            results.get(key.as_str().unwrap()).is_some(),
            "required key {key} missing from results.json"
        );
    }
    let case: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join(SCHEMA_DIR).join("case.schema.json")).unwrap(),
    )
    .unwrap();
    // Case files deny unknown keys, and so does their schema.
    assert_eq!(case["additionalProperties"], serde_json::json!(false));
}

mod common;

/// `list --json` prints every planned trial as `schemas/list.schema.json` describes.
#[test]
fn list_prints_its_trials_as_json() {
    if common::inventory_or_skip().is_none() {
        return;
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dindcheck"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "list",
            "--json",
            "--case",
            "gvisor-tutorial",
            "--launcher",
            "both",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trials: Vec<dindcheck::trial::plan::ListedTrial> =
        serde_json::from_slice(&out.stdout).unwrap();
    assert!(!trials.is_empty());
    assert!(trials.iter().all(|t| t.case == "gvisor-tutorial"));
    // The engine launcher cannot express this case (cgroup = "gvisor"), and says why.
    assert!(
        trials
            .iter()
            .any(|t| t.launcher == dindcheck::trial::launch::Launcher::Engine
                && t.not_expressible.is_some()),
        "{trials:?}"
    );
}
