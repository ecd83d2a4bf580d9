//! Root filesystems from image tarballs: `dindcheck import-image TARBALL --name NAME`.
//!
//! A user's own Docker (a `docker:dind`-style image, or any image with dockerd) becomes a
//! named root filesystem under `DINDCHECK_HOME`, usable as `rootfs = "NAME"` under both
//! launchers: [`archive`] finds the image's layers in the tarball (`docker save` output or an
//! OCI image layout), [`layer`] applies them in order with whiteouts, ownership and modes,
//! [`versions`] records dockerd's, containerd's and runc's versions, and the entry is written
//! to `<home>/imported.toml` (see [`crate::inventory`]), which `scripts/setup-host` never
//! rewrites.
//!
//! Nothing is half-written: the layers go into a hidden directory beside the others, which is
//! renamed into place only when every layer was applied and checked, and removed on any
//! error. Two imports into one home are serialised by a lock.

mod archive;
mod layer;
mod versions;

#[cfg(test)]
mod tests;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub use archive::{Format, ImageTarball};
pub use layer::LayerStats;
pub use versions::{ComponentVersions, VersionSource};

use crate::inventory::{ImportedFrom, ImportedRootfs, Inventory, Rootfs};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{tarball} is not an image tarball: {reason}")]
    NotAnImage { tarball: PathBuf, reason: String },
    #[error("{tarball} is truncated: {reason}")]
    Truncated { tarball: PathBuf, reason: String },
    #[error("layer {layer}: entry `{path}` refused: {reason}")]
    Layer {
        layer: String,
        path: String,
        reason: String,
    },
    #[error("layer {layer} cannot be read (truncated or corrupt?): {reason}")]
    LayerRead { layer: String, reason: String },
    #[error("layer {layer} is corrupt: its sha256 is {actual}, the image says {expected}")]
    Digest {
        layer: String,
        expected: String,
        actual: String,
    },
    #[error("invalid root filesystem name `{name}`: {reason}")]
    Name { name: String, reason: String },
    #[error(
        "a root filesystem named `{name}` exists at {path} and was not imported (scripts/setup-host built it): choose another --name"
    )]
    NotImported { name: String, path: PathBuf },
    #[error(
        "the image has no dockerd (looked in {looked}): dindcheck runs dockerd from the root filesystem"
    )]
    NoDockerd { looked: String },
    #[error("another import into {home} is running (it holds {lock})")]
    Busy { home: PathBuf, lock: PathBuf },
    #[error("failed to {action}: {source}")]
    Io {
        action: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Inventory(String),
}

/// Where dockerd may be in an image: Debian's package, Docker's static binaries
/// (`docker:dind`).
const DOCKERD_PATHS: [&str; 3] = [
    "usr/bin/dockerd",
    "usr/sbin/dockerd",
    "usr/local/bin/dockerd",
];

/// What an import did.
#[derive(Clone, Debug)]
pub struct Imported {
    pub rootfs: Rootfs,
    pub format: Format,
    pub layers: Vec<LayerStats>,
    /// An earlier import of the same name was replaced.
    pub replaced: bool,
    pub versions: ComponentVersions,
}

/// [`import_image`] with the newest runsc of the inventory under `home` (if any) to read
/// the binaries' versions of an image without a dpkg database, in a sandbox.
pub async fn import_into_inventory(
    tarball: &Path,
    name: &str,
    home: &Path,
) -> Result<Imported, ImportError> {
    let runsc = Inventory::load(home)
        .ok()
        .and_then(|inv| inv.runtimes().pop())
        .map(|r| r.path);
    import_image(tarball, name, home, runsc.as_deref()).await
}

