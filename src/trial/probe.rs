//! Workload probes: what a user does with a nested dockerd once it answers `docker info`.
//!
//! "Ready" is not "usable": a nested `docker run` can still fail (inside the nested runc, or
//! while applying a layer). After readiness and before the teardown, the runner asks the
//! nested dockerd, through bollard on the trial's socket, to import an image, run, build and
//! exec. Each [`Probe`] gets its own [`ProbeVerdict`], duration and error, under a hard
//! timeout, and removes the nested containers it made (they would die with the sandbox, but
//! the harness does not rely on that).
//!
//! The image is the tiny busybox root filesystem that `scripts/setup-host` packs from
//! Debian's `busybox-static` (inventory `images.busybox`): nothing is pulled. It is imported
//! as `docker import` does (`POST /images/create?fromSrc=-`, streamed from the file):
//! bollard's `import_image` is `docker load`, which wants a `docker save` archive instead.

use std::path::Path;
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

pub use crate::case::Probe;
pub use network::Transfer;

mod endpoint;
mod local;
mod network;

use local::{build, exec, image_load, limits, run_marker, run_privileged};

/// The image the probes import, and the one `build` makes from it.
pub const IMAGE: &str = "dindcheck/busybox:probe";
/// What a probe's container prints when it ran.
const MARKER: &str = "dindcheck-probe-ok";
/// How long one probe may take, cleanup excluded.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(60);
/// How long removing a probe's container may take.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ProbeVerdict {
    Ok,
    Failed,
    Skipped,
    /// A network probe where the sandbox has no network the harness can reach: not a
    /// failure of the recipe, and not counted as one.
    NotApplicable,
}

impl ProbeVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeVerdict::Ok => "ok",
            ProbeVerdict::Failed => "failed",
            ProbeVerdict::Skipped => "skipped",
            ProbeVerdict::NotApplicable => "not-applicable",
        }
    }
}

/// What one probe observed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct ProbeResult {
    pub probe: Probe,
    pub verdict: ProbeVerdict,
    /// Milliseconds the probe took (cleanup excluded).
    pub ms: u64,
    /// The error (failed) or the reason (skipped), normalised.
    pub detail: Option<String>,
    /// The catalogue id explaining a failure (set by [`crate::trial::classify`]).
    #[serde(default)]
    pub diagnosis: Option<String>,
    /// A failed probe with no lasting catalogued cause is tried once more before it counts:
    /// the first attempt's error when there was a second (whose verdict this is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried: Option<String>,
    /// The `bulk` probe's download: bytes and the endpoint's time for them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer: Option<Transfer>,
}

impl ProbeResult {
    fn skipped(probe: Probe, reason: &str) -> ProbeResult {
        ProbeResult::unrun(probe, ProbeVerdict::Skipped, reason)
    }

    fn not_applicable(probe: Probe, reason: &str) -> ProbeResult {
        ProbeResult::unrun(probe, ProbeVerdict::NotApplicable, reason)
    }

    fn unrun(probe: Probe, verdict: ProbeVerdict, reason: &str) -> ProbeResult {
        ProbeResult {
            probe,
            verdict,
            ms: 0,
            detail: Some(reason.to_string()),
            diagnosis: None,
            retried: None,
            transfer: None,
        }
    }
}

/// The nested container a probe makes, so that cleanup can find it by name.
fn container(probe: Probe) -> String {
    format!("dindcheck-probe-{}", probe.as_str())
}

/// Runs `selected` against the dockerd behind a trial's io-directory socket, pinned first
/// (see [`crate::trial::launch::socket::DaemonSocket`]): a socket the sandbox replaced after readiness
/// skips every probe with the reason, and is never followed.
pub async fn run_pinned(
    selected: &[Probe],
    socket: &crate::trial::launch::socket::DaemonSocket,
    image: Option<&Path>,
    uplink: Result<&str, String>,
) -> Vec<ProbeResult> {
    match socket.pin() {
        Ok(Some(pinned)) => run(selected, &pinned.path(), image, uplink).await,
        other => {
            let reason = match other {
                Err(refused) => refused,
                _ => "dockerd's socket is gone".to_string(),
            };
            Probe::ALL
                .into_iter()
                .filter(|p| selected.contains(p))
                .map(|p| ProbeResult::skipped(p, &reason))
                .collect()
        }
    }
}

