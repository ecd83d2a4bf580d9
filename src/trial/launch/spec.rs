//! The one builder of a sandbox's OCI spec (`config.json`, with `oci-spec`): the OCI
//! launcher's trials ([`super::bundle`]) and doctor's probe sandboxes describe what differs
//! (process, capabilities, cgroup mount, extra mounts, device rules) and get the rest, the
//! same for both: the mounts a container runtime gives, the io directory bound at
//! [`IO_DIR_IN_SANDBOX`], the namespaces, a rootfs whose writes stay in memory.

use std::collections::HashSet;
use std::path::Path;

use oci_spec::OciSpecError;
use oci_spec::runtime::{
    Capability, LinuxBuilder, LinuxCapabilities, LinuxCapabilitiesBuilder, LinuxDeviceCgroup,
    LinuxMemoryBuilder, LinuxNamespaceBuilder, LinuxNamespaceType, LinuxResourcesBuilder, Mount,
    MountBuilder, PosixRlimitBuilder, PosixRlimitType, ProcessBuilder, RootBuilder, Spec,
    SpecBuilder, UserBuilder,
};

use crate::case::CgroupMode;

pub use crate::case::schema::IO_DIR_IN_SANDBOX;

/// The `PATH` every sandbox's first process gets (and every engine container).
pub const PATH_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What one sandbox's spec says beyond what every sandbox has.
#[derive(Clone, Debug)]
pub struct SandboxSpec<'a> {
    pub hostname: &'a str,
    /// The root filesystem on the host.
    pub rootfs: &'a Path,
    /// The trial's io directory on the host, bound at [`IO_DIR_IN_SANDBOX`].
    pub io_dir: &'a Path,
    /// The first process and its environment (after [`PATH_ENV`]).
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub capabilities: HashSet<Capability>,
    /// What is mounted at `/sys/fs/cgroup`.
    pub cgroup: CgroupMode,
    /// Give the sandbox a cgroup namespace of its own, as container runtimes do.
    pub cgroup_namespace: bool,
    /// `RLIMIT_NOFILE`, soft and hard, when set.
    pub open_files: Option<u64>,
    pub no_new_privileges: Option<bool>,
    /// Mounts after the io directory (a case's own).
    pub mounts: Vec<Mount>,
    /// The device cgroup rules, when the spec has any.
    pub devices: Option<Vec<LinuxDeviceCgroup>>,
    /// The sandbox's memory limit on the host, in bytes.
    pub memory_limit: Option<i64>,
    /// The network namespace the sandbox joins (runsc's sandbox networking is built from
    /// its interfaces and routes); `None`: a new, empty one.
    pub network_namespace: Option<&'a Path>,
}

impl SandboxSpec<'_> {
    pub fn build(self) -> Result<Spec, OciSpecError> {
        let mut env = vec![PATH_ENV.to_string()];
        env.extend(self.env);
        let mut process = ProcessBuilder::default()
            .terminal(false)
            .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
            .args(self.args)
            .env(env)
            .cwd("/")
            .capabilities(capability_sets(self.capabilities)?);
        if let Some(no_new_privileges) = self.no_new_privileges {
            process = process.no_new_privileges(no_new_privileges);
        }
        if let Some(n) = self.open_files {
            process = process.rlimits(vec![
                PosixRlimitBuilder::default()
                    .typ(PosixRlimitType::RlimitNofile)
                    .hard(n)
                    .soft(n)
                    .build()?,
            ]);
        }

        // Not read-only: runsc's `--overlay2=root:memory` (always given, see
        // `super::flags`) keeps every write in memory, so the shared root filesystem is never
        // modified (docs/host-facts.md, "`--overlay2=root:memory` keeps a shared rootfs
        // untouched").
        let root = RootBuilder::default()
            .path(self.rootfs)
            .readonly(false)
            .build()?;

        let mut mounts = base_mounts()?;
        mounts.extend(cgroup_mount(self.cgroup)?);
        mounts.push(
            MountBuilder::default()
                .destination(IO_DIR_IN_SANDBOX)
                .typ("bind")
                .source(self.io_dir)
                .options(vec!["rbind".into(), "rw".into()])
                .build()?,
        );
        mounts.extend(self.mounts);

        let mut kinds = vec![
            LinuxNamespaceType::Pid,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Uts,
            LinuxNamespaceType::Mount,
        ];
        if self.cgroup_namespace {
            kinds.push(LinuxNamespaceType::Cgroup);
        }
        let namespaces = kinds
            .into_iter()
            .map(|t| match (t, self.network_namespace) {
                (LinuxNamespaceType::Network, Some(path)) => {
                    LinuxNamespaceBuilder::default().typ(t).path(path).build()
                }
                _ => LinuxNamespaceBuilder::default().typ(t).build(),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut linux = LinuxBuilder::default().namespaces(namespaces);
        match (self.memory_limit, self.devices) {
            (None, None) => {}
            (None, Some(devices)) => {
                linux = linux.resources(LinuxResourcesBuilder::default().devices(devices).build()?);
            }
            (Some(limit), devices) => {
                let memory = LinuxMemoryBuilder::default().limit(limit).build()?;
                // No device rules is an empty list, as oci-spec's default `Linux` has it.
                let resources = LinuxResourcesBuilder::default()
                    .memory(memory)
                    .devices(devices.unwrap_or_default());
                linux = linux.resources(resources.build()?);
            }
        }

        SpecBuilder::default()
            .version("1.0.2")
            .hostname(self.hostname)
            .root(root)
            .process(process.build()?)
            .mounts(mounts)
            .linux(linux.build()?)
            .build()
    }
}

/// The same capabilities in the bounding, effective, permitted and inheritable sets, never
/// ambient (as the design note and gVisor's tutorial give them). runsc 20240729 derives the
/// sandbox's own capabilities from the spec and fails with "applyCaps() failed: operation
/// not permitted" when they are not inheritable too (docs/host-facts.md, "Capabilities").
fn capability_sets(caps: HashSet<Capability>) -> Result<LinuxCapabilities, OciSpecError> {
    LinuxCapabilitiesBuilder::default()
        .bounding(caps.clone())
        .effective(caps.clone())
        .permitted(caps.clone())
        .inheritable(caps)
        .build()
}

/// The mounts every sandbox has, as a container runtime gives them.
fn base_mounts() -> Result<Vec<Mount>, OciSpecError> {
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
fn cgroup_mount(mode: CgroupMode) -> Result<Option<Mount>, OciSpecError> {
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

/// `config.json` text with capability lists sorted. `oci-spec` keeps capabilities in a hash
/// set, so its own serialisation changes order from run to run; runsc reports the first
/// capability it does not know, so an unstable order would make an outcome flap
/// (docs/host-facts.md, "Capabilities").
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
