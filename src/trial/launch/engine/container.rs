//! A case as a container through a Docker Engine: what `docker run` flags say the same thing
//! as the OCI launcher's spec, and which cases the engine cannot say at all.
//!
//! Pure: the translation is tested without an engine. What Docker adds on its own (its
//! default seccomp profile, masked and read-only `/proc` paths, its default device rules) is
//! part of the engine topology and is kept: a difference between the launchers caused by
//! them is a finding, not a bug of the translation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bollard::models::{
    ContainerCreateBody, HostConfig, HostConfigCgroupnsModeEnum, ResourcesUlimits,
};
use sha2::{Digest, Sha256};

use crate::case::{CapabilityBase, CgroupMode, MountKind, SpecEdit};
use crate::trial::launch::flags::GlobalFlags;
pub use crate::trial::launch::launcher::NotExpressible;
use crate::trial::launch::spec::{IO_DIR_IN_SANDBOX, PATH_ENV};
use crate::trial::plan::Trial;

/// The label that names the harness process that created a container, so that a run on a
/// shared engine removes only its own containers.
pub const OWNER_LABEL: &str = "dindcheck.pid";

/// A runsc binary with the global flags one or more trials need: one entry of the outer
/// engine's `runtimes` map.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EngineRuntime {
    /// `dindcheck-<release>-<digest of the flags>`: the `--runtime` name.
    pub name: String,
    pub path: PathBuf,
    pub args: Vec<String>,
}

impl EngineRuntime {
    /// The runtime `trial` runs under: the same global runsc flags as the OCI launcher's,
    /// less those the engine's shim passes itself (`--root`, logging).
    pub fn for_trial(trial: &Trial) -> EngineRuntime {
        let args = GlobalFlags::for_trial(trial).args();
        let mut h = Sha256::new();
        h.update(trial.runtime.path.as_os_str().as_encoded_bytes());
        for a in &args {
            h.update([0]);
            h.update(a.as_bytes());
        }
        let digest = format!("{:x}", h.finalize());
        EngineRuntime {
            name: format!("dindcheck-{}-{}", trial.runtime.release, &digest[..10]),
            path: trial.runtime.path.clone(),
            args,
        }
    }

    /// The entry of `daemon.json`'s `runtimes` map.
    pub fn daemon_json_entry(&self) -> serde_json::Value {
        serde_json::json!({ "path": self.path, "runtimeArgs": self.args })
    }
}

/// How one trial runs as a container (everything but the image and the io directory).
#[derive(Debug, Clone, PartialEq)]
pub struct Expression {
    pub runtime: EngineRuntime,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    /// `(host path, container path, options)`.
    pub binds: Vec<(PathBuf, PathBuf, Vec<String>)>,
    pub tmpfs: Vec<(PathBuf, String)>,
    pub env: Vec<String>,
    /// dindcheck's entry script, which replaces the image's own entrypoint (an imported
    /// rootfs has none; an image like `docker:dind` has one that would wrap the command).
    pub entrypoint: Vec<String>,
    /// dockerd's arguments, as the case gives them.
    pub cmd: Vec<String>,
}

/// Whether the engine can run `trial`'s case faithfully (see [`express`]).
pub fn expressible(trial: &Trial) -> Result<(), NotExpressible> {
    express(trial).map(|_| ())
}

