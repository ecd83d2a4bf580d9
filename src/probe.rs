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
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{
    BuildImageOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
    LogsOptionsBuilder, RemoveContainerOptionsBuilder,
};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

pub use crate::case::Probe;

/// The image the probes import, and the one `build` makes from it.
pub const IMAGE: &str = "dindcheck/busybox:probe";
const BUILT_IMAGE: &str = "dindcheck/built:probe";
/// What a probe's container prints when it ran.
const MARKER: &str = "dindcheck-probe-ok";
/// The `limits` probe's memory limit (64 MiB) and CPU share (half a CPU).
const MEMORY_LIMIT: i64 = 64 * 1024 * 1024;
const NANO_CPUS: i64 = 500_000_000;
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
}

impl ProbeVerdict {
    pub fn as_str(self) -> &'static str {
        match self {
            ProbeVerdict::Ok => "ok",
            ProbeVerdict::Failed => "failed",
            ProbeVerdict::Skipped => "skipped",
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
    /// The catalogue id explaining a failure (set by [`crate::classify`]).
    #[serde(default)]
    pub diagnosis: Option<String>,
    /// A failed probe is tried once more before it counts: the first attempt's error when
    /// there was a second (whose verdict this is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retried: Option<String>,
}

impl ProbeResult {
    fn skipped(probe: Probe, reason: &str) -> ProbeResult {
        ProbeResult {
            probe,
            verdict: ProbeVerdict::Skipped,
            ms: 0,
            detail: Some(reason.to_string()),
            diagnosis: None,
            retried: None,
        }
    }
}

/// The nested container a probe makes, so that cleanup can find it by name.
fn container(probe: Probe) -> String {
    format!("dindcheck-probe-{}", probe.as_str())
}

/// Runs `selected` against the dockerd behind a trial's io-directory socket, pinned first
/// (see [`crate::launch::socket::DaemonSocket`]): a socket the sandbox replaced after readiness
/// skips every probe with the reason, and is never followed.
pub async fn run_pinned(
    selected: &[Probe],
    socket: &crate::launch::socket::DaemonSocket,
    image: Option<&Path>,
) -> Vec<ProbeResult> {
    match socket.pin() {
        Ok(Some(pinned)) => run(selected, &pinned.path(), image).await,
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
pub async fn run(selected: &[Probe], socket: &Path, image: Option<&Path>) -> Vec<ProbeResult> {
    let selected: Vec<Probe> = Probe::ALL
        .into_iter()
        .filter(|p| selected.contains(p))
        .collect();
    if selected.is_empty() {
        return Vec::new();
    }
    let docker = match crate::observe::connect(socket, PROBE_TIMEOUT).await {
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
    let load = with_retry(Probe::ImageLoad, &docker, || image_load(&docker, image)).await;
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
    // Once the image is there the other probes do not depend on one another (each has its
    // own container name, `build` its own tag): they run at once against the same dockerd,
    // and their results keep `Probe::ALL`'s order.
    let rest = selected.into_iter().filter(|p| *p != Probe::ImageLoad);
    let runs = rest.map(|probe| {
        let docker = &docker;
        let skip_reason = &skip_reason;
        async move {
            if !image_ok {
                return ProbeResult::skipped(probe, skip_reason);
            }
            match probe {
                Probe::ImageLoad => unreachable!("run first, above"),
                Probe::RunNone => {
                    with_retry(probe, docker, || run_marker(docker, probe, "none")).await
                }
                Probe::RunHost => {
                    with_retry(probe, docker, || run_marker(docker, probe, "host")).await
                }
                Probe::RunDefault => {
                    with_retry(probe, docker, || run_marker(docker, probe, "default")).await
                }
                Probe::Build => with_retry(probe, docker, || build(docker)).await,
                Probe::Exec => with_retry(probe, docker, || exec(docker)).await,
                Probe::Limits => with_retry(probe, docker, || limits(docker)).await,
                Probe::RunPrivileged => with_retry(probe, docker, || run_privileged(docker)).await,
            }
        }
    });
    results.extend(futures_util::future::join_all(runs).await);
    results
}

/// Runs one probe under [`PROBE_TIMEOUT`], then removes its container whatever happened.
async fn timed(
    probe: Probe,
    docker: &Docker,
    work: impl Future<Output = Result<(), String>>,
) -> ProbeResult {
    let started = Instant::now();
    let outcome = tokio::time::timeout(PROBE_TIMEOUT, work).await;
    let ms = started.elapsed().as_millis() as u64;
    let _ = tokio::time::timeout(CLEANUP_TIMEOUT, remove(docker, &container(probe))).await;
    let (verdict, detail) = match outcome {
        Ok(Ok(())) => (ProbeVerdict::Ok, None),
        Ok(Err(e)) => (ProbeVerdict::Failed, Some(crate::observe::normalise(&e))),
        Err(_) => (
            ProbeVerdict::Failed,
            Some(format!(
                "dindcheck: probe {probe} did not finish within {} s",
                PROBE_TIMEOUT.as_secs()
            )),
        ),
    };
    ProbeResult {
        probe,
        verdict,
        ms,
        detail,
        diagnosis: None,
        retried: None,
    }
}

/// Runs a probe under [`timed`], and once more if it failed: nested containers under gVisor
/// do not always behave the same from run to run (an exec probe's detached container once
/// failed to start, "cannot start a stopped process", in about 350 executions), and one
/// stray failure must not decide a probe's verdict. The first error is kept in `retried`.
/// A probe that ran out of time is not retried: it would only double a hang.
async fn with_retry<F, Fut>(probe: Probe, docker: &Docker, work: F) -> ProbeResult
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let first = timed(probe, docker, work()).await;
    let timed_out = first
        .detail
        .as_deref()
        .is_some_and(|d| d.ends_with(&format!("within {} s", PROBE_TIMEOUT.as_secs())));
    if first.verdict != ProbeVerdict::Failed || timed_out {
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

async fn image_load(docker: &Docker, tarball: &Path) -> Result<(), String> {
    let file = tokio::fs::File::open(tarball)
        .await
        .map_err(|e| format!("cannot open {}: {e}", tarball.display()))?;
    let body = bollard::body_try_stream(tokio_util::io::ReaderStream::new(file));
    let (repo, tag) = IMAGE.split_once(':').unwrap_or((IMAGE, "latest"));
    let opts = CreateImageOptionsBuilder::default()
        .from_src("-")
        .repo(repo)
        .tag(tag)
        .build();
    let mut stream = docker.create_image(Some(opts), Some(body), None);
    while let Some(item) = stream.next().await {
        let info = item.map_err(api_error)?;
        if let Some(msg) = info.error_detail.and_then(|d| d.message) {
            return Err(msg);
        }
    }
    docker
        .inspect_image(IMAGE)
        .await
        .map_err(|e| format!("the import reported no error, but: {}", api_error(e)))?;
    Ok(())
}

/// Creates, starts and waits for `name`, returning its exit code and its output.
async fn run_to_end(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
) -> Result<(i64, String), String> {
    remove(docker, name).await;
    let opts = CreateContainerOptionsBuilder::default().name(name).build();
    docker
        .create_container(Some(opts), body)
        .await
        .map_err(api_error)?;
    docker
        .start_container(name, None)
        .await
        .map_err(api_error)?;
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

async fn run_marker(docker: &Docker, probe: Probe, network: &str) -> Result<(), String> {
    let host_config = HostConfig {
        network_mode: Some(network.into()),
        ..Default::default()
    };
    marker_in(docker, probe, host_config).await
}

/// A privileged nested container (`--privileged`) on the daemon's default network.
async fn run_privileged(docker: &Docker) -> Result<(), String> {
    let host_config = HostConfig {
        privileged: Some(true),
        ..Default::default()
    };
    marker_in(docker, Probe::RunPrivileged, host_config).await
}

/// Runs the image printing [`MARKER`] with `host_config`; fails unless it printed it and
/// exited 0.
async fn marker_in(docker: &Docker, probe: Probe, host_config: HostConfig) -> Result<(), String> {
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: command(&["/bin/busybox", "echo", MARKER]),
        host_config: Some(host_config),
        ..Default::default()
    };
    let (code, output) = run_to_end(docker, &container(probe), body).await?;
    if code != 0 || !output.contains(MARKER) {
        return Err(format!(
            "the container exited {code} without printing the marker; output: {}",
            excerpt(&output)
        ));
    }
    Ok(())
}

/// A build context: a Dockerfile `FROM` the probe image with one `RUN` step.
fn build_context() -> Result<Vec<u8>, String> {
    let dockerfile = format!("FROM {IMAGE}\nRUN /bin/busybox echo {MARKER} > /built\n");
    let mut tar = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    tar.append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .and_then(|_| tar.into_inner())
        .map_err(|e| format!("cannot make the build context: {e}"))
}

async fn build(docker: &Docker) -> Result<(), String> {
    let context = build_context()?;
    let opts = BuildImageOptionsBuilder::default()
        .dockerfile("Dockerfile")
        .t(BUILT_IMAGE)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(opts, None, Some(bollard::body_full(context.into())));
    let mut log = String::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(api_error)?;
        if let Some(msg) = info.error_detail.and_then(|d| d.message) {
            return Err(msg);
        }
        if let Some(s) = info.stream {
            log.push_str(&s);
        }
    }
    docker.inspect_image(BUILT_IMAGE).await.map_err(|e| {
        format!(
            "the build reported no error, but: {}; build output: {}",
            api_error(e),
            excerpt(&log)
        )
    })?;
    Ok(())
}

async fn exec(docker: &Docker) -> Result<(), String> {
    let name = container(Probe::Exec);
    remove(docker, &name).await;
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: command(&["/bin/busybox", "sleep", "600"]),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let opts = CreateContainerOptionsBuilder::default().name(&name).build();
    docker
        .create_container(Some(opts), body)
        .await
        .map_err(api_error)?;
    docker
        .start_container(&name, None)
        .await
        .map_err(api_error)?;
    let config = ExecConfig {
        attach_stdout: Some(true),
        attach_stderr: Some(true),
        cmd: command(&["/bin/busybox", "echo", MARKER]),
        ..Default::default()
    };
    let created = docker.create_exec(&name, config).await.map_err(api_error)?;
    let mut output = String::new();
    match docker
        .start_exec(&created.id, Some(StartExecOptions::default()))
        .await
        .map_err(api_error)?
    {
        StartExecResults::Attached {
            output: mut out, ..
        } => {
            while let Some(chunk) = out.next().await {
                output.push_str(&chunk.map_err(api_error)?.to_string());
            }
        }
        StartExecResults::Detached => return Err("the exec detached".into()),
    }
    let inspect = docker.inspect_exec(&created.id).await.map_err(api_error)?;
    let code = inspect.exit_code.unwrap_or(-1);
    if code != 0 || !output.contains(MARKER) {
        return Err(format!(
            "the exec exited {code} without printing the marker; output: {}",
            excerpt(&output)
        ));
    }
    Ok(())
}

async fn limits(docker: &Docker) -> Result<(), String> {
    // cgroup v1 shows the limit in the memory controller, v2 in memory.max.
    let script = format!(
        "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; echo {MARKER}"
    );
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: command(&["/bin/busybox", "sh", "-c", &script]),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            memory: Some(MEMORY_LIMIT),
            nano_cpus: Some(NANO_CPUS),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (code, output) = run_to_end(docker, &container(Probe::Limits), body).await?;
    if code != 0 || !output.contains(MARKER) {
        return Err(format!(
            "the container exited {code} without printing the marker; output: {}",
            excerpt(&output)
        ));
    }
    let seen = output.lines().next().unwrap_or("").trim();
    if seen != MEMORY_LIMIT.to_string() {
        return Err(format!(
            "the container ran, but its memory limit is not in force: the cgroup says `{seen}`, \
             not {MEMORY_LIMIT}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_build_context_holds_the_dockerfile() {
        let tar = build_context().unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["Dockerfile"]);
    }

    #[test]
    fn probe_names_round_trip() {
        for p in Probe::ALL {
            let v: Probe = toml::Value::String(p.as_str().into()).try_into().unwrap();
            assert_eq!(v, p);
        }
    }
}
