//! Watching a launched dockerd: readiness through its socket, and the lines of its output
//! that explain a failure.

use std::path::Path;
use std::sync::LazyLock;
use std::time::Duration;

use bollard::{ClientVersion, Docker};
use regex::Regex;

use serde::{Deserialize, Serialize};

use crate::trial::launch::socket::DaemonSocket;

/// The marker the entry script prints when the case's setup script fails.
pub const SETUP_FAILED_MARKER: &str = "dindcheck: setup failed";
/// The line the entry script prints before the case's setup script.
pub const SETUP_STARTED_MARKER: &str = "dindcheck: setup";

/// What dockerd said about itself once it answered `info`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DaemonInfo {
    pub server_version: Option<String>,
    pub api_version: Option<String>,
    pub storage_driver: Option<String>,
    pub cgroup_driver: Option<String>,
    pub cgroup_version: Option<String>,
    /// The kernel as the sandbox reports it (gVisor's, not the host's).
    pub kernel_version: Option<String>,
}

/// How long one readiness attempt may take before it counts as "no answer yet".
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why the harness could not talk to a nested dockerd (yet).
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("socket path is not UTF-8")]
    NotUtf8,
    #[error("no answer to `{0}`")]
    NoAnswer(&'static str),
    /// dockerd refused the client, in its own words.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Api(#[from] bollard::errors::Error),
}

/// Connects to the dockerd at `socket` and asks for `info`.
pub async fn daemon_info(socket: &Path) -> Result<DaemonInfo, ConnectError> {
    let (docker, version) = connect_with_version(socket, ATTEMPT_TIMEOUT).await?;
    let info = tokio::time::timeout(ATTEMPT_TIMEOUT, docker.info())
        .await
        .map_err(|_| ConnectError::NoAnswer("info"))??;
    Ok(DaemonInfo {
        server_version: info.server_version.or(version.version),
        api_version: version.api_version,
        storage_driver: info.driver,
        cgroup_driver: info.cgroup_driver.map(|d| d.to_string()),
        cgroup_version: info.cgroup_version.map(|v| v.to_string()),
        kernel_version: info.kernel_version,
    })
}

/// A client for the dockerd at `socket`, speaking an API version it accepts (see
/// [`connect_with_version`]), whose requests may take up to `request_timeout`.
pub async fn connect(socket: &Path, request_timeout: Duration) -> Result<Docker, ConnectError> {
    connect_with_version(socket, request_timeout)
        .await
        .map(|(d, _)| d)
}

/// Connects to the dockerd at `socket`, negotiating the API version: dockerd 20.10 speaks
/// 1.41 and refuses newer clients, newer dockerd refuse much older ones, so start from
/// bollard's version and step down to what the server says it supports.
async fn connect_with_version(
    socket: &Path,
    request_timeout: Duration,
) -> Result<(Docker, bollard::models::SystemVersion), ConnectError> {
    let path = socket.to_str().ok_or(ConnectError::NotUtf8)?;
    let connect = |v: &ClientVersion| Docker::connect_with_unix(path, request_timeout.as_secs(), v);
    let mut docker = connect(bollard::API_DEFAULT_VERSION)?;
    let version = match tokio::time::timeout(ATTEMPT_TIMEOUT, docker.version()).await {
        Err(_) => return Err(ConnectError::NoAnswer("version")),
        Ok(Ok(v)) => v,
        Ok(Err(bollard::errors::Error::DockerResponseServerError { message, .. })) => {
            let max = max_api_version(&message).ok_or(ConnectError::Refused(message))?;
            docker = connect(&max)?;
            docker.version().await?
        }
        Ok(Err(e)) => return Err(e.into()),
    };
    // Speak the older of the two versions: the server's is in the answer just read, so no
    // second request is needed to negotiate it.
    let server = version.api_version.as_deref().and_then(parse_api_version);
    if let Some(server) = server
        && server < *bollard::API_DEFAULT_VERSION
    {
        docker = connect(&server)?;
    }
    Ok((docker, version))
}