/// Runs `selected` (in [`Probe::ALL`]'s order) against the dockerd at `socket`. `image` is
/// the busybox tarball, if the host has one. Every probe but `image-load` needs the image:
/// it is imported even when `image-load` is not selected, and they are skipped if it fails.
/// `uplink` is the trial's uplink namespace, where the network probes reach the sandbox
/// from, or why there is none: they are then "not applicable".
pub async fn run(
    selected: &[Probe],
    socket: &Path,
    image: Option<&Path>,
    uplink: Result<&str, String>,
) -> Vec<ProbeResult> {
    let selected: Vec<Probe> = Probe::ALL
        .into_iter()
        .filter(|p| selected.contains(p))
        .collect();
    let (selected, not_applicable): (Vec<Probe>, Vec<ProbeResult>) = match &uplink {
        Ok(_) => (selected, Vec::new()),
        Err(reason) => {
            let (network, local): (Vec<Probe>, Vec<Probe>) =
                selected.into_iter().partition(|p| p.is_network());
            let na = network
                .into_iter()
                .map(|p| ProbeResult::not_applicable(p, reason))
                .collect();
            (local, na)
        }
    };
    let mut results = run_applicable(&selected, socket, image, uplink.ok()).await;
    results.extend(not_applicable);
    results.sort_by_key(|r| r.probe);
    results
}

/// Runs `selected`, every one of which can run here (a network probe only with `uplink`).
async fn run_applicable(
    selected: &[Probe],
    socket: &Path,
    image: Option<&Path>,
    uplink: Option<&str>,
) -> Vec<ProbeResult> {
    let selected = selected.to_vec();
    if selected.is_empty() {
        return Vec::new();
    }
    let docker = match crate::trial::observe::connect(socket, PROBE_TIMEOUT).await {
        Ok(d) => d,
        Err(e) => {
            let reason = format!("cannot connect to the nested dockerd: {e}");
            return selected
                .iter()
                .map(|p| ProbeResult::skipped(*p, &reason))
                .collect();
        }
    };
    let Some(image) = image else {
        let reason = "the inventory has no busybox image: rerun scripts/setup-host";
        return selected
            .iter()
            .map(|p| ProbeResult::skipped(*p, reason))
            .collect();
    };
    let load = with_retry(Probe::ImageLoad, &docker, || {
        plain(image_load(&docker, image))
    })
    .await;
    let image_ok = load.verdict == ProbeVerdict::Ok;
    // The skip names the import's error when its own result is not reported (a search's
    // target without image-load): it is then the only line that says why.
    let skip_reason = if selected.contains(&Probe::ImageLoad) {
        "the image could not be imported (see image-load)".to_string()
    } else {
        let error = load.detail.as_deref().unwrap_or("no error");
        format!("the image could not be imported: {error}")
    };
    let mut results = Vec::new();
    if selected.contains(&Probe::ImageLoad) {
        results.push(load);
    }
    // The harness's endpoint, for the probes that fetch from outside the sandbox.
    let needs_endpoint = selected.iter().any(|p| p.uses_endpoint());
    let endpoint = match uplink {
        Some(uplink) if needs_endpoint && image_ok => Some(
            endpoint::Endpoint::start(uplink)
                .await
                .map_err(|e| format!("the harness could not start its endpoint: {e}")),
        ),
        _ => None,
    };
    // Once the image is there the other probes do not depend on one another (each has its
    // own container name, `build` its own tag): they run at once against the same dockerd,
    // and their results keep `Probe::ALL`'s order.
    let rest = selected.into_iter().filter(|p| *p != Probe::ImageLoad);
    let endpoint = endpoint.as_ref();
    let runs = rest.map(|probe| {
        let docker = &docker;
        let skip_reason = &skip_reason;
        async move {
            if !image_ok {
                return ProbeResult::skipped(probe, skip_reason);
            }
            let endpoint = match endpoint {
                Some(Err(e)) if probe.uses_endpoint() => return ProbeResult::skipped(probe, e),
                Some(Ok(endpoint)) => Some(endpoint),
                _ => None,
            };
            let endpoint = || endpoint.expect("started for the probes that fetch");
            let uplink = || uplink.expect("a network probe runs only with an uplink");
            match probe {
                Probe::ImageLoad => unreachable!("run first, above"),
                Probe::RunNone => {
                    with_retry(probe, docker, || plain(run_marker(docker, probe, "none"))).await
                }
                Probe::RunHost => {
                    with_retry(probe, docker, || plain(run_marker(docker, probe, "host"))).await
                }
                Probe::RunDefault => {
                    with_retry(probe, docker, || {
                        plain(run_marker(docker, probe, "default"))
                    })
                    .await
                }
                Probe::Build => with_retry(probe, docker, || plain(build(docker))).await,
                Probe::Exec => with_retry(probe, docker, || plain(exec(docker))).await,
                Probe::Limits => with_retry(probe, docker, || plain(limits(docker))).await,
                Probe::RunPrivileged => {
                    with_retry(probe, docker, || plain(run_privileged(docker))).await
                }
                Probe::Egress => {
                    with_retry(probe, docker, || {
                        plain(network::egress(docker, endpoint(), probe, "default"))
                    })
                    .await
                }
                Probe::EgressHost => {
                    with_retry(probe, docker, || {
                        plain(network::egress(docker, endpoint(), probe, "host"))
                    })
                    .await
                }
                Probe::Publish => {
                    with_retry(probe, docker, || plain(network::publish(docker, uplink()))).await
                }
                Probe::Dns => with_retry(probe, docker, || plain(network::dns(docker))).await,
                Probe::Bulk => {
                    with_retry(probe, docker, || async {
                        network::bulk(docker, endpoint()).await.map(Some)
                    })
                    .await
                }
            }
        }
    });
    results.extend(futures_util::future::join_all(runs).await);
    results
}

