//! The OCI bundle of a trial: `config.json` built with `oci-spec`, plus the files the
//! sandbox reads from its io directory (entry script, setup script, `daemon.json`).
//!
//! The sandbox runs `/bin/sh /run/dindcheck/entry.sh <dockerd args>`. The entry script
//! installs `daemon.json`, runs the case's setup (marking a failure with
//! [`crate::observe::SETUP_FAILED_MARKER`]) and then `exec`s dockerd with one extra `--host`
//! on the io directory, which is bind-mounted from the host so that the harness can reach
//! the socket (runsc's `--host-uds=all`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilitiesBuilder, LinuxDeviceCgroupBuilder,
    LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount, MountBuilder,
    PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec, SpecBuilder,
    UserBuilder,
};

use crate::case::{CgroupMode, MountKind, SpecEdit};
use crate::plan::Trial;

/// Where the trial's io directory appears inside the sandbox.
pub const IO_DIR_IN_SANDBOX: &str = "/run/dindcheck";

const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The entry script: the same for every case; what varies is in the files beside it.
pub const ENTRY_SCRIPT: &str = r#"#!/bin/sh
# Written by dindcheck. Runs inside the sandbox as its first process.
io=/run/dindcheck
if [ -f "$io/daemon.json" ]; then
  mkdir -p /etc/docker && cp "$io/daemon.json" /etc/docker/daemon.json
fi
if [ -s "$io/setup.sh" ]; then
  echo "dindcheck: setup"
  /bin/sh -e "$io/setup.sh" 2>&1 || { rc=$?; echo "dindcheck: setup failed (exit $rc)"; exit 125; }
fi
echo "dindcheck: exec dockerd $*"
exec dockerd "$@" --host=unix://$io/docker.sock
"#;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("failed to build the OCI spec: {0}")]
    Spec(#[from] oci_spec::OciSpecError),
    #[error("failed to write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("daemon_json is not representable as JSON: {0}")]
    DaemonJson(serde_json::Error),
}

/// The same capabilities in the bounding, effective, permitted and inheritable sets, never
/// ambient (as the design note and gVisor's tutorial give them). runsc 20240729 derives the
/// sandbox's own capabilities from the spec and fails with "applyCaps() failed: operation
/// not permitted" when they are not inheritable too.
pub fn capability_sets(
    caps: std::collections::HashSet<Capability>,
) -> Result<oci_spec::runtime::LinuxCapabilities, oci_spec::OciSpecError> {
    LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps.clone())
        .inheritable(caps)
        .build()
}

/// Builds the OCI spec of `trial` with its root filesystem at `rootfs` and its io directory
/// at `io_dir` on the host.
pub fn spec(trial: &Trial, rootfs: &Path, io_dir: &Path) -> Result<Spec, BundleError> {
    let case = &trial.case;
    let caps: std::collections::HashSet<Capability> = case
        .capabilities
        .resolve()
        .iter()
        .map(|c| c.to_oci())
        .collect();
    let capabilities = capability_sets(caps)?;

    let mut args = vec![
        "/bin/sh".to_string(),
        format!("{IO_DIR_IN_SANDBOX}/entry.sh"),
    ];
    args.extend(case.dockerd.args.iter().cloned());
    let mut env = vec![PATH_ENV.to_string()];
    env.extend(case.env.iter().map(|(k, v)| format!("{k}={v}")));

    let process = ProcessBuilder::default()
        .terminal(false)
        .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
        .args(args)
        .env(env)
        .cwd("/")
        .capabilities(capabilities)
        .no_new_privileges(false)
        // Docker gives containers this many open files; dockerd wants far more than 1024.
        .rlimits(vec![
            PosixRlimitBuilder::default()
                .typ(PosixRlimitType::RlimitNofile)
                .hard(1_048_576u64)
                .soft(1_048_576u64)
                .build()?,
        ])
        .build()?;

    // Not read-only: runsc's `--overlay2=root:memory` (always given by the harness) keeps
    // every write in memory, so the shared root filesystem is never modified.
    let root = RootBuilder::default()
        .path(rootfs)
        .readonly(false)
        .build()?;

    let mut mounts = base_mounts()?;
    if let Some(m) = cgroup_mount(case.cgroup)? {
        mounts.push(m);
    }
    mounts.push(
        MountBuilder::default()
            .destination(IO_DIR_IN_SANDBOX)
            .typ("bind")
            .source(io_dir)
            .options(vec!["rbind".into(), "rw".into()])
            .build()?,
    );
    for m in &case.mounts {
        let b = MountBuilder::default()
            .destination(&m.destination)
            .options(m.options.clone());
        mounts.push(match m.kind {
            MountKind::Tmpfs => b.typ("tmpfs").source("tmpfs").build()?,
            MountKind::Bind => {
                let src = m.source.clone().unwrap_or_default();
                b.typ("bind").source(src).build()?
            }
        });
    }

    let namespaces = [
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
    ]
    .into_iter()
    .map(|t| LinuxNamespaceBuilder::default().typ(t).build())
    .collect::<Result<Vec<_>, _>>()?;

    let mut linux = LinuxBuilder::default().namespaces(namespaces);
    if let Some(devices) = device_rules(&case.spec_edits)? {
        linux = linux.resources(LinuxResourcesBuilder::default().devices(devices).build()?);
    }

    Ok(SpecBuilder::default()
        .version("1.0.2")
        .hostname("dindcheck")
        .root(root)
        .process(process)
        .mounts(mounts)
        .linux(linux.build()?)
        .build()?)
}