/// How a readiness wait ended.
pub enum Readiness<T> {
    /// dockerd answered `info`, `ms` after `started`.
    Ready { ms: u64, info: DaemonInfo },
    /// The container (or its sandbox) ended first; `T` is what the exit future returned.
    Exited(T),
    /// Neither happened before the deadline.
    Timeout,
    /// What the sandbox left at the socket's place is not a socket the harness may use
    /// (see [`DaemonSocket`]); the reason.
    Refused(String),
}

/// Waits until dockerd serves its API, the container ends (`exited` resolves) or the
/// deadline passes, whichever comes first. Shared by both launchers, so that "ready" means
/// the same thing whatever started the sandbox.
///
/// Nothing is polled at a fixed interval (docs/host-facts.md, "Readiness, event-driven"):
/// the wait sleeps on inotify until dockerd's socket appears in the io directory, then holds
/// one request (`GET /_ping`) on it. dockerd creates its listening socket early and accepts
/// on it only once it serves ("API listen on" in its log), so the request is answered the
/// moment it does: that answer is the ready instant. Only when an attempt fails (the
/// socket was refused, or dockerd answered `info` with an error) does the wait back off,
/// from 5 ms doubling to 100 ms.
pub async fn wait_ready<T>(
    socket: &DaemonSocket,
    started: std::time::Instant,
    deadline: tokio::time::Instant,
    exited: impl std::future::Future<Output = T>,
) -> Readiness<T> {
    tokio::pin!(exited);
    let watch = socket.watch().ok();
    let mut backoff = MIN_BACKOFF;
    loop {
        // Err(Some(reason)): the socket is refused; Err(None): not serving yet.
        let attempt = async {
            let pinned = match socket.pin() {
                Ok(Some(pinned)) => pinned,
                Ok(None) => {
                    match &watch {
                        Some(w) if w.changed().await.is_ok() => {}
                        _ => tokio::time::sleep(backoff).await,
                    }
                    return Err(None);
                }
                Err(refused) => return Err(Some(refused)),
            };
            let path = pinned.path();
            let held = deadline.saturating_duration_since(tokio::time::Instant::now());
            if served(&path, held).await.is_err() {
                tokio::time::sleep(backoff).await;
                return Err(None);
            }
            let ms = started.elapsed().as_millis() as u64;
            match daemon_info(&path).await {
                Ok(info) => Ok((ms, info)),
                Err(_) => {
                    tokio::time::sleep(backoff).await;
                    Err(None)
                }
            }
        };
        tokio::select! {
            t = &mut exited => return Readiness::Exited(t),
            _ = tokio::time::sleep_until(deadline) => return Readiness::Timeout,
            r = attempt => match r {
                Ok((ms, info)) => return Readiness::Ready { ms, info },
                Err(Some(reason)) => return Readiness::Refused(reason),
                Err(None) => backoff = (backoff * 2).min(MAX_BACKOFF),
            }
        }
    }
}

/// The first and the longest pause after a failed readiness attempt.
const MIN_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(100);

