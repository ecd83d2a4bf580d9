//! The runsc flags a case may pass: deny by default.
//!
//! A case file is untrusted input (a CI gate runs the case files of pull requests), and
//! `runsc.flags` goes onto runsc's command line on the host. runsc parses its arguments with
//! Go's `flag` package, which stops at the first word that is not a flag and takes it as the
//! subcommand: `["do", "/bin/sh", …]` would run a host shell. Many flags also name host paths
//! (`--log`, `--panic-log`, profiles, traces, `--overlay2=…:dir=`) or host resources
//! (`--metric-server`, `--rootless`, `--systemd-cgroup`, GPU/TPU proxies, XDP).
//!
//! So a flag passes only when it is written `--name` or `--name=value`, its name is on
//! [`ALLOWED`] (flags that change only how the sandbox behaves inside), and its value has the
//! kind the list says. Everything else is refused when the case is loaded, with the reason.
//! `docs/security.md` states the threat model; `tests/runsc_flags.rs` checks the list
//! against `runsc flags` of every installed runsc (each allowed flag the binary knows has the
//! kind written here: a boolean, a choice or a number, never a path).

/// Flags the harness passes itself. A second `--root` would hide the sandbox from cleanup, a
/// second `--debug-log` would write where the harness does not look, and so on.
pub const RESERVED: &[&str] = &[
    "root",
    "debug",
    "debug-log",
    "host-uds",
    "network",
    "platform",
];

/// What value an allowed flag takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagValue {
    /// `--name`, `--name=true` or `--name=false`.
    Bool,
    /// `--name=V` with V one of these.
    Choice(&'static [&'static str]),
    /// `--name=N` with N a (possibly negative) integer of at most 9 digits.
    Integer,
}

/// The flags a case may pass, with the kind of value each takes. Every one changes only the
/// sandbox's own behaviour: networking offloads and raw sockets inside gVisor's netstack,
/// filesystem validation, the in-memory overlay, gVisor's cgroupfs, the sentry's caches.
/// Left out although harmless: flags whose value differs between releases (`--gvisor-gro`
/// is a boolean in 20240729 and a duration in 20221219; `--ref-leak-mode=log-traces` is
/// refused by 20221219), which `tests/runsc_flags.rs` found.
pub const ALLOWED: &[(&str, FlagValue)] = &[
    ("net-raw", FlagValue::Bool),
    // Renamed `allow-packet-socket-write` in later releases; both are in the wild.
    ("TESTONLY-allow-packet-endpoint-write", FlagValue::Bool),
    ("allow-packet-socket-write", FlagValue::Bool),
    ("file-access", FlagValue::Choice(&["exclusive", "shared"])),
    (
        "file-access-mounts",
        FlagValue::Choice(&["exclusive", "shared"]),
    ),
    // Only memory media: `self` and `none` write the shared root filesystem, `dir=` names a
    // host directory.
    (
        "overlay2",
        FlagValue::Choice(&["root:memory", "all:memory"]),
    ),
    ("overlay", FlagValue::Bool),
    ("cgroupfs", FlagValue::Bool),
    ("directfs", FlagValue::Bool),
    ("oci-seccomp", FlagValue::Bool),
    ("app-huge-pages", FlagValue::Bool),
    ("cpu-num-from-quota", FlagValue::Bool),
    ("gso", FlagValue::Bool),
    ("software-gso", FlagValue::Bool),
    ("rx-checksum-offload", FlagValue::Bool),
    ("tx-checksum-offload", FlagValue::Bool),
    ("net-disconnect-ok", FlagValue::Bool),
    ("qdisc", FlagValue::Choice(&["none", "fifo"])),
    ("num-network-channels", FlagValue::Integer),
    ("network-processors-per-channel", FlagValue::Integer),
    ("dcache", FlagValue::Integer),
    ("fdlimit", FlagValue::Integer),
    ("watchdog-action", FlagValue::Choice(&["log", "panic"])),
    ("vfs2", FlagValue::Bool),
    ("lisafs", FlagValue::Bool),
    ("fuse", FlagValue::Bool),
    ("buffer-pooling", FlagValue::Bool),
];

/// Why a flag is refused, and what to do instead.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    pub hint: String,
}

fn refuse(message: String, hint: impl Into<String>) -> Refusal {
    Refusal {
        message,
        hint: hint.into(),
    }
}