/// What a probe's work gives: nothing but success, or a transfer's figures (`bulk`).
type Work = Result<Option<Transfer>, String>;

/// A probe's work that has no figures of its own.
async fn plain(work: impl Future<Output = Result<(), String>>) -> Work {
    work.await.map(|()| None)
}

/// Runs one probe under [`PROBE_TIMEOUT`], then removes what it made whatever happened.
async fn timed(probe: Probe, docker: &Docker, work: impl Future<Output = Work>) -> ProbeResult {
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, work).await;
    let ms = started.elapsed().as_millis() as u64;
    let _ = tokio::time::timeout(CLEANUP_TIMEOUT, async {
        remove(docker, &container(probe)).await;
        if probe == Probe::Dns {
            network::remove_dns(docker).await;
        }
    })
    .await;
    let (verdict, detail, transfer) = match outcome {
        Ok(Ok(transfer)) => (ProbeVerdict::Ok, None, transfer),
        Ok(Err(e)) => (
            ProbeVerdict::Failed,
            Some(crate::trial::observe::normalise(&e)),
            None,
        ),
        Err(_) => (
            ProbeVerdict::Failed,
            Some(format!(
                "dindcheck: probe {probe} did not finish within {} s",
                PROBE_TIMEOUT.as_secs()
            )),
            None,
        ),
    };
    ProbeResult {
        probe,
        verdict,
        ms,
        detail,
        diagnosis: None,
        retried: None,
        transfer,
    }
}

/// Whether a probe's failure has a catalogued cause that lasts (not `transient`): trying
/// again would only repeat it, at the cost of its time (a missing NAT rule costs `egress` a
/// nested container's start; the nested runc's `exec` refusal takes seconds each time). Only an
/// unexplained failure (`unknown`) or a transient cause is tried twice.
fn lasting(failed: &ProbeResult) -> bool {
    let catalogue = crate::trial::classify::Catalogue::builtin();
    let id = catalogue.diagnose(failed.detail.as_deref());
    catalogue.get(&id).is_some_and(|s| !s.transient)
}