/// Translates `trial` into `docker run` terms, or says why that cannot be done faithfully.
pub fn express(trial: &Trial) -> Result<Expression, NotExpressible> {
    let case = &trial.case;
    let all_caps =
        case.capabilities.base == CapabilityBase::All && case.capabilities.drop.is_empty();
    let (privileged, cgroup_bind) = match case.cgroup {
        // Docker always mounts a cgroup filesystem at /sys/fs/cgroup, unless a mount of the
        // user's takes its place: an empty read-only tmpfs stands for the empty directory of
        // the read-only sysfs that the OCI spec leaves there (both read as cgroup v1 with no
        // controller to dockerd and containerd, which look at the filesystem type).
        CgroupMode::None => (false, None),
        // Docker mounts the cgroup filesystem read-write only for a privileged container,
        // and `--privileged` grants every capability (moby ignores `--cap-drop` with it).
        CgroupMode::Gvisor if all_caps => (true, None),
        CgroupMode::Gvisor => {
            return Err(NotExpressible(format!(
                "cgroup = \"gvisor\" (read-write): Docker mounts /sys/fs/cgroup read-write only \
                 with --privileged, which grants every capability, not the case's {}",
                case.capabilities.resolve().len()
            )));
        }
        CgroupMode::GvisorRo => (false, None),
        // A user bind at /sys/fs/cgroup replaces Docker's own cgroup mount.
        CgroupMode::HostBind => (false, Some("ro")),
        CgroupMode::HostBindRw => (false, Some("rw")),
    };
    for edit in &case.spec_edits {
        match edit {
            // Docker's device rules for a container that is not privileged begin with this
            // very rule (moby `oci.DefaultLinuxSpec`), followed by its default allow rules.
            SpecEdit::DenyAllDevices if !privileged => {}
            SpecEdit::DenyAllDevices => {
                return Err(NotExpressible(
                    "spec edit `deny-all-devices` in a privileged container: Docker allows every \
                     device there"
                        .into(),
                ));
            }
            SpecEdit::EmptyDeviceRules => {
                return Err(NotExpressible(
                    "spec edit `empty-device-rules`: Docker always writes device rules of its own"
                        .into(),
                ));
            }
        }
    }

    let (cap_add, cap_drop) = if privileged {
        (Vec::new(), Vec::new())
    } else if all_caps {
        (vec!["ALL".to_string()], Vec::new())
    } else {
        // Dropping everything first makes the container's set exactly the case's.
        let caps = case.capabilities.resolve();
        (
            caps.iter().map(|c| c.as_str().to_string()).collect(),
            vec!["ALL".to_string()],
        )
    };

    let mut binds = Vec::new();
    if let Some(mode) = cgroup_bind {
        binds.push((
            PathBuf::from("/sys/fs/cgroup"),
            PathBuf::from("/sys/fs/cgroup"),
            vec![mode.to_string()],
        ));
    }
    let mut tmpfs = Vec::new();
    let cgroup_dir = Path::new("/sys/fs/cgroup");
    if case.cgroup == CgroupMode::None && !case.mounts.iter().any(|m| m.destination == cgroup_dir) {
        tmpfs.push((cgroup_dir.to_path_buf(), "ro".to_string()));
    }
    for m in &case.mounts {
        match m.kind {
            MountKind::Tmpfs => {
                // Docker mounts a `--tmpfs` noexec unless told `exec`; the OCI launcher's
                // tmpfs (and the case's) is executable unless it says `noexec`. Without
                // this, nested images under a tmpfs /var/lib/docker cannot run a binary.
                let mut opts = m.options.clone();
                if !opts.iter().any(|o| o == "exec" || o == "noexec") {
                    opts.push("exec".into());
                }
                tmpfs.push((m.destination.clone(), opts.join(",")))
            }
            MountKind::Bind => {
                let mut opts = Vec::new();
                for o in &m.options {
                    match o.as_str() {
                        // Docker's binds are recursive already.
                        "bind" | "rbind" => {}
                        // A host path is bound read-only whatever the case says (the loader
                        // refuses `rw`; `docs/security.md`).
                        "ro" | "rw" => {}
                        other => {
                            return Err(NotExpressible(format!(
                                "bind mount option `{other}` at {} has no `docker run` form",
                                m.destination.display()
                            )));
                        }
                    }
                }
                opts.push("ro".into());
                let src = m.source.clone().unwrap_or_default();
                binds.push((src, m.destination.clone(), opts));
            }
        }
    }

    let mut env = vec![PATH_ENV.to_string()];
    env.extend(case.env.iter().map(|(k, v)| format!("{k}={v}")));
    let entrypoint = vec![
        "/bin/sh".to_string(),
        format!("{IO_DIR_IN_SANDBOX}/entry.sh"),
    ];

    Ok(Expression {
        runtime: EngineRuntime::for_trial(trial),
        privileged,
        cap_add,
        cap_drop,
        binds,
        tmpfs,
        env,
        entrypoint,
        cmd: case.dockerd.args.clone(),
    })
}

