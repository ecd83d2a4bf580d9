//! A trial's own network namespaces, for runsc's sandbox networking (docs/host-facts.md,
//! "Sandbox networking").
//!
//! runsc's `--network=sandbox` gives the sandbox gVisor's own network stack, built from the
//! interfaces and routes of the network namespace the sandbox joins. Each trial that asks
//! for it gets two namespaces of its own and nothing else:
//!
//! ```text
//!   dindcheck-<id>      lo, eth0 192.0.2.2/24, default route via 192.0.2.1   (the sandbox's)
//!        │ veth
//!   dindcheck-<id>-up   lo, up0 192.0.2.1/24, no other link, no route         (the uplink's)
//! ```
//!
//! The uplink namespace is where the harness's own endpoints can live; it has no link to
//! the host's namespace, so no route, NAT or DNS leads off this machine. The addresses are
//! from TEST-NET-1 (RFC 5737), which no network routes. Both namespaces are made with `ip
//! netns` (iproute2), so `ip netns list` shows them, and are deleted with the trial (the
//! veth goes with them); a run that died leaves names with a dead pid, which the next run
//! reaps ([`reap_stale`]).

use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Every namespace the harness makes is named `dindcheck-<pid>-<n>` or that plus `-up`.
pub const PREFIX: &str = "dindcheck-";

/// The sandbox side of the veth: its name, address and prefix inside the sandbox.
pub const UPLINK_DEVICE: &str = "eth0";
pub const SANDBOX_ADDRESS: &str = "192.0.2.2";
/// The uplink side: the sandbox's gateway, where the harness's endpoints listen.
pub const GATEWAY_ADDRESS: &str = "192.0.2.1";
pub const PREFIX_LEN: u8 = 24;
/// The veth's MTU (the kernel's default for a veth), which a recipe may match (`--mtu`).
pub const UPLINK_MTU: u32 = 1500;

/// Where `ip netns` keeps its namespaces.
const NETNS_DIR: &str = "/run/netns";

#[derive(Debug, thiserror::Error)]
pub enum NetnsError {
    #[error("cannot run `ip` (iproute2) to make the trial's network namespace: {0}")]
    Spawn(std::io::Error),
    #[error("`ip {args}` failed: {stderr}")]
    Failed { args: String, stderr: String },
}

/// A trial's two network namespaces; dropping it deletes them.
#[derive(Debug)]
pub struct TrialNetwork {
    sandbox: String,
    uplink: String,
}

impl TrialNetwork {
    /// Makes `dindcheck-<id>` and `dindcheck-<id>-up`, joined by a veth. `offload`: whether
    /// the uplink may send the sandbox coalesced frames (the kernel's default for a veth). On
    /// any failure what was made is deleted.
    pub fn create(id: &str, offload: bool) -> Result<TrialNetwork, NetnsError> {
        let net = TrialNetwork {
            sandbox: format!("{PREFIX}{id}"),
            uplink: format!("{PREFIX}{id}-up"),
        };
        // A namespace left by an earlier process with the same pid is stale by definition.
        delete(&net.sandbox);
        delete(&net.uplink);
        ip(&["netns", "add", &net.sandbox])?;
        // From here on, an early return drops `net`, which deletes both.
        ip(&["netns", "add", &net.uplink])?;
        let (s, u) = (net.sandbox.as_str(), net.uplink.as_str());
        let mtu = UPLINK_MTU.to_string();
        // Both ends are made inside the new namespaces: the host's namespace never holds
        // either, even for a moment.
        ip(&[
            "link",
            "add",
            UPLINK_DEVICE,
            "netns",
            s,
            "mtu",
            &mtu,
            "type",
            "veth",
            "peer",
            "name",
            "up0",
            "netns",
            u,
            "mtu",
            &mtu,
        ])?;
        let sandbox_cidr = format!("{SANDBOX_ADDRESS}/{PREFIX_LEN}");
        let gateway_cidr = format!("{GATEWAY_ADDRESS}/{PREFIX_LEN}");
        for (ns, args) in [
            (s, vec!["link", "set", "lo", "up"]),
            (s, vec!["addr", "add", &sandbox_cidr, "dev", UPLINK_DEVICE]),
            (s, vec!["link", "set", UPLINK_DEVICE, "up"]),
            (u, vec!["link", "set", "lo", "up"]),
            (u, vec!["addr", "add", &gateway_cidr, "dev", "up0"]),
            (u, vec!["link", "set", "up0", "up"]),
            (s, vec!["route", "add", "default", "via", GATEWAY_ADDRESS]),
        ] {
            let mut all = vec!["-n", ns];
            all.extend(args);
            ip(&all)?;
        }
        // Without offload, the uplink's TCP sends no segment larger than the link's MTU
        // (no more than one MSS per frame), as a host with GRO and TSO off for the link would.
        if !offload {
            let max = UPLINK_MTU.to_string();
            ip(&["-n", u, "link", "set", "up0", "gso_max_size", &max])?;
        }
        Ok(net)
    }

