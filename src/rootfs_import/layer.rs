//! Applying one image layer (a tar stream) onto a root filesystem that is being built.
//!
//! The rules are the OCI image spec's ("Applying changesets", "Whiteouts"): entries in order,
//! a `.wh.NAME` file removes `NAME` of the layers below, a `.wh..wh..opq` file empties its
//! directory of what the layers below put there, and every other entry replaces what was at
//! its path (a directory over a directory merges). Ownership, modes, times and extended
//! attributes are kept: the result is used as a container's root, where they matter.
//!
//! This runs as root on the host, writing into a directory of the host, so a layer is
//! untrusted input: an entry whose path is absolute or has a `..` component is refused, and
//! the directories on the way to an entry are resolved inside the root filesystem (as
//! Docker's chrooted extraction sees them: an absolute symlink means the rootfs's own path),
//! never through a symlink that leads out of it; such a symlink is refused. Nothing is ever
//! written through a symlink at an entry's own path: it is replaced.

use std::collections::{HashSet, VecDeque};
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use tar::EntryType;

use super::ImportError;

/// A marker that empties its directory (OCI image spec, "Opaque Whiteout").
const OPAQUE: &str = ".wh..wh..opq";
/// The prefix of a file that removes its namesake from the layers below.
const WHITEOUT_PREFIX: &str = ".wh.";
/// Linux's own limit on symlinks followed while resolving one path (`ELOOP`).
const MAX_SYMLINKS: usize = 40;

/// What one layer did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LayerStats {
    pub entries: usize,
    pub whiteouts: usize,
    pub opaque_dirs: usize,
}

/// Applies the layer tar stream `reader` onto `root`. `layer` names it in errors.
pub fn apply<R: Read>(root: &Path, reader: R, layer: &str) -> Result<LayerStats, ImportError> {
    let mut archive = tar::Archive::new(reader);
    archive.set_preserve_permissions(true);
    archive.set_preserve_ownerships(true);
    archive.set_preserve_mtime(true);
    archive.set_unpack_xattrs(true);
    archive.set_overwrite(true);
    let bad = |path: &str, reason: String| ImportError::Layer {
        layer: layer.to_string(),
        path: path.to_string(),
        reason,
    };
    let read_error = |e: std::io::Error| ImportError::LayerRead {
        layer: layer.to_string(),
        reason: e.to_string(),
    };
    // Paths (relative to the root, symlinks resolved) that this layer wrote: an opaque
    // whiteout only removes what the layers below left.
    let mut written: HashSet<PathBuf> = HashSet::new();
    let mut stats = LayerStats::default();
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader) {
            continue;
        }
        let raw = entry.path().map_err(read_error)?.into_owned();
        let shown = raw.display().to_string();
        let components = entry_components(&raw).map_err(|r| bad(&shown, r))?;
        stats.entries += 1;
        let Some((name, parents)) = components.split_last() else {
            // `./`: the root directory itself.
            if kind.is_dir() {
                set_owner_and_mode(root, &entry).map_err(|e| bad(&shown, e.to_string()))?;
            }
            continue;
        };
        let name_str = name.to_string_lossy();
        if name_str == OPAQUE {
            stats.opaque_dirs += 1;
            if let Some(dir) = resolve_dir(root, parents, false).map_err(|r| bad(&shown, r))? {
                for child in
                    std::fs::read_dir(root.join(&dir)).map_err(|e| bad(&shown, e.to_string()))?
                {
                    let child = child.map_err(|e| bad(&shown, e.to_string()))?;
                    let rel = dir.join(child.file_name());
                    if !written.contains(&rel) {
                        remove(&root.join(&rel)).map_err(|e| bad(&shown, e.to_string()))?;
                    }
                }
            }
            continue;
        }
        if let Some(hidden) = name_str.strip_prefix(WHITEOUT_PREFIX) {
            stats.whiteouts += 1;
            if hidden.is_empty() || hidden == "." || hidden == ".." {
                return Err(bad(&shown, "a whiteout that names no file".into()));
            }
            if let Some(dir) = resolve_dir(root, parents, false).map_err(|r| bad(&shown, r))? {
                let target = root.join(dir).join(hidden);
                if target.symlink_metadata().is_ok() {
                    remove(&target).map_err(|e| bad(&shown, e.to_string()))?;
                }
            }
            continue;
        }
        let dir = resolve_dir(root, parents, true)
            .map_err(|r| bad(&shown, r))?
            .expect("created on the way");
        let rel = dir.join(name);
        let dst = root.join(&rel);
        if let Ok(existing) = dst.symlink_metadata()
            && !(existing.is_dir() && kind.is_dir())
        {
            remove(&dst).map_err(|e| bad(&shown, e.to_string()))?;
        }
        match kind {
            EntryType::Regular
            | EntryType::Continuous
            | EntryType::Directory
            | EntryType::Symlink => {
                entry.unpack(&dst).map_err(|e| bad(&shown, e.to_string()))?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name()
                    .map_err(read_error)?
                    .ok_or_else(|| bad(&shown, "a hard link without a target".into()))?
                    .into_owned();
                let target_components = entry_components(&target)
                    .map_err(|r| bad(&shown, format!("hard link: {r}")))?;
                let Some((target_name, target_parents)) = target_components.split_last() else {
                    return Err(bad(&shown, "a hard link to the root directory".into()));
                };
                let target_dir = resolve_dir(root, target_parents, false)
                    .map_err(|r| bad(&shown, format!("hard link: {r}")))?
                    .ok_or_else(|| {
                        bad(
                            &shown,
                            format!("hard link to {}, which does not exist", target.display()),
                        )
                    })?;
                let source = root.join(target_dir).join(target_name);
                match source.symlink_metadata() {
                    Ok(m) if m.is_dir() => {
                        return Err(bad(&shown, "a hard link to a directory".into()));
                    }
                    Ok(_) => {}
                    Err(_) => {
                        return Err(bad(
                            &shown,
                            format!("hard link to {}, which does not exist", target.display()),
                        ));
                    }
                }
                std::fs::hard_link(&source, &dst).map_err(|e| bad(&shown, e.to_string()))?;
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                // The tar crate writes these as regular files: a root filesystem needs the
                // real nodes (debootstrap puts /dev/null and friends in its /dev).
                make_node(&dst, &entry, kind).map_err(|e| bad(&shown, e.to_string()))?;
            }
            other => {
                return Err(bad(&shown, format!("unsupported tar entry type {other:?}")));
            }
        }
        written.insert(rel);
    }
    Ok(stats)
}

