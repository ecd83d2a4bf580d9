//! The harness's identity for reuse (src/session/reuse.rs): a sha256 of the sources that
//! decide a trial's outcome (`src/`, the error catalogue, `Cargo.lock`), compiled in as
//! `DINDCHECK_SOURCE_SHA256`. A change to any of them gives every trial a new digest, so a
//! run with `--reuse` re-measures everything after a harness change, not only after a
//! version bump (docs/ci.md, "Re-gating a pull request").

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            files(&path, out);
        } else {
            out.push(path);
        }
    }
}

fn main() {
    let mut paths = Vec::new();
    for dir in ["src", "catalogue"] {
        println!("cargo::rerun-if-changed={dir}");
        files(Path::new(dir), &mut paths);
    }
    println!("cargo::rerun-if-changed=Cargo.lock");
    paths.push(PathBuf::from("Cargo.lock"));
    paths.sort();
    let mut hash = Sha256::new();
    for path in &paths {
        // The path and the length delimit each file, so that moving text between files
        // changes the sum.
        let bytes = std::fs::read(path).unwrap_or_default();
        hash.update(path.to_string_lossy().as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    println!(
        "cargo::rustc-env=DINDCHECK_SOURCE_SHA256={:x}",
        hash.finalize()
    );
}
