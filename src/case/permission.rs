//! What a case file may do only when the person running dindcheck permits it on the command
//! line (`--allow`): the two settings by which a case reaches the host (`docs/security.md`).
//! A case file is untrusted input (a CI gate runs the case files of pull requests), so
//! without the permission such a case is refused at load, with its file, line and key.

use super::schema::{Case, CgroupMode};

/// One permission of `--allow`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Permission {
    /// `cgroup = "host-bind-rw"`: the sandbox may write the host's cgroup tree (limits on
    /// the host's existing cgroups included) while it runs.
    HostCgroupWrite,
    /// A dockerd `-H`/`--host` that is not a unix socket: with the host's network
    /// (`runsc.network = "host"`), dockerd listens on the host's addresses, unauthenticated.
    TcpListener,
}

impl Permission {
    pub fn as_str(self) -> &'static str {
        match self {
            Permission::HostCgroupWrite => "host-cgroup-write",
            Permission::TcpListener => "tcp-listener",
        }
    }
}

/// What `case` asks for that needs a permission: the permission, the key that asks for it,
/// and what it is.
pub fn needed(case: &Case) -> Vec<(Permission, &'static str, String)> {
    let mut needs = Vec::new();
    if case.cgroup == CgroupMode::HostBindRw {
        needs.push((
            Permission::HostCgroupWrite,
            "cgroup",
            "`cgroup = \"host-bind-rw\"` lets the sandbox write the host's cgroup tree".to_string(),
        ));
    }
    if let Some(listen) = tcp_listener(&case.dockerd.args) {
        needs.push((
            Permission::TcpListener,
            "dockerd.args",
            format!("`{listen}` makes dockerd listen on TCP, unauthenticated"),
        ));
    }
    needs
}

/// The first dockerd `-H`/`--host` that does not name a unix socket or an inherited file
/// descriptor: dockerd takes `tcp://…`, but also a bare `host:port` or `:port`, as TCP.
fn tcp_listener(args: &[String]) -> Option<String> {
    let mut values = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let value = match a.split_once('=') {
            Some(("--host" | "-H", v)) => Some(v.to_string()),
            None if a == "--host" || a == "-H" => args.get(i + 1).cloned(),
            // `-Htcp://…`: a short option with its value attached.
            _ => a
                .strip_prefix("-H")
                .filter(|v| !v.is_empty() && !a.starts_with("--"))
                .map(str::to_string),
        };
        values.extend(value);
    }
    values
        .into_iter()
        .find(|v| !(v.starts_with("unix://") || v.starts_with("fd://")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn every_spelling_of_a_tcp_host_is_a_listener() {
        for a in [
            &["-H", "tcp://0.0.0.0:2375"][..],
            &["--host=tcp://0.0.0.0:2375"],
            &["--host", "0.0.0.0:2375"],
            &["-Htcp://127.0.0.1:2375"],
            &["-H=:2375"],
            &[
                "--debug",
                "-H",
                "unix:///var/run/d.sock",
                "-H",
                "tcp://[::]:2376",
            ],
        ] {
            assert!(tcp_listener(&args(a)).is_some(), "{a:?}");
        }
    }

    #[test]
    fn unix_sockets_and_other_arguments_are_not() {
        for a in [
            &["-H", "unix:///var/run/other.sock"][..],
            &["--host=fd://"],
            &["--storage-driver", "vfs", "--iptables=false"],
            &["--help"],
        ] {
            assert_eq!(tcp_listener(&args(a)), None, "{a:?}");
        }
    }
}
