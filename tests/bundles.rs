//! The generated OCI `config.json` of every case in `cases/`, as insta snapshots: a change
//! to what a sandbox is given shows up as a reviewed diff. No sandbox is started.

use std::path::{Path, PathBuf};

use dindcheck::case::load_dir;
use dindcheck::inventory::Runtime;
use dindcheck::trial::launch::Launcher;
use dindcheck::trial::launch::bundle;
use dindcheck::trial::plan::{RunOptions, Trial};

#[test]
fn config_json_of_every_case() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = load_dir(&root.join("cases")).unwrap();
    assert!(corpus.errors.is_empty(), "{:?}", corpus.errors);
    let runtime = Runtime {
        name: "runsc-test".into(),
        release: "test".into(),
        path: PathBuf::from("/runsc"),
        platform: None,
        sandbox_network: None,
    };
    for case in corpus.runnable() {
        let trial = Trial::new(case, &runtime, Launcher::Oci, &RunOptions::default());
        // A case that runs an image has no bundle.
        if dindcheck::trial::launch::expressible(&trial)
            .err()
            .map(|e| e.0)
            .is_some()
        {
            continue;
        }
        let spec = bundle::spec(&trial, Path::new("/ROOTFS"), Path::new("/TRIAL/io")).unwrap();
        insta::assert_snapshot!(format!("config-{}", case.name), bundle::config_json(&spec));
    }
}
