//! runsc's global flags: the one place they are put together, for the OCI launcher's own
//! `runsc` commands, the engine launcher's `runtimes` entries and doctor's probe sandboxes.
//! A case may add flags of its own (`runsc.flags`), only from the allow list of
//! [`crate::case::runsc_flags`], which holds none of those the harness passes.

use std::path::Path;

use crate::case::RunscNetwork;
use crate::trial::plan::Trial;

/// The global flags of one sandbox, less its state directory and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GlobalFlags {
    /// `--host-uds=all`: a socket made inside the sandbox answers on the host, which is how
    /// the harness reaches every nested dockerd (docs/host-facts.md, "`--host-uds=all`
    /// reaches a socket made inside the sandbox").
    pub host_uds: bool,
    pub network: RunscNetwork,
    /// `None`: runsc's default platform.
    pub platform: Option<String>,
    /// The case's own flags, last.
    pub extra: Vec<String>,
}

impl GlobalFlags {
    /// What a trial's sandbox is given, whichever launcher starts it.
    pub fn for_trial(trial: &Trial) -> GlobalFlags {
        GlobalFlags {
            host_uds: true,
            network: trial.network,
            platform: trial.runtime.platform.clone(),
            extra: trial.case.runsc.flags.clone(),
        }
    }

    /// No networking, no host sockets, the default platform: where doctor's probe sandboxes
    /// start from.
    pub fn isolated() -> GlobalFlags {
        GlobalFlags {
            host_uds: false,
            network: RunscNetwork::None,
            platform: None,
            extra: Vec::new(),
        }
    }

    /// The flags as an engine's `runtimes` entry gives them: its shim passes `--root` and
    /// the logging flags itself.
    pub fn args(&self) -> Vec<String> {
        let mut v = Vec::new();
        if self.host_uds {
            v.push("--host-uds=all".to_string());
        }
        // Writes stay in memory, so one read-only rootfs serves every sandbox
        // (docs/host-facts.md, "`--overlay2=root:memory` keeps a shared rootfs untouched").
        v.push("--overlay2=root:memory".to_string());
        v.push(format!("--network={}", self.network.as_str()));
        if let Some(p) = &self.platform {
            v.push(format!("--platform={p}"));
        }
        v.extend(self.extra.iter().cloned());
        v
    }

    /// The flags of a runsc run directly: its own `--root` (`state`) and debug logs under
    /// `logs`, where the reasons a sandbox did not start are written.
    pub fn with_state(&self, state: &Path, logs: &Path) -> Vec<String> {
        let mut v = vec![
            format!("--root={}", state.display()),
            "--debug".to_string(),
            format!("--debug-log={}/", logs.display()),
        ];
        v.extend(self.args());
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The order is part of the outcome: the engine's runtime name is a digest of these
    /// arguments, and runsc's command line is in the report.
    #[test]
    fn a_trials_flags_in_the_order_runsc_is_given_them() {
        let flags = GlobalFlags {
            host_uds: true,
            network: RunscNetwork::None,
            platform: Some("systrap".into()),
            extra: vec!["--net-raw".into()],
        };
        assert_eq!(
            flags.args(),
            [
                "--host-uds=all",
                "--overlay2=root:memory",
                "--network=none",
                "--platform=systrap",
                "--net-raw"
            ]
        );
        let with_state = flags.with_state(Path::new("/s"), Path::new("/l"));
        assert_eq!(with_state[..3], ["--root=/s", "--debug", "--debug-log=/l/"]);
        assert_eq!(with_state[3..], flags.args()[..]);
    }

    #[test]
    fn an_isolated_sandbox_has_no_host_sockets_and_no_network() {
        assert_eq!(
            GlobalFlags::isolated().args(),
            ["--overlay2=root:memory", "--network=none"]
        );
    }
}