/// The normal components of an entry's path, refusing an absolute path or `..`.
fn entry_components(path: &Path) -> Result<Vec<OsString>, String> {
    let mut v = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(n) => v.push(n.to_os_string()),
            Component::CurDir => {}
            Component::ParentDir => {
                return Err("the path has a `..` component (path traversal)".into());
            }
            Component::RootDir | Component::Prefix(_) => {
                return Err("the path is absolute".into());
            }
        }
    }
    Ok(v)
}

/// The directory `components` names under `root`, as a path relative to `root` with every
/// symlink resolved inside the root. Missing directories are created when `create` (owned by
/// root, mode 0755, as Docker does), else `None` is returned. A symlink that leads out of the
/// root, a loop, or a file on the way is an error.
fn resolve_dir(
    root: &Path,
    components: &[OsString],
    create: bool,
) -> Result<Option<PathBuf>, String> {
    let mut pending: VecDeque<OsString> = components.iter().cloned().collect();
    let mut resolved: Vec<OsString> = Vec::new();
    let mut followed = 0;
    while let Some(c) = pending.pop_front() {
        if c == OsStr::new(".") || c.is_empty() {
            continue;
        }
        if c == OsStr::new("..") {
            // Only symlink targets bring `..` here (entry paths with it are refused).
            if resolved.pop().is_none() {
                return Err("a symlink on the way leads out of the root filesystem".into());
            }
            continue;
        }
        let here: PathBuf = resolved.iter().collect();
        let candidate = root.join(&here).join(&c);
        match candidate.symlink_metadata() {
            Ok(m) if m.is_dir() => resolved.push(c),
            Ok(m) if m.file_type().is_symlink() => {
                followed += 1;
                if followed > MAX_SYMLINKS {
                    return Err("too many levels of symbolic links".into());
                }
                let target = std::fs::read_link(&candidate).map_err(|e| e.to_string())?;
                if target.is_absolute() {
                    resolved.clear();
                }
                let mut next: VecDeque<OsString> = target
                    .components()
                    .filter_map(|t| match t {
                        Component::Normal(n) => Some(n.to_os_string()),
                        Component::ParentDir => Some(OsString::from("..")),
                        _ => None,
                    })
                    .collect();
                next.extend(pending);
                pending = next;
            }
            Ok(_) => {
                return Err(format!("{} is not a directory", here.join(&c).display()));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !create {
                    return Ok(None);
                }
                std::fs::create_dir(&candidate).map_err(|e| e.to_string())?;
                std::fs::set_permissions(&candidate, std::fs::Permissions::from_mode(0o755))
                    .map_err(|e| e.to_string())?;
                resolved.push(c);
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok(Some(resolved.iter().collect()))
}

/// Removes whatever is at `path` (a directory with everything in it), never following a
/// symlink.
fn remove(path: &Path) -> std::io::Result<()> {
    match path.symlink_metadata() {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

fn header_owner_mode<R: Read>(entry: &tar::Entry<'_, R>) -> std::io::Result<(u32, u32, u32)> {
    let h = entry.header();
    let uid = u32::try_from(h.uid()?).map_err(std::io::Error::other)?;
    let gid = u32::try_from(h.gid()?).map_err(std::io::Error::other)?;
    Ok((uid, gid, h.mode()? & 0o7777))
}

/// Owner first, then mode: `chown` clears the set-id bits.
fn set_owner_and_mode<R: Read>(path: &Path, entry: &tar::Entry<'_, R>) -> std::io::Result<()> {
    let (uid, gid, mode) = header_owner_mode(entry)?;
    std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

fn make_node<R: Read>(
    path: &Path,
    entry: &tar::Entry<'_, R>,
    kind: EntryType,
) -> std::io::Result<()> {
    use rustix::fs::{CWD, FileType, Mode, makedev, mknodat};
    let (_, _, mode) = header_owner_mode(entry)?;
    let h = entry.header();
    let (file_type, dev) = match kind {
        EntryType::Char | EntryType::Block => {
            let major = h.device_major()?.unwrap_or(0);
            let minor = h.device_minor()?.unwrap_or(0);
            let t = if kind == EntryType::Char {
                FileType::CharacterDevice
            } else {
                FileType::BlockDevice
            };
            (t, makedev(major, minor))
        }
        _ => (FileType::Fifo, 0),
    };
    mknodat(CWD, path, file_type, Mode::from_raw_mode(mode), dev)?;
    set_owner_and_mode(path, entry)
}