/// The mounts every sandbox has, as a container runtime gives them.
pub fn base_mounts() -> Result<Vec<Mount>, BundleError> {
    let m = |dest: &str, typ: &str, src: &str, opts: &[&str]| {
        MountBuilder::default()
            .destination(dest)
            .typ(typ)
            .source(src)
            .options(opts.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .build()
    };
    Ok(vec![
        m("/proc", "proc", "proc", &[])?,
        m(
            "/dev",
            "tmpfs",
            "tmpfs",
            &["nosuid", "strictatime", "mode=755", "size=65536k"],
        )?,
        m(
            "/dev/pts",
            "devpts",
            "devpts",
            &[
                "nosuid",
                "noexec",
                "newinstance",
                "ptmxmode=0666",
                "mode=0620",
            ],
        )?,
        m(
            "/dev/shm",
            "tmpfs",
            "shm",
            &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"],
        )?,
        m(
            "/dev/mqueue",
            "mqueue",
            "mqueue",
            &["nosuid", "noexec", "nodev"],
        )?,
        m(
            "/sys",
            "sysfs",
            "sysfs",
            &["nosuid", "noexec", "nodev", "ro"],
        )?,
    ])
}

/// The `/sys/fs/cgroup` mount of a cgroup mode, if it has one.
pub fn cgroup_mount(mode: CgroupMode) -> Result<Option<Mount>, BundleError> {
    let cgroup = |ro: &str| {
        MountBuilder::default()
            .destination("/sys/fs/cgroup")
            .typ("cgroup")
            .source("cgroup")
            .options(vec![
                "nosuid".into(),
                "noexec".into(),
                "nodev".into(),
                "relatime".into(),
                ro.into(),
            ])
            .build()
    };
    let host = |ro: &str| {
        MountBuilder::default()
            .destination("/sys/fs/cgroup")
            .typ("bind")
            .source("/sys/fs/cgroup")
            .options(vec!["rbind".into(), ro.into()])
            .build()
    };
    Ok(Some(match mode {
        CgroupMode::Gvisor => cgroup("rw")?,
        CgroupMode::GvisorRo => cgroup("ro")?,
        CgroupMode::HostBind => host("ro")?,
        CgroupMode::HostBindRw => host("rw")?,
        CgroupMode::None => return Ok(None),
    }))
}

fn device_rules(
    edits: &[SpecEdit],
) -> Result<Option<Vec<oci_spec::runtime::LinuxDeviceCgroup>>, BundleError> {
    let mut rules = None;
    for e in edits {
        match e {
            SpecEdit::DenyAllDevices => {
                let deny = LinuxDeviceCgroupBuilder::default()
                    .allow(false)
                    .access("rwm")
                    .build()?;
                rules.get_or_insert_with(Vec::new).push(deny);
            }
            SpecEdit::EmptyDeviceRules => rules = Some(Vec::new()),
        }
    }
    Ok(rules)
}

/// Writes `config.json` into `bundle_dir` and the entry script, setup script and
/// `daemon.json` into `io_dir`.
pub fn write(
    trial: &Trial,
    rootfs: &Path,
    bundle_dir: &Path,
    io_dir: &Path,
) -> Result<(), BundleError> {
    let json = config_json(&spec(trial, rootfs, io_dir)?);
    write_file(&bundle_dir.join("config.json"), &json)?;
    write_io(trial, io_dir)
}

/// Writes the entry script, setup script and `daemon.json` into `io_dir`: what the sandbox
/// reads at `/run/dindcheck`, whichever launcher started it.
pub fn write_io(trial: &Trial, io_dir: &Path) -> Result<(), BundleError> {
    write_file(&io_dir.join("entry.sh"), ENTRY_SCRIPT)?;
    write_file(&io_dir.join("setup.sh"), &trial.case.setup)?;
    if let Some(dj) = &trial.case.dockerd.daemon_json {
        let json = serde_json::to_string_pretty(dj).map_err(BundleError::DaemonJson)?;
        write_file(&io_dir.join("daemon.json"), &json)?;
    }
    Ok(())
}

/// `config.json` text with capability lists sorted. `oci-spec` keeps capabilities in a hash
/// set, so its own serialisation changes order from run to run; runsc reports the first
/// capability it does not know, so an unstable order would make an outcome flap.
pub fn config_json(spec: &Spec) -> String {
    let mut v = serde_json::to_value(spec).expect("an OCI spec serialises");
    if let Some(caps) = v
        .pointer_mut("/process/capabilities")
        .and_then(|c| c.as_object_mut())
    {
        for list in caps.values_mut() {
            if let Some(a) = list.as_array_mut() {
                a.sort_by(|x, y| x.as_str().cmp(&y.as_str()));
            }
        }
    }
    serde_json::to_string_pretty(&v).expect("a JSON value serialises")
}

fn write_file(path: &Path, text: &str) -> Result<(), BundleError> {
    std::fs::write(path, text).map_err(|source| BundleError::Write {
        path: path.to_path_buf(),
        source,
    })
}