impl Expression {
    /// The `docker create` body: `image` with the trial's io directory (`io_dir` on the host)
    /// bind-mounted at [`IO_DIR_IN_SANDBOX`].
    pub fn container_body(&self, image: &str, io_dir: &Path) -> ContainerCreateBody {
        let mut binds = vec![format!("{}:{IO_DIR_IN_SANDBOX}:rw", io_dir.display())];
        binds.extend(self.binds.iter().map(|(src, dst, opts)| {
            let mut b = format!("{}:{}", src.display(), dst.display());
            if !opts.is_empty() {
                b.push(':');
                b.push_str(&opts.join(","));
            }
            b
        }));
        let tmpfs: HashMap<String, String> = self
            .tmpfs
            .iter()
            .map(|(d, o)| (d.display().to_string(), o.clone()))
            .collect();
        let host = HostConfig {
            runtime: Some(self.runtime.name.clone()),
            privileged: Some(self.privileged),
            cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
            cap_drop: (!self.cap_drop.is_empty()).then(|| self.cap_drop.clone()),
            binds: Some(binds),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            // The OCI launcher's spec has a cgroup namespace; Docker's default on a cgroup v1
            // host is the host's.
            cgroupns_mode: Some(HostConfigCgroupnsModeEnum::PRIVATE),
            // As in the OCI launcher's spec: dockerd wants far more than 1024 open files.
            ulimits: Some(vec![ResourcesUlimits {
                name: Some("nofile".into()),
                soft: Some(1_048_576),
                hard: Some(1_048_576),
            }]),
            network_mode: Some("none".into()),
            // As in the OCI launcher's spec: a case cannot take the host's memory.
            memory: Some(crate::trial::launch::bundle::SANDBOX_MEMORY_BYTES),
            ..Default::default()
        };
        ContainerCreateBody {
            image: Some(image.to_string()),
            hostname: Some("dindcheck".into()),
            entrypoint: Some(self.entrypoint.clone()),
            cmd: Some(self.cmd.clone()),
            env: Some(self.env.clone()),
            host_config: Some(host),
            labels: Some(HashMap::from([(
                "dindcheck".to_string(),
                "trial".to_string(),
            )])),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::{CapabilitySet, Case};
    use crate::inventory::Runtime;
    use crate::trial::launch::Launcher;
    use crate::trial::plan::RunOptions;

    fn trial(f: impl FnOnce(&mut Case)) -> Trial {
        let mut case = Case {
            name: "c".into(),
            rootfs: "bookworm".into(),
            ..Default::default()
        };
        f(&mut case);
        let runtime = Runtime {
            name: "runsc-20240729".into(),
            release: "20240729".into(),
            path: "/x/runsc".into(),
            platform: None,
            sandbox_network: None,
        };
        Trial::new(&case, &runtime, Launcher::Engine, &RunOptions::default())
    }

    #[test]
    fn the_one_liner_is_cap_add_all_and_not_privileged() {
        let e = express(&trial(|c| {
            c.cgroup = CgroupMode::GvisorRo;
            c.capabilities = CapabilitySet {
                base: CapabilityBase::All,
                ..Default::default()
            };
        }))
        .unwrap();
        assert!(!e.privileged);
        assert_eq!(e.cap_add, vec!["ALL"]);
        assert!(e.cap_drop.is_empty());
    }

    #[test]
    fn a_named_set_drops_everything_first() {
        let e = express(&trial(|c| c.cgroup = CgroupMode::GvisorRo)).unwrap();
        assert_eq!(e.cap_drop, vec!["ALL"]);
        assert_eq!(e.cap_add.len(), 17);
    }

    #[test]
    fn a_read_write_cgroup_needs_every_capability() {
        let err = express(&trial(|c| c.cgroup = CgroupMode::Gvisor)).unwrap_err();
        assert!(err.0.contains("--privileged"), "{err}");
        let e = express(&trial(|c| {
            c.capabilities.base = CapabilityBase::All;
        }))
        .unwrap();
        assert!(e.privileged);
    }

    #[test]
    fn no_cgroup_is_an_empty_read_only_tmpfs_in_place_of_dockers_mount() {
        let e = express(&trial(|c| c.cgroup = CgroupMode::None)).unwrap();
        assert!(!e.privileged);
        assert_eq!(
            e.tmpfs,
            vec![(PathBuf::from("/sys/fs/cgroup"), "ro".to_string())]
        );
    }

    #[test]
    fn empty_device_rules_are_not_expressible() {
        assert!(
            express(&trial(|c| {
                c.cgroup = CgroupMode::GvisorRo;
                c.spec_edits = vec![SpecEdit::EmptyDeviceRules];
            }))
            .is_err()
        );
    }

    #[test]
    fn a_host_cgroup_bind_replaces_dockers_mount() {
        let e = express(&trial(|c| {
            c.cgroup = CgroupMode::HostBind;
            c.spec_edits = vec![SpecEdit::DenyAllDevices];
        }))
        .unwrap();
        let body = e.container_body("img", Path::new("/io"));
        let binds = body.host_config.unwrap().binds.unwrap();
        assert_eq!(
            binds,
            vec!["/io:/run/dindcheck:rw", "/sys/fs/cgroup:/sys/fs/cgroup:ro"]
        );
    }

    #[test]
    fn a_tmpfs_stays_executable_as_in_the_oci_spec() {
        let e = express(&trial(|c| {
            c.cgroup = CgroupMode::GvisorRo;
            c.mounts = vec![crate::case::Mount {
                kind: MountKind::Tmpfs,
                source: None,
                destination: "/var/lib/docker".into(),
                options: vec!["rw".into(), "nosuid".into()],
            }];
        }))
        .unwrap();
        assert_eq!(
            e.tmpfs,
            vec![(
                PathBuf::from("/var/lib/docker"),
                "rw,nosuid,exec".to_string()
            )]
        );
    }

    #[test]
    fn runtimes_differ_by_flags_and_binary() {
        let a = EngineRuntime::for_trial(&trial(|_| {}));
        let b = EngineRuntime::for_trial(&trial(|c| c.runsc.flags = vec!["--net-raw".into()]));
        assert_ne!(a.name, b.name);
        assert!(a.args.contains(&"--network=sandbox".to_string()));
    }
}
