//! What a case may ask of its sandbox: the shape of an image reference, dockerd arguments
//! that leave the harness its socket and configuration, and the mounts a case may have
//! (`docs/security.md`). `load` applies them to every case file.

use std::path::Path;

use super::schema::MountKind;

/// Host paths a case may bind-mount. A bind of anything else is refused, so that a case file
/// can never make the harness expose or write a host path it did not mean to.
pub const ALLOWED_BIND_SOURCES: &[&str] = &["/sys/fs/cgroup", "/lib/modules"];

/// Whether `s` is an image reference as the engine takes it
/// (`[host[:port]/]path[:tag][@digest]`), checked before any run. `oci-spec`'s distribution
/// `Reference` holds the grammar of the Docker distribution's reference: lowercase
/// repository paths (a leading registry host may have capitals), tags of at most 128
/// characters, and digests of their algorithm's full length (`sha256:` and 64 hex digits).
pub(super) fn is_image_reference(s: &str) -> bool {
    s.parse::<oci_spec::distribution::Reference>().is_ok()
}

/// dockerd arguments that would take away what the harness depends on: its own socket in
/// the io directory (another `--host` there would clash with it or replace it) and the
/// `daemon.json` it writes (`--config-file` elsewhere would bypass the case's own key).
/// Other arguments only change dockerd inside the sandbox and are the case's business.
pub(super) fn check_dockerd_args(args: &[String]) -> Result<(), MountProblem> {
    let io = super::schema::IO_DIR_IN_SANDBOX;
    for (i, a) in args.iter().enumerate() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n, Some(v)),
            None => (a.as_str(), None),
        };
        let value = || inline.or_else(|| args.get(i + 1).map(String::as_str));
        match name {
            "--config-file" => {
                return Err(MountProblem(
                    format!("`{a}`: the harness writes dockerd's configuration"),
                    "put dockerd's configuration in `dockerd.daemon_json`".into(),
                ));
            }
            "-H" | "--host" if value().is_some_and(|v| v.contains(io)) => {
                return Err(MountProblem(
                    format!("`{a}` would listen in {io}, the harness's own directory"),
                    format!("the harness gives dockerd its socket in {io}; listen elsewhere"),
                ));
            }
            _ => {}
        }
    }
    Ok(())
}

/// (message, hint) for a mount the harness refuses.
pub(super) struct MountProblem(pub String, pub String);

/// Mount options a case may give, by mount type. Anything else (propagation such as `shared`,
/// `rw` on a bind, `dev`/`suid`) is refused: deny by default, as for runsc flags.
const TMPFS_OPTIONS: &[&str] = &["rw", "ro", "nosuid", "nodev", "noexec", "exec"];
const TMPFS_OPTIONS_WITH_VALUE: &[&str] = &["size=", "mode=", "nr_inodes="];
const BIND_OPTIONS: &[&str] = &[
    "ro", "bind", "rbind", "nosuid", "nodev", "noexec", "private", "rprivate",
];

/// Where a case may not mount: over the whole root, over the harness's io directory (its
/// entry script and dockerd's socket), or over `/proc`.
const RESERVED_DESTINATIONS: &[&str] = &["/", super::schema::IO_DIR_IN_SANDBOX, "/proc"];

pub(super) fn check_mount(m: &super::schema::Mount) -> Result<(), MountProblem> {
    let dest = &m.destination;
    if !dest.is_absolute() || dest.components().any(|c| c.as_os_str() == "..") {
        return Err(MountProblem(
            format!(
                "destination `{}` must be an absolute path without `..`",
                dest.display()
            ),
            "write the path as it is inside the sandbox, e.g. `/var/lib/docker`".into(),
        ));
    }
    // `:` and `,` separate fields in Docker's --mount and -v syntax; runsc's gofer fails on
    // the former with "unexpected end of JSON input" long after the load.
    let plain = dest.to_str().is_some_and(|d| {
        d.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+@".contains(c))
    });
    if !plain {
        return Err(MountProblem(
            format!(
                "destination `{}` has characters a mount path may not have here",
                dest.display()
            ),
            "use letters, digits and `/ . _ - + @`".into(),
        ));
    }
    if let Some(r) = RESERVED_DESTINATIONS
        .iter()
        .find(|r| dest == Path::new(r) || (**r != "/" && dest.starts_with(r)))
    {
        return Err(MountProblem(
            format!(
                "destination `{}` would cover `{r}`, which the harness needs",
                dest.display()
            ),
            "mount somewhere else".into(),
        ));
    }
    let allowed: &[&str] = match m.kind {
        MountKind::Tmpfs => TMPFS_OPTIONS,
        MountKind::Bind => BIND_OPTIONS,
    };
    for o in &m.options {
        let ok = allowed.contains(&o.as_str())
            || (m.kind == MountKind::Tmpfs
                && TMPFS_OPTIONS_WITH_VALUE.iter().any(|p| {
                    o.strip_prefix(p).is_some_and(|v| {
                        !v.is_empty() && v.chars().all(|c| c.is_ascii_alphanumeric())
                    })
                }));
        if !ok {
            let hint = if m.kind == MountKind::Bind && o == "rw" {
                "host paths are bound read-only; only `cgroup = \"host-bind-rw\"` binds the host's cgroup tree read-write, and the report flags it".to_string()
            } else {
                match m.kind {
                    MountKind::Tmpfs => format!(
                        "a tmpfs mount takes only: {}, size=…, mode=…, nr_inodes=…",
                        allowed.join(", ")
                    ),
                    MountKind::Bind => format!("a bind mount takes only: {}", allowed.join(", ")),
                }
            };
            return Err(MountProblem(
                format!("mount option `{o}` is not allowed here"),
                hint,
            ));
        }
    }
    match (m.kind, &m.source) {
        (MountKind::Tmpfs, Some(_)) => Err(MountProblem(
            "a tmpfs mount takes no `source`".into(),
            "remove `source`, or use `type = \"bind\"`".into(),
        )),
        (MountKind::Bind, None) => Err(MountProblem(
            "a bind mount needs a `source`".into(),
            "name the host path to bind".into(),
        )),
        (MountKind::Bind, Some(src)) => {
            let ok = src.is_absolute()
                && !src.components().any(|c| c.as_os_str() == "..")
                && ALLOWED_BIND_SOURCES.iter().any(|a| src == Path::new(a));
            if ok {
                Ok(())
            } else {
                Err(MountProblem(
                    format!("bind source `{}` is not on the allow list", src.display()),
                    format!(
                        "a case may bind only {}, read-only",
                        ALLOWED_BIND_SOURCES.join(", ")
                    ),
                ))
            }
        }
        (MountKind::Tmpfs, None) => Ok(()),
    }
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_are_checked_for_shape() {
        for ok in [
            "docker:dind",
            "docker",
            "library/docker:27.3-dind",
            "localhost:5000/team/dind:1",
            "dindcheck/custom",
            "docker@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "docker:27@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Registry.Example/team/dind:1",
        ] {
            assert!(is_image_reference(ok), "{ok}");
        }
        for bad in [
            "",
            "docker dind",
            "https://host/docker:dind",
            "docker:",
            "/docker",
            "docker@sha256:xyz",
            // A digest is its algorithm's full length: no engine pulls a prefix.
            "docker@sha256:0123abcd",
            "docker@md5:0123456789abcdef0123456789abcdef",
            "Docker:dind",
            "registry.example/Team/dind",
        ] {
            assert!(!is_image_reference(bad), "{bad}");
        }
    }
}