impl Imported {
    /// What a user is told after an import of `tarball` under `home`: what was imported,
    /// the versions found (and where), and how to use it.
    pub fn describe(&self, tarball: &Path, home: &Path) -> Vec<String> {
        let entries: usize = self.layers.iter().map(|l| l.entries).sum();
        let source = |s: versions::VersionSource| match s {
            versions::VersionSource::Dpkg => "dpkg",
            versions::VersionSource::Binary => "--version",
            versions::VersionSource::Unknown => "not found",
        };
        let v = &self.versions;
        vec![
            format!(
                "{} {} ({}, {} layer(s), {entries} entries) as root filesystem `{}` at {}",
                if self.replaced {
                    "re-imported"
                } else {
                    "imported"
                },
                tarball.display(),
                self.format.as_str(),
                self.layers.len(),
                self.rootfs.name,
                self.rootfs.path.display(),
            ),
            format!(
                "  docker {} ({}), containerd {} ({}), runc {} ({})",
                v.docker.0,
                source(v.docker.1),
                v.containerd.0,
                source(v.containerd.1),
                v.runc.0,
                source(v.runc.1)
            ),
            format!(
                "  listed in {}; use it in a case with rootfs = \"{}\"",
                home.join(crate::inventory::IMPORTED_FILE).display(),
                self.rootfs.name
            ),
        ]
    }
}

