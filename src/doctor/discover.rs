//! What runsc the host already has, beyond the inventory: `runsc` on `PATH`, and the runsc
//! runtimes registered with the host's Docker (`/etc/docker/daemon.json`: `runtimes`, each a
//! `path` and `runtimeArgs`). Doctor lists them and says how to test each one (`--runsc
//! PATH`); the runtime arguments are shown because they are part of what the platform runs
//! (dindcheck passes its own flags, and a case's, instead).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Deserialize;

use super::check::{Check, Topic};
use crate::inventory::Inventory;

/// The host Docker's configuration file.
pub const DAEMON_JSON: &str = "/etc/docker/daemon.json";

/// A runtime of the host's Docker whose binary looks like runsc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerRuntime {
    pub name: String,
    pub path: PathBuf,
    pub args: Vec<String>,
}

#[derive(Deserialize)]
struct DaemonJson {
    #[serde(default)]
    runtimes: std::collections::BTreeMap<String, RuntimeEntry>,
}

#[derive(Deserialize)]
struct RuntimeEntry {
    #[serde(default)]
    path: Option<String>,
    #[serde(default, rename = "runtimeArgs")]
    runtime_args: Vec<String>,
}

/// The runsc runtimes of a `daemon.json` (a runtime whose binary's name starts with
/// `runsc`). Docker resolves a path without a `/` on `PATH`; so does this, with `path_env`.
pub fn parse_daemon_json(text: &str, path_env: &str) -> Result<Vec<DockerRuntime>, String> {
    let d: DaemonJson = serde_json::from_str(text).map_err(|e| e.to_string())?;
    Ok(d.runtimes
        .into_iter()
        .filter_map(|(name, r)| {
            let p = r.path?;
            let file = Path::new(&p).file_name()?.to_string_lossy().into_owned();
            if !file.starts_with("runsc") {
                return None;
            }
            let path = if p.contains('/') {
                PathBuf::from(&p)
            } else {
                which(&p, path_env).unwrap_or_else(|| PathBuf::from(&p))
            };
            Some(DockerRuntime {
                name,
                path,
                args: r.runtime_args,
            })
        })
        .collect())
}

/// The first executable file `name` on `path_env`.
pub fn which(name: &str, path_env: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path_env)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Whether the inventory already runs this binary (the same file).
fn known(inventory: Option<&Inventory>, path: &Path) -> Option<String> {
    let canonical = std::fs::canonicalize(path).ok()?;
    inventory?
        .runsc
        .iter()
        .find(|b| std::fs::canonicalize(&b.path).ok().as_ref() == Some(&canonical))
        .map(|b| b.runtime_name())
}

/// One check per runsc found on `PATH` and in the host Docker's `daemon.json`. A host with
/// neither gets one check that says so.
pub fn host_runsc(inventory: Option<&Inventory>, daemon_json: &Path) -> Vec<Check> {
    let started = Instant::now();
    let path_env = std::env::var("PATH").unwrap_or_default();
    let mut checks = Vec::new();
    let usage = |path: &Path| format!("test it: dindcheck run --runsc {}", path.display());
    if let Some(p) = which("runsc", &path_env) {
        let c = Check::new("host", Topic::Inventory, "runsc on PATH");
        let c = match known(inventory, &p) {
            Some(name) => c.ok(format!("{} (the inventory's {name})", p.display())),
            None => c.warn(format!("{}, not in the inventory", p.display()), usage(&p)),
        };
        checks.push(c.evidence([format!("looked for runsc on PATH={path_env}")]));
    }
    match std::fs::read_to_string(daemon_json) {
        Ok(text) => match parse_daemon_json(&text, &path_env) {
            Ok(runtimes) => {
                for r in runtimes {
                    let c = Check::new(
                        "host",
                        Topic::Inventory,
                        &format!("Docker runtime {}", r.name),
                    );
                    let args = if r.args.is_empty() {
                        "no runtimeArgs".to_string()
                    } else {
                        format!("runtimeArgs {}", r.args.join(" "))
                    };
                    let summary = format!("{} ({args})", r.path.display());
                    let c = match known(inventory, &r.path) {
                        Some(name) => c.ok(format!("{summary}: the inventory's {name}")),
                        None if !r.path.exists() => c.warn(
                            format!("{summary}: no such file"),
                            "fix the runtime's path in daemon.json",
                        ),
                        None => c.warn(summary, usage(&r.path)),
                    };
                    checks.push(c.evidence([format!("read {}", daemon_json.display())]));
                }
            }
            Err(e) => checks.push(
                Check::new("host", Topic::Inventory, "Docker runtimes")
                    .warn(
                        format!("{} is not valid JSON: {e}", daemon_json.display()),
                        "fix the file; dockerd refuses to start with it too",
                    )
                    .evidence([format!("read {}", daemon_json.display())]),
            ),
        },
        Err(_) if checks.is_empty() => checks.push(
            Check::new("host", Topic::Inventory, "host runsc")
                .ok(format!(
                    "no runsc on PATH, no {} (only the inventory's runsc are tested)",
                    daemon_json.display()
                ))
                .evidence([format!("looked for runsc on PATH={path_env}")]),
        ),
        Err(_) => {}
    }
    for c in &mut checks {
        c.elapsed_ms = started.elapsed().as_millis() as u64;
    }
    checks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_runsc_runtimes_of_a_daemon_json_are_found_with_their_arguments() {
        let text = r#"{
            "runtimes": {
                "runsc": {"path": "/usr/local/bin/runsc", "runtimeArgs": ["--platform=systrap", "--net-raw"]},
                "runsc-debug": {"path": "/opt/gvisor/runsc"},
                "crun": {"path": "/usr/bin/crun"}
            },
            "default-runtime": "runc"
        }"#;
        let found = parse_daemon_json(text, "").unwrap();
        assert_eq!(
            found,
            [
                DockerRuntime {
                    name: "runsc".into(),
                    path: "/usr/local/bin/runsc".into(),
                    args: vec!["--platform=systrap".into(), "--net-raw".into()],
                },
                DockerRuntime {
                    name: "runsc-debug".into(),
                    path: "/opt/gvisor/runsc".into(),
                    args: vec![],
                },
            ]
        );
    }

    #[test]
    fn a_daemon_json_without_runtimes_has_none_and_a_broken_one_is_an_error() {
        assert!(
            parse_daemon_json(r#"{"data-root": "/x"}"#, "")
                .unwrap()
                .is_empty()
        );
        assert!(parse_daemon_json("{", "").is_err());
    }
}
