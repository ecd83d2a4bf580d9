//! The OCI bundle of a trial: `config.json` built with `oci-spec`, plus the files the
//! sandbox reads from its io directory (entry script, setup script, `daemon.json`).
//!
//! The sandbox runs `/bin/sh /run/dindcheck/entry.sh <dockerd args>`. The entry script
//! installs `daemon.json`, runs the case's setup (marking a failure with
//! [`crate::trial::observe::SETUP_FAILED_MARKER`]) and then `exec`s dockerd with one extra `--host`
//! on the io directory, which is bind-mounted from the host so that the harness can reach
//! the socket (runsc's `--host-uds=all`).

use std::path::{Path, PathBuf};

use oci_spec::runtime::{Capability, LinuxDeviceCgroupBuilder, MountBuilder, Spec};

use super::spec::SandboxSpec;
pub use super::spec::{IO_DIR_IN_SANDBOX, config_json};
use crate::case::{MountKind, SpecEdit};
use crate::trial::plan::Trial;

/// The memory a sandbox may use on the host, whatever its case does (`docs/security.md`):
/// runsc applies it as the sandbox's cgroup limit, and gVisor's kernel inside sees it as
/// the machine's memory. dockerd, its nested containers and the in-memory overlay of the
/// root filesystem need a few hundred megabytes.
pub const SANDBOX_MEMORY_BYTES: i64 = 2 * 1024 * 1024 * 1024;

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

/// Builds the OCI spec of `trial` with its root filesystem at `rootfs` and its io directory
/// at `io_dir` on the host, in a new network namespace.
pub fn spec(trial: &Trial, rootfs: &Path, io_dir: &Path) -> Result<Spec, BundleError> {
    spec_in(trial, rootfs, io_dir, None)
}

/// [`spec`], the sandbox joining the network namespace `netns` when one is given (the
/// trial's own, [`super::netns`]), whose uplink the setup is told of.
pub fn spec_in(
    trial: &Trial,
    rootfs: &Path,
    io_dir: &Path,
    netns: Option<&Path>,
) -> Result<Spec, BundleError> {
    let case = &trial.case;
    let mut args = vec![
        "/bin/sh".to_string(),
        format!("{IO_DIR_IN_SANDBOX}/entry.sh"),
    ];
    args.extend(case.dockerd.args.iter().cloned());
    let mut mounts = Vec::new();
    for m in &case.mounts {
        let b = MountBuilder::default()
            .destination(&m.destination)
            .options(m.options.clone());
        mounts.push(match m.kind {
            MountKind::Tmpfs => b.typ("tmpfs").source("tmpfs").build()?,
            MountKind::Bind => {
                // A host path is bound read-only whatever the case says (the loader refuses
                // `rw`; `docs/security.md`).
                let mut options: Vec<String> =
                    m.options.iter().filter(|o| *o != "rw").cloned().collect();
                if !options.iter().any(|o| o == "ro") {
                    options.push("ro".into());
                }
                let src = m.source.clone().unwrap_or_default();
                b.typ("bind").source(src).options(options).build()?
            }
        });
    }
    Ok(SandboxSpec {
        hostname: "dindcheck",
        rootfs,
        io_dir,
        args,
        env: case
            .env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .chain(
                netns
                    .into_iter()
                    .flat_map(|_| super::netns::TrialNetwork::environment())
                    .map(|(k, v)| format!("{k}={v}")),
            )
            .collect(),
        capabilities: case
            .capabilities
            .resolve()
            .iter()
            .map(|c| c.to_oci())
            .collect::<std::collections::HashSet<Capability>>(),
        cgroup: case.cgroup,
        cgroup_namespace: true,
        // Docker gives containers this many open files; dockerd wants far more than 1024.
        open_files: Some(1_048_576),
        no_new_privileges: Some(false),
        mounts,
        devices: device_rules(&case.spec_edits)?,
        memory_limit: Some(SANDBOX_MEMORY_BYTES),
        network_namespace: netns,
    }
    .build()?)
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
    netns: Option<&Path>,
) -> Result<(), BundleError> {
    let json = config_json(&spec_in(trial, rootfs, io_dir, netns)?);
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

fn write_file(path: &Path, text: &str) -> Result<(), BundleError> {
    std::fs::write(path, text).map_err(|source| BundleError::Write {
        path: path.to_path_buf(),
        source,
    })
}
