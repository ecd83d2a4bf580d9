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
    let dir = tempfile::tempdir().unwrap();
    let err = load_dir(dir.path()).unwrap_err();
    assert!(
        err.message.contains("no case files found"),
        "{}",
        err.message
    );
}

#[test]
fn a_huge_file_is_refused_unread_and_the_others_still_load() {
    let dir = tempfile::tempdir().unwrap();
    let good = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-cases/good.toml");
    std::fs::copy(good, dir.path().join("good.toml")).unwrap();
    let line = "# padding that no case needs\n";
    let huge = line.repeat(300 * 1024 / line.len());
    std::fs::write(dir.path().join("huge.toml"), huge).unwrap();
    let corpus = load_dir(dir.path()).unwrap();
    assert_eq!(corpus.cases.len(), 1);
    assert_eq!(corpus.errors.len(), 1);
    let e = &corpus.errors[0];
    assert!(
        e.message.contains("more than a case file may be"),
        "{}",
        e.message
    );
}

#[test]
fn an_extend_chain_of_thousands_loads() {
    // cases/README.md says chains may be of any length; 3,000 once overflowed the stack.
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    std::fs::write(
        dir.path().join("c0.toml"),
        "source = \"test\"\nclaim = \"x\"\nrootfs = \"bookworm\"\n",
    )
    .unwrap();
    for i in 1..n {
        std::fs::write(
            dir.path().join(format!("c{i}.toml")),
            format!("extend = \"c{}\"\ntimeout = {}\n", i - 1, 1 + i % 100),
        )
        .unwrap();
    }
    let corpus = load_dir(dir.path()).unwrap();
    assert!(corpus.errors.is_empty(), "{:?}", corpus.errors.first());
    assert_eq!(corpus.cases.len(), n);
    let last = corpus.get(&format!("c{}", n - 1)).unwrap();
    assert_eq!(last.rootfs, "bookworm");
    assert_eq!(last.timeout, Some(1 + ((n - 1) % 100) as u64));
}

/// The two bad cases that reach the host load when the person running dindcheck permits it
/// (`--allow host-cgroup-write,tcp-listener`), and each only with its own permission.
#[test]
fn a_case_that_reaches_the_host_loads_with_its_permission() {
    use dindcheck::case::{Permission, load_dir_allowing};
    let bad = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-cases");
    for (file, permission) in [
        ("host-cgroup-write-not-allowed", Permission::HostCgroupWrite),
        ("tcp-listener-not-allowed", Permission::TcpListener),
    ] {
        let dir = tempfile::tempdir().unwrap();
        std::fs::copy(
            bad.join(format!("{file}.toml")),
            dir.path().join(format!("{file}.toml")),
        )
        .unwrap();
        let other = match permission {
            Permission::HostCgroupWrite => Permission::TcpListener,
            Permission::TcpListener => Permission::HostCgroupWrite,
        };
        let refused = load_dir_allowing(dir.path(), &[other]).unwrap();
        assert_eq!(
            refused.errors.len(),
            1,
            "{file} loaded with the other permission"
        );
        let allowed = load_dir_allowing(dir.path(), &[permission]).unwrap();
        assert!(allowed.errors.is_empty(), "{:?}", allowed.errors);
        assert_eq!(allowed.cases.len(), 1);
    }
}
