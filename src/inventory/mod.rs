//! What this host has to test with: runsc binaries and root filesystems.
//!
//! `scripts/setup-host` installs them under `DINDCHECK_HOME` (default `/var/lib/dindcheck`)
//! and writes `inventory.toml`; this module reads it back. Root filesystems that
//! `dindcheck import-image` made from image tarballs are listed in `imported.toml` beside it,
//! a file the setup never rewrites, and are read with it. A [`Runtime`] is one runsc binary
//! with one platform: the axis that trials are crossed with.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub mod network;

pub const DEFAULT_HOME: &str = "/var/lib/dindcheck";

/// The root filesystems that `dindcheck import-image` made, under the home.
pub const IMPORTED_FILE: &str = "imported.toml";

/// `DINDCHECK_HOME`, or the default.
pub fn home() -> PathBuf {
    std::env::var_os("DINDCHECK_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_HOME))
}

/// runsc's platforms, as `--runtime runsc-RELEASE@PLATFORM` names them.
pub const PLATFORMS: [&str; 3] = ["ptrace", "systrap", "kvm"];

/// ` (did you mean `x`?)` for the candidate nearest to `word`, or nothing.
pub fn did_you_mean(word: &str, candidates: &[&str]) -> String {
    crate::case::capability::closest(word, candidates)
        .map(|c| format!(" (did you mean `{c}`?)"))
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum InventoryError {
    #[error("no inventory at {path}: run `scripts/setup-host` (as root) first")]
    Missing { path: PathBuf },
    #[error("cannot read the inventory at {path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("unknown runtime `{name}`{hint}; this host has: {known}")]
    UnknownRuntime {
        name: String,
        known: String,
        /// `; did you mean `…`?` when a known name is near.
        hint: String,
    },
    #[error("unknown platform `{platform}` in `{name}`{hint}; runsc's platforms are: {}", PLATFORMS.join(", "))]
    UnknownPlatform {
        name: String,
        platform: String,
        hint: String,
    },
    #[error(
        "runsc binary {path} is listed in the inventory but missing: rerun `scripts/setup-host`"
    )]
    MissingRunsc { path: PathBuf },
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    pub home: PathBuf,
    /// The host kernel when the setup ran.
    pub kernel: String,
    #[serde(default)]
    pub runsc: Vec<RunscBinary>,
    #[serde(default)]
    pub rootfs: Vec<Rootfs>,
    #[serde(default)]
    pub images: Images,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunscBinary {
    /// gVisor's release date, e.g. `20240729`.
    pub release: String,
    /// The Debian package version it came from (for a binary given with `--runsc`, the first
    /// line of its `runsc --version`).
    pub package_version: String,
    pub path: PathBuf,
    /// The runtime's name when it is not `runsc-<release>`: a `--runsc` binary that shares
    /// its release with another one (see [`crate::own_runsc`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// For a runsc that `scripts/setup-host` built from gVisor's Go module
    /// (docs/runsc-from-go.md): the module's pseudo-version, e.g.
    /// `v0.0.0-20260106215814-b2227fa9cfe0`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_module: Option<String>,
    /// The Go toolchain it was built with (its go.mod's `go` line), e.g. `go1.24.1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_toolchain: Option<String>,
    /// How long its build took, in seconds, as the setup measured it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub go_build_seconds: Option<u64>,
}

impl RunscBinary {
    /// `runsc-<release>`, or the name it was given.
    pub fn runtime_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("runsc-{}", self.release))
    }
}

#[derive(Clone, Debug, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Rootfs {
    pub name: String,
    pub path: PathBuf,
    /// Versions of the Debian packages inside (for an imported root filesystem without a
    /// dpkg database, the binaries' own versions, or `unknown`).
    pub docker: String,
    pub containerd: String,
    pub runc: String,
    /// Set for a root filesystem made by `dindcheck import-image`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<ImportedFrom>,
}

/// Where an imported root filesystem came from.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportedFrom {
    pub tarball: PathBuf,
    /// `docker-save` or `oci-layout`.
    pub format: String,
    /// `sha256:<hex>` of the image's config: Docker's image id.
    pub image_id: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// `<home>/imported.toml`: the imported root filesystems.
#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ImportedRootfs {
    #[serde(default)]
    pub rootfs: Vec<Rootfs>,
}

