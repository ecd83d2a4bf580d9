//! Bring your own runsc: any runsc binary as a runtime, beside the ones `scripts/setup-host`
//! installed (`--runsc PATH` on `run`, `list` and `doctor`; `DINDCHECK_RUNSC_PATHS` for them
//! and for the conformance harness, colon-separated).
//!
//! A binary's identity comes from the binary itself: its release from `runsc --version`
//! (`release-20251208.0`, or Debian's `0.0~20240729.0`), and from `runsc flags` whether it
//! knows the flags every launch passes. Its runtime is named `runsc-<release>`, like the
//! setup's, so that baselines recorded with one copy of a release apply to another. A copy of
//! a binary the inventory already has is that runtime; a different binary of the same
//! release (a patched or differently built one) is `runsc-<release>-<first 8 hex digits of
//! its sha256>`, a name that stays the same on every machine.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use crate::doctor::facts::{RunscFlags, parse_release};
use crate::inventory::{Inventory, RunscBinary};

/// The environment variable with runsc binaries to add, colon-separated.
pub const PATHS_ENV: &str = "DINDCHECK_RUNSC_PATHS";

/// How long `runsc --version` or `runsc flags` may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum OwnRunscError {
    #[error("runsc {path}: {reason}")]
    Unusable { path: PathBuf, reason: String },
}

/// What a runsc binary says about itself.
#[derive(Clone, Debug)]
pub struct RunscIdentity {
    /// The canonical path.
    pub path: PathBuf,
    /// The first line of `runsc --version`.
    pub version: String,
    /// The release date, `20240729`.
    pub release: String,
    /// How many flags `runsc flags` lists.
    pub flag_count: usize,
}

/// Runs `path ARGS` and returns its stdout then its stderr (`runsc flags` prints to
/// stderr), killing it at the timeout.
fn output(path: &Path, args: &[&str]) -> Result<String, String> {
    let mut child = Command::new(path)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run it: {e}"))?;
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let stdout = read(Box::new(child.stdout.take().expect("piped")));
    let stderr = read(Box::new(child.stderr.take().expect("piped")));
    let reader = std::thread::spawn(move || {
        let mut s = stdout.join().unwrap_or_default();
        s.push_str(&stderr.join().unwrap_or_default());
        s
    });
    let started = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(status)) => {
                let out = reader.join().unwrap_or_default();
                return if status.success() {
                    Ok(out)
                } else {
                    Err(format!("`{}` exited with {status}", args.join(" ")))
                };
            }
            Ok(None) if started.elapsed() < COMMAND_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`{}` did not finish within {} s",
                    args.join(" "),
                    COMMAND_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// Asks the binary at `path` who it is, and checks that it knows every flag a launch passes.
pub fn identify(path: &Path) -> Result<RunscIdentity, OwnRunscError> {
    let unusable = |reason: String| OwnRunscError::Unusable {
        path: path.to_path_buf(),
        reason,
    };
    let canonical = std::fs::canonicalize(path).map_err(|e| unusable(e.to_string()))?;
    let version_out = output(&canonical, &["--version"]).map_err(unusable)?;
    let version = version_out
        .lines()
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let release = parse_release(&version_out)
        .ok_or_else(|| {
            unusable(format!(
                "`runsc --version` printed no release date (\"{version}\"): is it runsc?"
            ))
        })?
        .to_string();
    let flags = RunscFlags::parse(&output(&canonical, &["flags"]).map_err(unusable)?);
    let missing = flags.missing_required();
    if !missing.is_empty() {
        return Err(unusable(format!(
            "it does not know --{}, which every launch passes",
            missing.join(", --")
        )));
    }
    Ok(RunscIdentity {
        path: canonical,
        version,
        release,
        flag_count: flags.usage.len(),
    })
}

/// The sha256 of a file.
fn digest(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h)?;
    Ok(format!("{:x}", h.finalize()))
}

fn same_content(a: &Path, b: &Path) -> bool {
    let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).ok();
    match (size(a), size(b)) {
        (Some(x), Some(y)) if x == y => {
            matches!((digest(a), digest(b)), (Ok(x), Ok(y)) if x == y)
        }
        _ => false,
    }
}

/// How one `--runsc` binary joined the inventory.
#[derive(Clone, Debug)]
pub struct Added {
    pub identity: RunscIdentity,
    /// The runtime's name.
    pub name: String,
    /// It is a copy of a binary the inventory already had (that runtime is used).
    pub same_as: Option<PathBuf>,
}

/// Adds each binary of `paths` to `inventory` as a runtime (see the module's naming rules).
pub fn add_to(inventory: &mut Inventory, paths: &[PathBuf]) -> Result<Vec<Added>, OwnRunscError> {
    let mut added = Vec::new();
    for path in paths {
        let identity = identify(path)?;
        let known = inventory.runsc.iter().find(|b| {
            b.path == identity.path
                || (b.release == identity.release && same_content(&b.path, &identity.path))
        });
        if let Some(b) = known {
            added.push(Added {
                name: b.runtime_name(),
                same_as: Some(b.path.clone()),
                identity,
            });
            continue;
        }
        let plain = format!("runsc-{}", identity.release);
        let name = if inventory.runsc.iter().any(|b| b.runtime_name() == plain) {
            let hex = digest(&identity.path).map_err(|e| OwnRunscError::Unusable {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            format!("{plain}-{}", &hex[..8])
        } else {
            plain
        };
        inventory.runsc.push(RunscBinary {
            release: identity.release.clone(),
            package_version: identity.version.clone(),
            path: identity.path.clone(),
            name: Some(name.clone()),
            ..Default::default()
        });
        added.push(Added {
            identity,
            name,
            same_as: None,
        });
    }
    Ok(added)
}
