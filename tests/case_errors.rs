//! Malformed case files: each yields one clear error naming its file, line, column and key,
//! and the valid case beside them still loads. The error texts are insta snapshots.

use std::path::Path;

use dindcheck::case::load_dir;

#[test]
fn every_bad_case_gets_one_located_error_and_the_good_one_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-cases");
    let corpus = load_dir(&dir).expect("the directory has case files");
    let names: Vec<&str> = corpus.cases.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["good"], "only the valid case loads");

    let files = std::fs::read_dir(&dir).unwrap().count();
    // cycle-a and cycle-b are each reported once.
    assert_eq!(corpus.errors.len(), files - 1, "one error per bad file");

    let mut errors = corpus.errors.clone();
    errors.sort_by(|a, b| a.file.cmp(&b.file));
    for e in errors {
        let stem = e.file.file_stem().unwrap().to_string_lossy().into_owned();
        let mut text = e.headline().replace(&format!("{}/", dir.display()), "");
        if let Some(h) = &e.hint {
            text.push_str(&format!("\nhint: {h}"));
        }
        insta::assert_snapshot!(format!("bad-case-{stem}"), text);
    }
}

#[test]
fn an_empty_directory_is_an_error_not_zero_cases() {
    let dir = std::env::temp_dir().join(format!("dindcheck-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = load_dir(&dir).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        err.message.contains("no case files found"),
        "{}",
        err.message
    );
}