/// Sends `GET /_ping` to the socket at `path` and waits up to `hold` for any HTTP answer:
/// dockerd answers once its API serves, whatever the API version in the request (a
/// too-new client gets an error response, which is an answer all the same).
async fn served(path: &Path, hold: Duration) -> Result<(), ConnectError> {
    let path = path.to_str().ok_or(ConnectError::NotUtf8)?;
    let docker =
        Docker::connect_with_unix(path, hold.as_secs().max(1), bollard::API_DEFAULT_VERSION)?;
    match docker.ping().await {
        Ok(_) | Err(bollard::errors::Error::DockerResponseServerError { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// When dockerd began to serve its API, by its own log ("API listen on", which moby logs
/// as each listener starts serving), in milliseconds after `launched_at`. dockerd stamps its
/// lines with `time="<RFC 3339, nanoseconds>"`; gVisor gives the sandbox the host's clock.
/// The first such line counts (dockerd logs one per listener).
pub fn served_after(output: &str, launched_at: std::time::SystemTime) -> Option<u64> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r#"time="([^"]+)".*msg="API listen on "#).expect("valid regex")
    });
    let stamp = output.lines().find_map(|l| RE.captures(l))?;
    let at = chrono::DateTime::parse_from_rfc3339(&stamp[1]).ok()?;
    let launched: chrono::DateTime<chrono::Utc> = launched_at.into();
    let ms = (at.with_timezone(&chrono::Utc) - launched).num_milliseconds();
    u64::try_from(ms).ok()
}

/// `1.41` as an API version.
fn parse_api_version(text: &str) -> Option<ClientVersion> {
    let (major, minor) = text.split_once('.')?;
    Some(ClientVersion {
        major_version: major.parse().ok()?,
        minor_version: minor.parse().ok()?,
    })
}

/// moby answers a too-new client with "client version 1.53 is too new. Maximum supported API
/// version is 1.41".
fn max_api_version(message: &str) -> Option<ClientVersion> {
    static RE: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"Maximum supported API version is (\d+)\.(\d+)").unwrap());
    let c = RE.captures(message)?;
    Some(ClientVersion {
        major_version: c[1].parse().ok()?,
        minor_version: c[2].parse().ok()?,
    })
}

/// At most this many distinct error lines are kept per trial: a sandbox can print any
/// number of them, and the report needs the first few and the decisive one.
pub const MAX_ERROR_LINES: usize = 200;

/// The error lines of dockerd's (and the entry script's) output, normalised, in order,
/// without repeats, at most [`MAX_ERROR_LINES`] (in linear time: a set remembers what was
/// seen; when more are printed, the last one is kept in the last place, since the decisive
/// line comes at the end).
pub fn error_lines(output: &str) -> Vec<String> {
    distinct_capped(output.lines().filter(|l| is_error_line(l)).map(normalise))
}

/// Distinct items in order of first appearance, at most [`MAX_ERROR_LINES`]; past the cap,
/// the last distinct item takes the last place.
pub fn distinct_capped(items: impl Iterator<Item = String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut kept = Vec::new();
    let mut last_extra: Option<String> = None;
    for item in items {
        if !seen.insert(item.clone()) {
            continue;
        }
        if kept.len() < MAX_ERROR_LINES {
            kept.push(item);
        } else {
            last_extra = Some(item);
            // Forget lines past the cap: memory stays bounded whatever the output.
            if seen.len() > 4 * MAX_ERROR_LINES {
                seen.clear();
                seen.extend(kept.iter().cloned());
            }
        }
    }
    if let Some(last) = last_extra {
        if let Some(slot) = kept.last_mut() {
            *slot = last;
        }
    }
    kept
}

fn is_error_line(line: &str) -> bool {
    line.contains("level=error")
        || line.contains("level=fatal")
        || line.starts_with("failed to start daemon")
        || line.starts_with(SETUP_FAILED_MARKER)
}

/// The one line that best explains why dockerd did not become ready: the setup script's
/// failure (with the last thing it printed), dockerd's `failed to start daemon`, its last
/// fatal line, its last error line, or else the last line of output.
pub fn decisive_line(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().filter(|l| !l.trim().is_empty()).collect();
    if let Some(end) = lines
        .iter()
        .position(|l| l.starts_with(SETUP_FAILED_MARKER))
    {
        // The first thing the setup printed is the error; later lines are often advice
        // ("dmesg(1) may have more information…").
        let marker = normalise(lines[end]);
        let start = lines[..end]
            .iter()
            .rposition(|l| *l == SETUP_STARTED_MARKER)
            .map_or(0, |i| i + 1);
        return Some(match lines[start..end].first() {
            Some(first) => format!("{marker}: {}", normalise(first)),
            None => marker,
        });
    }
    let pick =
        |pred: &dyn Fn(&str) -> bool| lines.iter().rev().find(|l| pred(l)).map(|l| normalise(l));
    pick(&|l| l.starts_with("failed to start daemon"))
        .or_else(|| pick(&|l| l.contains("level=fatal")))
        .or_else(|| pick(&|l| l.contains("level=error")))
        .or_else(|| lines.last().map(|l| normalise(l)))
}