/// Checks one element of `runsc.flags`.
pub fn check(flag: &str) -> Result<(), Refusal> {
    let Some(body) = flag.strip_prefix("--") else {
        return Err(refuse(
            format!("`{flag}` is not a runsc flag written `--name` or `--name=value`"),
            "runsc takes the first word that is not a flag as its subcommand: \
             every element of runsc.flags must be one whole `--name[=value]` flag",
        ));
    };
    let (name, value) = match body.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (body, None),
    };
    let well_formed = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !well_formed {
        return Err(refuse(
            format!("`{flag}` is not a runsc flag written `--name` or `--name=value`"),
            "a flag name has letters, digits, `-` and `_`",
        ));
    }
    if RESERVED.contains(&name) {
        return Err(refuse(
            format!("runsc flag `{flag}` is set by the harness"),
            "use `runsc.network` for the network mode and `--runtime NAME@PLATFORM` for the platform",
        ));
    }
    let Some((_, kind)) = ALLOWED.iter().find(|(n, _)| *n == name) else {
        return Err(refuse(
            format!("runsc flag `--{name}` is not one a case may pass"),
            format!(
                "a case may pass only flags that change the sandbox's own behaviour, not ones \
                 that name host paths or resources; allowed: {}",
                allowed_names()
            ),
        ));
    };
    let value_ok = match (kind, value) {
        (FlagValue::Bool, None) => true,
        (FlagValue::Bool, Some(v)) => v == "true" || v == "false",
        (FlagValue::Choice(choices), Some(v)) => choices.contains(&v),
        (FlagValue::Integer, Some(v)) => {
            let digits = v.strip_prefix('-').unwrap_or(v);
            !digits.is_empty() && digits.len() <= 9 && digits.chars().all(|c| c.is_ascii_digit())
        }
        (_, None) => false,
    };
    if !value_ok {
        let expected = match kind {
            FlagValue::Bool => {
                "`--{name}`, `--{name}=true` or `--{name}=false`".replace("{name}", name)
            }
            FlagValue::Choice(c) => format!("`--{name}=` followed by one of: {}", c.join(", ")),
            FlagValue::Integer => format!("`--{name}=N` with N a whole number"),
        };
        let mut hint = format!("write it as {expected}");
        if name == "overlay2" {
            hint.push_str(
                " (`self` and `none` write the shared root filesystem; `dir=` names a host path)",
            );
        }
        return Err(refuse(
            format!("`{flag}` is not a value runsc flag `--{name}` may take here"),
            hint,
        ));
    }
    Ok(())
}

/// Checks every flag of a list, returning the first refusal.
pub fn check_all(flags: &[String]) -> Result<(), Refusal> {
    flags.iter().try_for_each(|f| check(f))
}

fn allowed_names() -> String {
    ALLOWED
        .iter()
        .map(|(n, _)| format!("--{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_corpus_flags_pass() {
        for ok in [
            "--net-raw",
            "--TESTONLY-allow-packet-endpoint-write",
            "--file-access=exclusive",
            "--overlay2=all:memory",
            "--net-raw=false",
            "--num-network-channels=4",
            "--dcache=-1",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn subcommands_positional_words_and_split_values_are_refused() {
        // Each of these made runsc run something else than the trial's sandbox.
        for bad in [
            "do",
            "/bin/sh",
            "-c",
            "-force-overlay=false",
            "--",
            "--=x",
            "--net-raw false",
            " --net-raw",
            "-net-raw",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_naming_host_paths_or_resources_are_refused() {
        for bad in [
            "--log=/etc/owned",
            "--panic-log=/etc/x",
            "--debug-log=/tmp/x/",
            "--pcap-log=/tmp/p",
            "--profile-cpu=/tmp/cpu",
            "--trace=/tmp/t",
            "--coverage-report=/tmp/c",
            "--pod-init-config=/etc/passwd",
            "--platform_device_path=/dev/kvm",
            "--TESTONLY-autosave-image-path=/tmp/s",
            "--profiling-metrics-log=/tmp/m",
            "--overlay2=root:dir=/tmp",
            "--overlay2=root:self",
            "--overlay2=none",
            "--metric-server=127.0.0.1:9000",
            "--rootless",
            "--systemd-cgroup",
            "--nvproxy",
            "--tpuproxy",
            "--EXPERIMENTAL-xdp=ns",
            "--reproduce-nat",
            "--allow-flag-override",
            "--TESTONLY-unsafe-nonroot",
            "--host-fifo=open",
            "--ignore-cgroups",
            "--log-fd=3",
            "--root=/tmp/elsewhere",
            "--network=host",
            "--host-uds=all",
            "--platform=kvm",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn values_are_checked_by_kind() {
        assert!(check("--net-raw=yes").is_err());
        assert!(check("--file-access=/tmp").is_err());
        assert!(check("--num-network-channels=four").is_err());
        assert!(check("--num-network-channels").is_err());
        assert!(check("--dcache=12345678901").is_err());
    }
}