    /// The sandbox's namespace, as the OCI spec names it.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(NETNS_DIR).join(&self.sandbox)
    }

    /// The uplink's namespace, where the harness's endpoints for this trial listen.
    pub fn uplink_name(&self) -> &str {
        &self.uplink
    }

    /// What the trial's setup script is told of its network, as `KEY=value` pairs.
    pub fn environment() -> [(&'static str, String); 4] {
        [
            ("DINDCHECK_UPLINK_DEVICE", UPLINK_DEVICE.to_string()),
            ("DINDCHECK_UPLINK_ADDRESS", SANDBOX_ADDRESS.to_string()),
            ("DINDCHECK_UPLINK_GATEWAY", GATEWAY_ADDRESS.to_string()),
            ("DINDCHECK_UPLINK_MTU", UPLINK_MTU.to_string()),
        ]
    }
}

impl Drop for TrialNetwork {
    fn drop(&mut self) {
        delete(&self.sandbox);
        delete(&self.uplink);
    }
}

/// Runs `work` on a thread of its own that has entered the network namespace `name` (one
/// of `ip netns`'s, under `/run/netns`): sockets it makes belong to that namespace for their
/// whole life, whichever thread uses them afterwards. The thread ends with `work`, so no
/// thread of the process (a tokio worker least of all) is ever left in another namespace.
/// It blocks for as long as `work` does: call it off the async workers when `work` waits.
pub fn in_namespace<T: Send>(
    name: &str,
    work: impl FnOnce() -> std::io::Result<T> + Send,
) -> std::io::Result<T> {
    let namespace = std::fs::File::open(PathBuf::from(NETNS_DIR).join(name))?;
    std::thread::scope(|scope| {
        scope
            .spawn(move || {
                rustix::thread::move_into_link_name_space(
                    std::os::fd::AsFd::as_fd(&namespace),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )?;
                work()
            })
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the namespace's thread panicked")))
    })
}

/// Deletes the namespaces of the trial `<pid>-<n>`, if any (a dead run's).
pub fn remove_for(id: &str) {
    delete(&format!("{PREFIX}{id}"));
    delete(&format!("{PREFIX}{id}-up"));
}

/// The harness's namespaces on this host: `dindcheck-*` under `/run/netns`.
pub fn own_namespaces() -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut v: Vec<String> = dir
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(PREFIX))
        .collect();
    v.sort();
    v
}

/// The pid in `dindcheck-<pid>-<n>[-up]`.
fn owner_pid(name: &str) -> Option<i32> {
    name.strip_prefix(PREFIX)?.split('-').next()?.parse().ok()
}

/// Deletes the namespaces whose owner process is gone; returns their names.
pub fn reap_stale(alive: impl Fn(i32) -> bool) -> Vec<String> {
    let stale: Vec<String> = own_namespaces()
        .into_iter()
        .filter(|n| owner_pid(n).is_some_and(|pid| !alive(pid)))
        .collect();
    for n in &stale {
        delete(n);
    }
    stale
}

fn delete(name: &str) {
    if PathBuf::from(NETNS_DIR).join(name).exists() {
        let _ = ip(&["netns", "delete", name]);
    }
}

fn ip(args: &[&str]) -> Result<(), NetnsError> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(NetnsError::Spawn)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(NetnsError::Failed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_of_a_namespace_is_in_its_name() {
        assert_eq!(owner_pid("dindcheck-123-4"), Some(123));
        assert_eq!(owner_pid("dindcheck-123-4-up"), Some(123));
        assert_eq!(owner_pid("dindcheck-doctor"), None);
        assert_eq!(owner_pid("other-123-4"), None);
    }
}