impl ImportedRootfs {
    /// Reads `<home>/imported.toml`; empty when there is none.
    pub fn load(home: &Path) -> Result<ImportedRootfs, InventoryError> {
        let path = home.join(IMPORTED_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ImportedRootfs::default());
            }
            Err(e) => {
                return Err(InventoryError::Invalid {
                    path,
                    message: e.to_string(),
                });
            }
        };
        toml::from_str(&text).map_err(|e| InventoryError::Invalid {
            path,
            message: e.to_string(),
        })
    }

    /// Adds `rootfs`, or replaces the entry of its name.
    pub fn upsert(&mut self, rootfs: Rootfs) {
        match self.rootfs.iter_mut().find(|r| r.name == rootfs.name) {
            Some(r) => *r = rootfs,
            None => self.rootfs.push(rootfs),
        }
        self.rootfs.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Writes `<home>/imported.toml` (a new file renamed over the old one).
    pub fn save(&self, home: &Path) -> Result<(), InventoryError> {
        let path = home.join(IMPORTED_FILE);
        let invalid = |message: String| InventoryError::Invalid {
            path: path.clone(),
            message,
        };
        let body = toml::to_string(self).map_err(|e| invalid(e.to_string()))?;
        let text = format!(
            "# Written by `dindcheck import-image`; read with inventory.toml. scripts/setup-host leaves it alone.\n\n{body}"
        );
        // A temporary file of its own (removed if anything fails) with `fs::write`'s mode.
        let mut tmp = tempfile::Builder::new()
            .prefix(".imported.toml.")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666))
            .tempfile_in(home)
            .map_err(|e| invalid(e.to_string()))?;
        std::io::Write::write_all(&mut tmp, text.as_bytes()).map_err(|e| invalid(e.to_string()))?;
        tmp.persist(&path)
            .map_err(|e| invalid(e.error.to_string()))?;
        Ok(())
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Images {
    /// A tarball of a tiny busybox root filesystem, for nested workloads.
    #[serde(default)]
    pub busybox: Option<PathBuf>,
}

/// One runsc binary on one platform.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Runtime {
    /// `runsc-<release>`, or `runsc-<release>@<platform>` when a platform is forced.
    pub name: String,
    pub release: String,
    pub path: PathBuf,
    /// `None`: runsc's own default (ptrace before mid-2023 releases, systrap after).
    pub platform: Option<String>,
    /// Why this runsc's sandbox networking cannot start on this host, if it cannot: its
    /// trials of cases that ask for `sandbox` then run with `none`, and the report says so
    /// ([`network::sandbox_network_unavailable`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_network: Option<String>,
}

impl fmt::Display for Runtime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

