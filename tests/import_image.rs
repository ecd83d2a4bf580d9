//! An image tarball imported as a root filesystem (`dindcheck import-image`) runs like the
//! root filesystem it came from, under both launchers (issue 12).
//!
//! The tarball is real `docker save` output: the outer engine's image of the bookworm root
//! filesystem (which the engine launcher imports anyway), exported through the engine's API.
//! It is imported under a name of the test's own into the host's `DINDCHECK_HOME`, a few
//! cases run on both, and every outcome (verdict, explaining line, diagnosis, probes) must be
//! the same. The imported root filesystem, its inventory entry and its image in the engine
//! are removed afterwards, whatever the result.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use dindcheck::case::{self, RunscNetwork};
use dindcheck::inventory::{self, Inventory};
use dindcheck::rootfs_import;
use dindcheck::session::Session;
use dindcheck::trial::launch::Launcher;
use dindcheck::trial::launch::engine::EngineRuntime;
use dindcheck::trial::plan::{RunOptions, Trial};
use dindcheck::trial::probe::Probe;
use futures_util::StreamExt;

/// Removes the imported root filesystem when the test ends, passed or not.
struct Imported {
    home: PathBuf,
    name: String,
}

impl Drop for Imported {
    fn drop(&mut self) {
        if let Err(e) = rootfs_import::remove_imported(&self.home, &self.name) {
            eprintln!("failed to remove the imported root filesystem: {e}");
        }
    }
}

/// A corpus case with only `probes` (enough to compare workloads, without the slow ones).
fn corpus_case(name: &str, probes: &[Probe]) -> case::Case {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus = case::load_dir(&root.join("cases")).unwrap();
    let mut case = corpus
        .runnable()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("cases/{name}.toml"))
        .clone();
    case.probes = Some(probes.to_vec());
    case
}

#[test]
fn an_imported_image_gives_the_same_outcomes_as_the_rootfs_it_came_from() {
    let require = dindcheck::session::environment::require();
    let home = inventory::home();
    let inv = match Inventory::load(&home) {
        Ok(i) if i.rootfs("bookworm").is_some() && !i.runtimes().is_empty() => i,
        Ok(_) | Err(_) if !require => {
            eprintln!("skipped: no inventory with runsc and the bookworm rootfs here");
            return;
        }
        Ok(_) => panic!("no runsc or bookworm rootfs: rerun scripts/setup-host"),
        Err(e) => panic!("{e}"),
    };
    let runtime = inv.runtimes().pop().unwrap();
    let bookworm = inv.rootfs("bookworm").unwrap().clone();
    let name = format!("test-import-{}", std::process::id());
    let options = RunOptions {
        network_override: Some(RunscNetwork::None),
        launchers: vec![Launcher::Oci, Launcher::Engine],
    };
    // A ready dockerd with workloads that work, and one whose probe fails in a known way.
    let cases = [
        corpus_case(
            "gvisor-tutorial-cap-add-all",
            &[Probe::ImageLoad, Probe::RunNone, Probe::Build],
        ),
        corpus_case("claim-userland-proxy-false", &[Probe::Limits]),
    ];
    let first = Trial::new(&cases[0], &runtime, Launcher::Engine, &options);
    // On the same filesystem as the root filesystems: the tarball is as large as one.
    let work = tempfile::Builder::new()
        .prefix(".test-import-")
        .tempdir_in(&home)
        .unwrap();
    let tarball = work.path().join("bookworm.tar");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let engine =
            Arc::new(common::start_engine(&home, &[EngineRuntime::for_trial(&first)]).await);
        let base = engine.image(&bookworm).await.unwrap();
        let mut out = tokio::fs::File::create(&tarball).await.unwrap();
        let mut stream = engine.docker().export_image(&base.reference);
        while let Some(chunk) = stream.next().await {
            tokio::io::AsyncWriteExt::write_all(&mut out, &chunk.unwrap())
                .await
                .unwrap();
        }
        drop(out);

        let imported = rootfs_import::import_image(&tarball, &name, &home, Some(&runtime.path))
            .await
            .unwrap();
        let _guard = Imported {
            home: home.clone(),
            name: name.clone(),
        };
        std::fs::remove_file(&tarball).unwrap();
        eprintln!(
            "imported {} ({}, {} layer(s)) as {}",
            base.reference,
            imported.format.as_str(),
            imported.layers.len(),
            imported.rootfs.path.display()
        );
        let inv = Inventory::load(&home).unwrap();
        let copy = inv.rootfs(&name).expect("the import is in the inventory");
        assert_eq!(
            (&copy.docker, &copy.containerd, &copy.runc),
            (&bookworm.docker, &bookworm.containerd, &bookworm.runc),
            "the versions recorded from the copy's dpkg database"
        );

        let session = Session::with_launchers(
            home.clone(),
            inv.clone(),
            common::engine_runs(&home, &engine),
        );
        let mut compared = Vec::new();
        for case in &cases {
            let mut on_copy = case.clone();
            on_copy.rootfs = name.clone();
            for launcher in [Launcher::Oci, Launcher::Engine] {
                let original = Trial::new(case, &runtime, launcher, &options);
                let imported = Trial::new(&on_copy, &runtime, launcher, &options);
                let a = session.run_trial(&original).await.unwrap();
                let b = session.run_trial(&imported).await.unwrap();
                assert!(
                    a.leaks.is_empty() && b.leaks.is_empty(),
                    "{:?} {:?}",
                    a.leaks,
                    b.leaks
                );
                let (a, b) = (a.outcome.baseline(), b.outcome.baseline());
                assert_eq!(
                    a,
                    b,
                    "{}: the imported root filesystem's outcome differs from bookworm's",
                    original.name()
                );
                compared.push(format!(
                    "{}: {}",
                    original.name(),
                    a.lines().next().unwrap_or("")
                ));
            }
        }
        drop(session);
        // The engine keeps an image per root filesystem: the copy's goes with it.
        let copy_image = engine.image(copy).await.unwrap();
        engine
            .docker()
            .remove_image(
                &copy_image.reference,
                Some(bollard::query_parameters::RemoveImageOptions::default()),
                None,
            )
            .await
            .unwrap();
        let stopped = Arc::try_unwrap(engine).unwrap().stop().await;
        assert!(stopped.leaked.is_empty(), "{:?}", stopped.leaked);
        eprintln!(
            "same outcomes on bookworm and its import:\n  {}",
            compared.join("\n  ")
        );
    });
    assert!(
        !home.join("rootfs").join(&name).exists(),
        "the imported root filesystem was removed"
    );
}