/// Removes what changes from run to run without meaning anything: timestamps, container and
/// layer ids, the trial's scratch paths, pids.
pub fn normalise(line: &str) -> String {
    static TIME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r#"time="[^"]*"\s*"#).unwrap());
    static ISO: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?").unwrap()
    });
    static HEX: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\b[0-9a-f]{12,}\b").unwrap());
    static SCRATCH: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"/[^\s:]*/runs/[0-9]+-[0-9]+").unwrap());
    static PID: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\bpid[= ]\d+").unwrap());
    static PROC: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"/proc/\d+/").unwrap());
    static SPACES: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\s+").unwrap());
    // Registries, mirrors and resolvers differ from host to host (and their names stay out
    // of the reports): an engine's failed pull reads the same everywhere.
    static URL_HOST: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r#"\b(https?://)[^/\s"']+"#).unwrap());
    static LOOKUP: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"\blookup \S+ on \S+:").unwrap());
    // Which of the outer engine's slots a trial's engine ran in depends on what else ran at
    // the same time: `<home>/engine/slot-<n>` reads the same from every slot.
    static ENGINE_SLOT: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"/[^\s:()]*/engine/slot-[0-9]+\b").unwrap());
    let s = TIME.replace_all(line, "");
    let s = URL_HOST.replace_all(&s, "${1}<host>");
    let s = LOOKUP.replace_all(&s, "lookup <host> on <resolver>:");
    let s = ISO.replace_all(&s, "<time>");
    let s = HEX.replace_all(&s, "<id>");
    let s = SCRATCH.replace_all(&s, "<scratch>");
    let s = ENGINE_SLOT.replace_all(&s, "<engine-slot>");
    let s = PID.replace_all(&s, "pid=<n>");
    let s = PROC.replace_all(&s, "/proc/<pid>/");
    SPACES.replace_all(s.trim(), " ").into_owned()
}

/// The lines of runsc's own debug logs that say why a sandbox did not start.
pub fn runsc_log_errors(logs: &Path) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(logs) else {
        return Vec::new();
    };
    let mut files: Vec<_> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    let texts: Vec<String> = files
        .iter()
        .filter_map(|f| std::fs::read_to_string(f).ok())
        .collect();
    // runsc's log lines start with a level letter: W for warnings, E/F for errors.
    let errors = texts
        .iter()
        .flat_map(|t| t.lines())
        .filter(|l| l.contains("FATAL ERROR") || l.starts_with('E') || l.starts_with('F'));
    distinct_capped(errors.map(|l| normalise(l.split_once("] ").map_or(l, |(_, m)| m))))
}