impl Inventory {
    /// Reads `<home>/inventory.toml`.
    pub fn load(home: &Path) -> Result<Inventory, InventoryError> {
        let path = home.join("inventory.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => InventoryError::Missing { path: path.clone() },
            _ => InventoryError::Invalid {
                path: path.clone(),
                message: e.to_string(),
            },
        })?;
        let mut inventory: Inventory =
            toml::from_str(&text).map_err(|e| InventoryError::Invalid {
                path,
                message: e.to_string(),
            })?;
        // The setup's own root filesystems win a name they share with an import (an import
        // refuses such a name; the setup may have built one since).
        for r in ImportedRootfs::load(home)?.rootfs {
            if inventory.rootfs(&r.name).is_none() {
                inventory.rootfs.push(r);
            }
        }
        Ok(inventory)
    }

    /// [`Inventory::load`], or on a host where `scripts/setup-host` never ran, an inventory
    /// with no runsc and only the imported root filesystems: what `--runsc` binaries are
    /// added to on a user's own gVisor host.
    pub fn load_or_empty(home: &Path) -> Result<Inventory, InventoryError> {
        match Inventory::load(home) {
            Err(InventoryError::Missing { .. }) => Ok(Inventory {
                home: home.to_path_buf(),
                kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_default(),
                runsc: Vec::new(),
                rootfs: ImportedRootfs::load(home)?.rootfs,
                images: Images::default(),
            }),
            other => other,
        }
    }

    /// Every runsc binary with its default platform, oldest release first.
    pub fn runtimes(&self) -> Vec<Runtime> {
        let mut v: Vec<Runtime> = self
            .runsc
            .iter()
            .map(|r| Runtime {
                name: r.runtime_name(),
                release: r.release.clone(),
                path: r.path.clone(),
                platform: None,
                sandbox_network: network::sandbox_network_unavailable(&r.release, &self.kernel),
            })
            .collect();
        v.sort_by(|a, b| (&a.release, &a.name).cmp(&(&b.release, &b.name)));
        v
    }

    /// Resolves runtime names as given on a command line: `runsc-20240729`, `20240729`, or
    /// either with `@platform` (`runsc-20240729@systrap`).
    pub fn select(&self, names: &[String]) -> Result<Vec<Runtime>, InventoryError> {
        let all = self.runtimes();
        names
            .iter()
            .map(|name| {
                let (base, platform) = match name.split_once('@') {
                    Some((b, p)) => (b, Some(p.to_string())),
                    None => (name.as_str(), None),
                };
                let plain = base.strip_prefix("runsc-").unwrap_or(base);
                let rt = all
                    .iter()
                    .find(|r| r.name == base)
                    .or_else(|| all.iter().find(|r| r.name == format!("runsc-{plain}")))
                    .ok_or_else(|| InventoryError::UnknownRuntime {
                        name: name.clone(),
                        known: all
                            .iter()
                            .map(|r| r.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        hint: did_you_mean(
                            base,
                            &all.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
                        ),
                    })?;
                let mut rt = rt.clone();
                if let Some(p) = &platform
                    && !PLATFORMS.contains(&p.as_str())
                {
                    return Err(InventoryError::UnknownPlatform {
                        name: name.clone(),
                        platform: p.clone(),
                        hint: did_you_mean(p, &PLATFORMS),
                    });
                }
                if let Some(p) = platform {
                    rt.name = format!("{}@{p}", rt.name);
                    rt.platform = Some(p);
                }
                if !rt.path.exists() {
                    return Err(InventoryError::MissingRunsc { path: rt.path });
                }
                Ok(rt)
            })
            .collect()
    }

    pub fn rootfs(&self, name: &str) -> Option<&Rootfs> {
        self.rootfs.iter().find(|r| r.name == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binary(release: &str, path: &str, name: Option<&str>) -> RunscBinary {
        RunscBinary {
            release: release.into(),
            package_version: String::new(),
            path: path.into(),
            name: name.map(str::to_string),
            ..Default::default()
        }
    }

    #[test]
    fn two_binaries_of_one_release_are_two_runtimes_selected_by_name() {
        let inv = Inventory {
            home: "/h".into(),
            kernel: "6".into(),
            runsc: vec![
                binary("20240729", "/", None),
                binary("20240729", "/", Some("runsc-20240729-232b299e")),
            ],
            rootfs: Vec::new(),
            images: Images::default(),
        };
        let names: Vec<String> = inv.runtimes().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["runsc-20240729", "runsc-20240729-232b299e"]);
        let picked = inv
            .select(&["runsc-20240729-232b299e@ptrace".into(), "20240729".into()])
            .unwrap();
        assert_eq!(picked[0].name, "runsc-20240729-232b299e@ptrace");
        assert_eq!(picked[0].platform.as_deref(), Some("ptrace"));
        assert_eq!(picked[1].name, "runsc-20240729");
        assert!(inv.select(&["runsc-20990101".into()]).is_err());
    }

    #[test]
    fn imported_root_filesystems_are_read_beside_the_inventory_and_never_shadow_it() {
        let home = tempfile::tempdir().unwrap();
        let h = home.path();
        assert!(matches!(
            Inventory::load(h),
            Err(InventoryError::Missing { .. })
        ));
        let rootfs = |name: &str, docker: &str| Rootfs {
            name: name.into(),
            path: h.join("rootfs").join(name),
            docker: docker.into(),
            containerd: "c".into(),
            runc: "r".into(),
            imported: None,
        };
        let mut imported = ImportedRootfs::default();
        imported.upsert(rootfs("mine", "28.5.2"));
        imported.upsert(rootfs("bookworm", "imported"));
        imported.save(h).unwrap();
        // No setup here: an empty inventory with the imports.
        let empty = Inventory::load_or_empty(h).unwrap();
        assert!(empty.runsc.is_empty());
        assert_eq!(empty.rootfs.len(), 2);
        std::fs::write(
            h.join("inventory.toml"),
            "home = \"/h\"\nkernel = \"6\"\n[[rootfs]]\nname = \"bookworm\"\npath = \"/b\"\n\
             docker = \"20.10.24\"\ncontainerd = \"c\"\nrunc = \"r\"\n",
        )
        .unwrap();
        let inv = Inventory::load(h).unwrap();
        assert_eq!(inv.rootfs("bookworm").unwrap().docker, "20.10.24");
        assert_eq!(inv.rootfs("mine").unwrap().docker, "28.5.2");
    }
}