/// Checks a name for `rootfs = "NAME"`: lowercase letters, digits, `-`, `_`, `.`, not
/// starting with a dot (hidden entries of `<home>/rootfs/` are the import's own).
pub fn validate_name(name: &str) -> Result<(), ImportError> {
    let bad = |reason: &str| ImportError::Name {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() || name.len() > 64 {
        return Err(bad("it must have 1 to 64 characters"));
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit()) {
        return Err(bad("it must start with a lowercase letter or a digit"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
    {
        return Err(bad(
            "only lowercase letters, digits, `-`, `_` and `.` are allowed",
        ));
    }
    Ok(())
}

/// Imports `tarball` as the root filesystem `name` of `home`. `runsc` runs the binaries'
/// `--version` in a sandbox when the image has no dpkg database (`None`: those versions are
/// recorded as unknown).
pub async fn import_image(
    tarball: &Path,
    name: &str,
    home: &Path,
    runsc: Option<&Path>,
) -> Result<Imported, ImportError> {
    validate_name(name)?;
    let io = |action: String| move |source| ImportError::Io { action, source };
    let rootfs_dir = home.join("rootfs");
    std::fs::create_dir_all(&rootfs_dir).map_err(io(format!("create {}", rootfs_dir.display())))?;
    let _lock = lock(home)?;
    let target = rootfs_dir.join(name);

    // Never replace what the setup built.
    let mut imported =
        ImportedRootfs::load(home).map_err(|e| ImportError::Inventory(e.to_string()))?;
    let previously_imported = imported.rootfs.iter().any(|r| r.name == name);
    let built_by_setup = Inventory::load(home).ok().is_some_and(|inv| {
        inv.rootfs
            .iter()
            .any(|r| r.name == name && r.imported.is_none())
    });
    if built_by_setup || (target.symlink_metadata().is_ok() && !previously_imported) {
        return Err(ImportError::NotImported {
            name: name.to_string(),
            path: target,
        });
    }

    let image = ImageTarball::open(tarball)?;
    remove_stale_staging(&rootfs_dir);
    let staging = Staging::create(&rootfs_dir, name)?;
    let mut stats = Vec::new();
    for l in &image.layers {
        let mut stream = archive::LayerStream::new(image.member_reader(&l.member)?);
        let applied = {
            let tar = stream.tar().map_err(|e| ImportError::LayerRead {
                layer: l.member.clone(),
                reason: e.to_string(),
            })?;
            layer::apply(&staging.path, tar, &l.member)?
        };
        let actual = stream.finish().map_err(|e| ImportError::LayerRead {
            layer: l.member.clone(),
            reason: e.to_string(),
        })?;
        if let Some(expected) = &l.sha256
            && *expected != actual
        {
            return Err(ImportError::Digest {
                layer: l.member.clone(),
                expected: expected.clone(),
                actual,
            });
        }
        stats.push(applied);
    }
    if !DOCKERD_PATHS
        .iter()
        .any(|p| staging.path.join(p).symlink_metadata().is_ok())
    {
        return Err(ImportError::NoDockerd {
            looked: DOCKERD_PATHS.map(|p| format!("/{p}")).join(", "),
        });
    }
    // A layer without a `./` entry leaves the staging directory's own 0700.
    let mode = std::fs::metadata(&staging.path)
        .map(|m| m.permissions().mode() & 0o7777)
        .unwrap_or(0o700);
    if mode == 0o700 {
        std::fs::set_permissions(&staging.path, std::fs::Permissions::from_mode(0o755))
            .map_err(io(format!("chmod {}", staging.path.display())))?;
    }

    let versions = versions::detect(&staging.path, runsc, home).await;
    let replaced = staging.commit(&target)?;
    let rootfs = Rootfs {
        name: name.to_string(),
        path: target,
        docker: versions.docker.0.clone(),
        containerd: versions.containerd.0.clone(),
        runc: versions.runc.0.clone(),
        imported: Some(ImportedFrom {
            tarball: std::fs::canonicalize(tarball).unwrap_or_else(|_| tarball.to_path_buf()),
            format: image.format.as_str().to_string(),
            image_id: format!("sha256:{}", image.config_sha256),
            tags: image.tags.clone(),
        }),
    };
    imported.upsert(rootfs.clone());
    imported
        .save(home)
        .map_err(|e| ImportError::Inventory(e.to_string()))?;
    Ok(Imported {
        rootfs,
        format: image.format,
        layers: stats,
        replaced,
        versions,
    })
}

/// The import lock of `home`, held until dropped.
fn lock(home: &Path) -> Result<std::fs::File, ImportError> {
    let path = home.join(".import.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ImportError::Io {
            action: format!("open {}", path.display()),
            source,
        })?;
    rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive).map_err(
        |_| ImportError::Busy {
            home: home.to_path_buf(),
            lock: path.clone(),
        },
    )?;
    Ok(file)
}

const STAGING_PREFIX: &str = ".import-";

/// The directory the layers are applied into: removed unless committed.
struct Staging {
    path: PathBuf,
    committed: bool,
}

impl Staging {
    fn create(rootfs_dir: &Path, name: &str) -> Result<Staging, ImportError> {
        let path = rootfs_dir.join(format!("{STAGING_PREFIX}{name}.{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir(&path).map_err(|source| ImportError::Io {
            action: format!("create {}", path.display()),
            source,
        })?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).map_err(
            |source| ImportError::Io {
                action: format!("chmod {}", path.display()),
                source,
            },
        )?;
        Ok(Staging {
            path,
            committed: false,
        })
    }

    /// Renames the staging directory to `target`, replacing an earlier import there.
    /// Returns whether one was replaced.
    fn commit(mut self, target: &Path) -> Result<bool, ImportError> {
        let io = |action: String| move |source| ImportError::Io { action, source };
        let replaced = target.symlink_metadata().is_ok();
        let old = self
            .path
            .with_extension(format!("{}.replaced", std::process::id()));
        if replaced {
            std::fs::rename(target, &old)
                .map_err(io(format!("move {} aside", target.display())))?;
        }
        std::fs::rename(&self.path, target).map_err(io(format!(
            "rename {} to {}",
            self.path.display(),
            target.display()
        )))?;
        self.committed = true;
        if replaced {
            std::fs::remove_dir_all(&old).map_err(io(format!("remove {}", old.display())))?;
        }
        Ok(replaced)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes staging directories that a killed import left (their pid is gone). Runs under
/// the import lock, so no live import owns one.
fn remove_stale_staging(rootfs_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(rootfs_dir) else {
        return;
    };
    for e in entries.flatten() {
        if e.file_name().to_string_lossy().starts_with(STAGING_PREFIX) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// Removes the imported root filesystem `name`: its directory and its entry. A root
/// filesystem the setup built is refused. Returns whether there was one.
pub fn remove_imported(home: &Path, name: &str) -> Result<bool, ImportError> {
    validate_name(name)?;
    let _lock = lock(home)?;
    let mut imported =
        ImportedRootfs::load(home).map_err(|e| ImportError::Inventory(e.to_string()))?;
    let Some(at) = imported.rootfs.iter().position(|r| r.name == name) else {
        return Ok(false);
    };
    let entry = imported.rootfs.remove(at);
    imported
        .save(home)
        .map_err(|e| ImportError::Inventory(e.to_string()))?;
    match std::fs::remove_dir_all(&entry.path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(source) => Err(ImportError::Io {
            action: format!("remove {}", entry.path.display()),
            source,
        }),
    }
}