/// The last `n` lines of `output`, for the report.
pub fn tail(output: &str, n: usize) -> Vec<String> {
    let lines: Vec<&str> = output.lines().collect();
    lines[lines.len().saturating_sub(n)..]
        .iter()
        .map(|l| normalise(l))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEVICES: &str = concat!(
        "time=\"2026-11-29T16:21:14.974318822Z\" level=info msg=\"Starting up\"\n",
        "time=\"2026-11-29T16:21:15.1Z\" level=error msg=\"failed to mount overlay: invalid argument\" storage-driver=overlay2\n",
        "failed to start daemon: Devices cgroup isn't mounted\n",
    );

    #[test]
    fn failed_to_start_daemon_is_the_decisive_line() {
        assert_eq!(
            decisive_line(DEVICES).as_deref(),
            Some("failed to start daemon: Devices cgroup isn't mounted")
        );
    }

    #[test]
    fn many_distinct_error_lines_are_capped_in_linear_time() {
        // 150,000 distinct lines took 104 s when each was compared with every earlier one.
        let mut out = String::new();
        for i in 0..150_000 {
            out.push_str(&format!("level=error msg=\"distinct line number {i}\"\n"));
        }
        out.push_str("failed to start daemon: the decisive line\n");
        let lines = error_lines(&out);
        assert_eq!(lines.len(), MAX_ERROR_LINES);
        assert_eq!(lines[0], "level=error msg=\"distinct line number 0\"");
        assert_eq!(
            lines.last().map(String::as_str),
            Some("failed to start daemon: the decisive line")
        );
    }

    #[test]
    fn error_lines_drop_timestamps() {
        assert_eq!(
            error_lines(DEVICES),
            vec![
                "level=error msg=\"failed to mount overlay: invalid argument\" storage-driver=overlay2",
                "failed to start daemon: Devices cgroup isn't mounted",
            ]
        );
    }

    #[test]
    fn a_failed_setup_is_explained_by_its_last_line() {
        let out = "dindcheck: setup\nmount: /sys/fs/cgroup/devices: permission denied.\n       dmesg(1) may have more information after failed mount system call.\ndindcheck: setup failed (exit 32)\n";
        assert_eq!(
            decisive_line(out).as_deref(),
            Some(
                "dindcheck: setup failed (exit 32): mount: /sys/fs/cgroup/devices: permission denied."
            )
        );
    }

    #[test]
    fn ids_and_scratch_paths_are_normalised() {
        let line = "open /var/lib/dindcheck/runs/123-4/io/x: layer 0123456789abcdef0123 pid 77 /proc/9988/ns/net";
        assert_eq!(
            normalise(line),
            "open <scratch>/io/x: layer <id> pid=<n> /proc/<pid>/ns/net"
        );
    }

    #[test]
    fn registry_hosts_and_resolvers_are_normalised() {
        let line = r#"Get "https://registry.example:5000/v2/": dial tcp: lookup registry.example on 192.0.2.53:53: no such host"#;
        assert_eq!(
            normalise(line),
            r#"Get "https://<host>/v2/": dial tcp: lookup <host> on <resolver>: no such host"#
        );
    }

    #[test]
    fn dockerd_says_when_it_began_to_serve() {
        let launched = std::time::UNIX_EPOCH + Duration::from_secs(1_764_655_200);
        let output = "time=\"2025-12-02T06:00:00.100000000Z\" level=info msg=\"Daemon has completed initialization\"\n\
                      time=\"2025-12-02T06:00:00.734567890Z\" level=info msg=\"API listen on /run/dindcheck/docker.sock\"\n";
        assert_eq!(served_after(output, launched), Some(734));
        assert_eq!(
            served_after("level=info msg=\"API listen on x\"", launched),
            None
        );
        // A line stamped before the launch is not this launch's.
        let later = launched + Duration::from_secs(5);
        assert_eq!(served_after(output, later), None);
    }

    #[test]
    fn the_too_new_message_gives_the_server_version() {
        let v = max_api_version(
            "client version 1.53 is too new. Maximum supported API version is 1.41",
        )
        .unwrap();
        assert_eq!((v.major_version, v.minor_version), (1, 41));
    }

    #[test]
    fn an_engine_slot_reads_the_same_from_every_slot() {
        let line = "unable to retrieve OCI runtime error (open /var/lib/dindcheck/engine/slot-1/exec/x/log.json: no such file or directory): /var/lib/dindcheck/engine/slot-0/data/runtimes/dindcheck-20251215-d101cde7ff did not terminate";
        assert_eq!(
            normalise(line),
            "unable to retrieve OCI runtime error (open <engine-slot>/exec/x/log.json: no such file or directory): <engine-slot>/data/runtimes/dindcheck-20251215-d101cde7ff did not terminate"
        );
    }
}
