//! The probes that stay inside the sandbox: import the image, run it on each kind of network,
//! build from it, exec into it, and run it under limits.

use std::path::Path;

use bollard::Docker;
use bollard::exec::{StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, ExecConfig, HostConfig};
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;

use super::{
    IMAGE, MARKER, Probe, api_error, command, container, excerpt, run_to_end, start_detached,
};

/// The image `build` makes.
const BUILT_IMAGE: &str = "dindcheck/built:probe";
/// The `limits` probe's memory limit (64 MiB) and CPU share (half a CPU).
const MEMORY_LIMIT: i64 = 64 * 1024 * 1024;
const NANO_CPUS: i64 = 500_000_000;

pub async fn image_load(docker: &Docker, tarball: &Path) -> Result<(), String> {
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

pub async fn run_marker(docker: &Docker, probe: Probe, network: &str) -> Result<(), String> {
    let host_config = HostConfig {
        network_mode: Some(network.into()),
        ..Default::default()
    };
    marker_in(docker, probe, host_config).await
}

/// A privileged nested container (`--privileged`) on the daemon's default network.
pub async fn run_privileged(docker: &Docker) -> Result<(), String> {
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

pub async fn build(docker: &Docker) -> Result<(), String> {
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

pub async fn exec(docker: &Docker) -> Result<(), String> {
    let name = container(Probe::Exec);
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: command(&["/bin/busybox", "sleep", "600"]),
        host_config: Some(HostConfig {
            network_mode: Some("none".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    start_detached(docker, &name, body).await?;
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

pub async fn limits(docker: &Docker) -> Result<(), String> {
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
}