/// Runs a probe under [`timed`], and once more if it failed: nested containers under gVisor
/// do not always behave the same from run to run (an exec probe's detached container once
/// failed to start, "cannot start a stopped process", in about 350 executions), and one
/// stray failure must not decide a probe's verdict. The first error is kept in `retried`.
/// A failure with a lasting catalogued cause is not retried ([`lasting`]); nor is a probe
/// that ran out of time: it would only double a hang; nor is a
/// transfer that ran out of its own bound (a stalled `bulk`, whose cause lasts: gVisor's
/// forwarding drops coalesced frames, docs/networking.md).
async fn with_retry<F, Fut>(probe: Probe, docker: &Docker, work: F) -> ProbeResult
where
    F: Fn() -> Fut,
    Fut: Future<Output = Work>,
{
    let first = timed(probe, docker, work()).await;
    let timed_out = first.detail.as_deref().is_some_and(|d| {
        d.ends_with(&format!("within {} s", PROBE_TIMEOUT.as_secs()))
            || d.starts_with(network::STALLED)
    });
    if first.verdict != ProbeVerdict::Failed || timed_out || lasting(&first) {
        return first;
    }
    let mut second = timed(probe, docker, work()).await;
    second.ms += first.ms;
    second.retried = first.detail;
    second
}

async fn remove(docker: &Docker, name: &str) {
    let opts = RemoveContainerOptionsBuilder::default().force(true).build();
    let _ = docker.remove_container(name, Some(opts)).await;
}

/// The error text a user would see from the docker CLI.
fn api_error(e: bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError { message, .. } => {
            format!("Error response from daemon: {message}")
        }
        e => e.to_string(),
    }
}

/// Creates and starts `name`, a container that keeps running (a server, or one to exec
/// into), or one that [`run_to_end`] waits for; one of that name left by an earlier attempt
/// is removed first.
async fn start_detached(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<(), String> {
    remove(docker, name).await;
    let opts = CreateContainerOptionsBuilder::default().name(name).build();
    docker
        .create_container(Some(opts), body)
        .await
        .map_err(api_error)?;
    docker.start_container(name, None).await.map_err(api_error)
}

/// Creates, starts and waits for `name`, returning its exit code and its output.
async fn run_to_end(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<(i64, String), String> {
    start_detached(docker, name, body).await?;
    finish(docker, name).await
}

/// Waits for the started container `name` to end, returning its exit code and its output.
async fn finish(docker: &Docker, name: &str) -> Result<(i64, String), String> {
    let code = match docker.wait_container(name, None).next().await {
        Some(Ok(r)) => r.status_code,
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => code,
        Some(Err(e)) => return Err(api_error(e)),
        None => return Err("`wait` returned nothing".into()),
    };
    let logs = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .build();
    let output: Vec<String> = docker
        .logs(name, Some(logs))
        .map_ok(|l| l.to_string())
        .try_collect()
        .await
        .map_err(api_error)?;
    Ok((code, output.concat()))
}

fn command(args: &[&str]) -> Option<Vec<String>> {
    Some(args.iter().map(|s| s.to_string()).collect())
}

/// Output for an error message: one line, not too long.
fn excerpt(output: &str) -> String {
    let one: String = output.split_whitespace().collect::<Vec<_>>().join(" ");
    one.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failed(detail: &str) -> ProbeResult {
        ProbeResult::unrun(Probe::Exec, ProbeVerdict::Failed, detail)
    }

    #[test]
    fn only_an_unexplained_or_transient_failure_is_tried_again() {
        // Lasting causes, local and network: retried, they only fail again.
        assert!(lasting(&failed(
            "Error response from daemon: NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted"
        )));
        assert!(lasting(&failed(
            "the exec exited 126 without printing the marker; output: OCI runtime exec failed: exec failed: unable to start container process: error executing setns process: exit status 1: unknown"
        )));
        // The nested start's race (catalogue `nested-start-stopped-process`, transient).
        assert!(!lasting(&failed(
            "Error response from daemon: cannot start a stopped process: unknown"
        )));
        // No catalogue entry: perhaps a stray failure, so it gets its second chance.
        assert!(!lasting(&failed("something no entry explains")));
    }

    #[test]
    fn probe_names_round_trip() {
        for p in Probe::ALL {
            let v: Probe = toml::Value::String(p.as_str().into()).try_into().unwrap();
            assert_eq!(v, p);
        }
    }
}
