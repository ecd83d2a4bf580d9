//! Root filesystems as images, offline: each cached rootfs is imported into the outer engine
//! (`docker import` through bollard, from a tar stream made on the fly) under a tag that
//! records its content, and imported again only when that content changes.
//!
//! The content key is a digest of the rootfs's dpkg status file (every package and version
//! inside) and its name: what `scripts/setup-host` changes when it rebuilds a rootfs. A root
//! filesystem imported from an image without a dpkg database is keyed by that image's id
//! instead, which `dindcheck import-image` records. An image of the same rootfs under an older
//! key is removed, with its layer.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::Instant;

use bollard::query_parameters::{CreateImageOptions, ListImagesOptions, RemoveImageOptions};
use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use bollard::Docker;

use super::error::{EngineError, ImportFailure, MissingImage};
pub use super::figures::ImportFigure;
use crate::inventory::Rootfs;

/// The repository images of root filesystems are tagged under: `<REPO>-<rootfs name>`.
pub const REPO: &str = "dindcheck-rootfs";

/// A rootfs as an image of the outer engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// `dindcheck-rootfs-<name>:<content key>`.
    pub reference: String,
    /// How long the import took, when this process imported it.
    pub import_ms: Option<u64>,
}

/// `<REPO>-<name>` and the content key of `rootfs`.
pub fn reference(rootfs: &Rootfs) -> Result<(String, String), EngineError> {
    let status = rootfs.path.join("var/lib/dpkg/status");
    let text = match (std::fs::read(&status), &rootfs.imported) {
        (Ok(text), _) => text,
        (Err(_), Some(from)) => from.image_id.clone().into_bytes(),
        (Err(source), None) => {
            return Err(EngineError::Import {
                rootfs: rootfs.path.clone(),
                source: ImportFailure::Status {
                    path: status.clone(),
                    source,
                },
            });
        }
    };
    let mut h = Sha256::new();
    h.update(rootfs.name.as_bytes());
    h.update([0]);
    h.update(&text);
    let key = format!("{:x}", h.finalize());
    Ok((format!("{REPO}-{}", rootfs.name), key[..16].to_string()))
}

/// The images one engine has checked, imported or pulled so far, by rootfs name (or
/// `image <reference>` for an image a case names).
#[derive(Debug, Default)]
pub struct ImageCache(tokio::sync::Mutex<HashMap<String, Image>>);

impl ImageCache {
    /// The images used so far, and how long each import took.
    pub fn figures(&self) -> Vec<ImportFigure> {
        let Ok(known) = self.0.try_lock() else {
            return Vec::new();
        };
        let mut v: Vec<_> = known
            .iter()
            .map(|(key, i)| ImportFigure {
                // Empty for an image a case names (pulled, not imported).
                rootfs: if key.starts_with("image ") {
                    String::new()
                } else {
                    key.clone()
                },
                image: i.reference.clone(),
                import_ms: i.import_ms,
            })
            .collect();
        v.sort_by(|a, b| a.rootfs.cmp(&b.rootfs));
        v
    }

    /// The image of `rootfs`, imported now if this engine does not have it under its current
    /// content key.
    pub async fn rootfs(&self, docker: &Docker, rootfs: &Rootfs) -> Result<Image, EngineError> {
        let mut known = self.0.lock().await;
        if let Some(i) = known.get(&rootfs.name) {
            return Ok(i.clone());
        }
        let (repo, key) = reference(rootfs)?;
        let reference = format!("{repo}:{key}");
        let import_ms = if docker.inspect_image(&reference).await.is_ok() {
            None
        } else {
            let started = Instant::now();
            import(docker, &rootfs.path, &repo, &key).await?;
            Some(started.elapsed().as_millis() as u64)
        };
        remove_stale(docker, &repo, &reference).await;
        let image = Image {
            reference,
            import_ms,
        };
        known.insert(rootfs.name.clone(), image.clone());
        Ok(image)
    }

    /// The image `reference` (a case's `image`), if the engine has it. Err: it has not;
    /// dindcheck never pulls one ([`MissingImage`]).
    pub async fn named(&self, docker: &Docker, reference: &str) -> Result<Image, MissingImage> {
        let key = format!("image {reference}");
        let mut known = self.0.lock().await;
        if let Some(i) = known.get(&key) {
            return Ok(i.clone());
        }
        if docker.inspect_image(reference).await.is_err() {
            return Err(MissingImage);
        }
        // The user's own image: nothing was imported.
        let image = Image {
            reference: reference.to_string(),
            import_ms: None,
        };
        known.insert(key, image.clone());
        Ok(image)
    }
}

/// Streams `dir` as a tar archive into `POST /images/create?fromSrc=-`.
async fn import(
    docker: &bollard::Docker,
    dir: &Path,
    repo: &str,
    tag: &str,
) -> Result<(), EngineError> {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let root = dir.to_path_buf();
    let writer = tokio::task::spawn_blocking(move || {
        let sink = std::io::BufWriter::with_capacity(1 << 20, ChannelWriter(tx.clone()));
        let mut tar = tar::Builder::new(sink);
        tar.follow_symlinks(false);
        let result = tar
            .append_dir_all(".", &root)
            .and_then(|_| tar.into_inner())
            .and_then(|mut w| w.flush());
        if let Err(e) = &result {
            // The engine must not mistake a truncated archive for a whole one.
            let _ = tx.blocking_send(Err(std::io::Error::other(e.to_string())));
        }
        result
    });
    let body = bollard::body_try_stream(tokio_stream(rx));
    let options = CreateImageOptions {
        from_src: Some("-".into()),
        repo: Some(repo.into()),
        tag: Some(tag.into()),
        ..Default::default()
    };
    let mut progress = docker.create_image(Some(options), Some(body), None);
    let mut failure = None;
    while let Some(item) = progress.next().await {
        if let Err(e) = item {
            failure = Some(ImportFailure::Engine(e));
        }
    }
    let failed = |source| EngineError::Import {
        rootfs: dir.to_path_buf(),
        source,
    };
    let written = writer.await.map_err(|e| failed(e.into()))?;
    if let Err(e) = written {
        failure.get_or_insert(ImportFailure::Archive(e));
    }
    failure.map_or(Ok(()), |f| Err(failed(f)))
}

/// Removes the images of `repo` other than `keep`: an earlier content of the same rootfs.
async fn remove_stale(docker: &bollard::Docker, repo: &str, keep: &str) {
    let options = ListImagesOptions {
        filters: Some(HashMap::from([(
            "reference".to_string(),
            vec![repo.to_string()],
        )])),
        ..Default::default()
    };
    let Ok(images) = docker.list_images(Some(options)).await else {
        return;
    };
    for i in images {
        for t in i.repo_tags.iter().filter(|t| t.as_str() != keep) {
            tracing::info!("removing the outdated image {t}");
            let _ = docker
                .remove_image(t, Some(RemoveImageOptions::default()), None)
                .await;
        }
    }
}

fn tokio_stream(
    mut rx: tokio::sync::mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// The blocking side of the archive: each buffer becomes one chunk of the request body.
struct ChannelWriter(tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>);

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| std::io::Error::other("the engine stopped reading the archive"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
