//! The network probes: what users ask of networking in Docker inside gVisor (docs/networking.md,
//! "Network probes"). Each reaches only the trial's own addresses: the harness's endpoint at
//! the uplink's gateway ([`super::endpoint`]), the sandbox's own address from the uplink
//! namespace, or another nested container.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, NetworkCreateRequest, PortBinding};

use super::endpoint::{self, BULK_BYTES, Endpoint, STALL_BYTES, STALL_WINDOW};
use super::{
    IMAGE, MARKER, Probe, api_error, command, container, excerpt, finish, run_to_end,
    start_detached,
};
use crate::trial::launch::netns;

/// The port a nested server listens on inside its container.
const CONTAINER_PORT: u16 = 8080;
/// The sandbox's port the `publish` probe maps to [`CONTAINER_PORT`].
pub const PUBLISHED_PORT: u16 = 8081;
/// The user-defined network of the `dns` probe, and the name its client resolves.
pub const DNS_NETWORK: &str = "dindcheck-probe-net";
pub const DNS_SERVER: &str = "dindcheck-probe-dns-server";
/// How long a nested `wget` waits for the network (its `-T`).
const FETCH_TIMEOUT_SECS: u32 = 10;
/// The bound on the bulk download, in seconds: 16 MiB in 20 s is 0.8 MiB/s, a tenth of the
/// slowest working path measured (docs/networking.md), and a stalled one (a few KB/s) never
/// gets there.
pub const BULK_TIMEOUT_SECS: u32 = 20;
/// How a bulk failure begins: a download that did not complete within its bound.
pub const STALLED: &str = "the download of";
/// How long the harness keeps trying to reach a published port while the nested server
/// starts, one attempt a second.
const PUBLISH_ATTEMPTS: u32 = 15;
/// How often the `dns` client tries while the name does not resolve (`bad address`), and
/// while the server does not answer yet (it may still be starting). The client starts after
/// the server's start has returned, and no name that failed once has resolved later: in the
/// run of 04:12 UTC each of the 19 `dns` failures on `bad address` had it five times in a row
/// (docs/networking.md, "Failures seen at the endpoint"); the second try is the margin.
const DNS_TRIES_UNRESOLVED: u32 = 2;
const DNS_TRIES: u32 = 5;

/// A bulk download's figures: bytes delivered and the endpoint's time for them.
#[derive(
    Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
pub struct Transfer {
    pub bytes: u64,
    /// Milliseconds from the request reaching the endpoint to the client's close.
    pub ms: u64,
}

impl Transfer {
    /// MiB per second.
    pub fn mib_per_s(&self) -> f64 {
        self.bytes as f64 / (1024.0 * 1024.0) / (self.ms.max(1) as f64 / 1000.0)
    }
}

/// A shell script that starts busybox's httpd in the foreground, serving the marker.
fn server_script() -> String {
    format!(
        "mkdir -p /www && echo {MARKER} > /www/index.html && exec /bin/busybox httpd -f -p {CONTAINER_PORT} -h /www"
    )
}

/// A shell command that sends `GET path` to `host`:`port` and prints the whole response,
/// within `seconds` (a connection not made within [`FETCH_TIMEOUT_SECS`] ends it first, with
/// nc's own `timed out`). busybox's `nc`, not its `wget`: the image's static `wget` crashes on
/// its first lookup (module docs of [`super::endpoint`]).
fn fetch(host: &str, port: u16, path: &str, seconds: u32) -> String {
    format!(
        "printf 'GET {path} HTTP/1.0\\r\\n\\r\\n' | /bin/busybox timeout {seconds} /bin/busybox nc -w {FETCH_TIMEOUT_SECS} {host} {port}"
    )
}

fn gateway_fetch(path: &str, seconds: u32) -> String {
    fetch(netns::GATEWAY_ADDRESS, endpoint::PORT, path, seconds)
}

/// `command`'s output and its complaints as one stream, in the order they were written:
/// Docker keeps a container's stdout and stderr apart, and the order in which its logs give
/// them back varies from run to run (a bulk failure's count came before nc's `timed out`
/// in one run, after it in another), as may whether a last stderr line is there at all.
fn one_stream(command: &str) -> String {
    format!("{{ {command}; }} 2>&1")
}

/// A container on `network` (`default` or `host`) fetches the endpoint's marker.
pub async fn egress(
    docker: &Docker,
    endpoint: &Endpoint,
    probe: Probe,
    network: &str,
) -> Result<(), String> {
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: command(&[
            "/bin/busybox",
            "sh",
            "-c",
            &one_stream(&gateway_fetch(
                endpoint::MARKER_PATH,
                FETCH_TIMEOUT_SECS + 5,
            )),
        ]),
        host_config: Some(HostConfig {
            network_mode: Some(network.into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let url = Endpoint::url(endpoint::MARKER_PATH);
    let (code, output) = match run_watched(docker, &container(probe), body, endpoint).await? {
        Watched::Ended(code, output) => (code, output),
        Watched::Untranslated(source) => {
            return Err(format!(
                "the container could not fetch {url}: {}",
                untranslated(source)
            ));
        }
    };
    if code != 0 || !output.contains(MARKER) {
        return Err(format!(
            "the container could not fetch {url} (exit {code}); output: {}",
            excerpt(&output)
        ));
    }
    Ok(())
}

/// How a container that fetches from the endpoint ended.
enum Watched {
    /// By itself: its exit code and output.
    Ended(i64, String),
    /// Its connection reached the endpoint from this address of the nested bridge, which
    /// nothing outside the sandbox routes back to: it can only time out, and was not waited
    /// for (the probe's cleanup removes it).
    Untranslated(Ipv4Addr),
}

/// Runs `name` to its end, unless its connection reaches the endpoint from the container's
/// own address on a nested network first. A connection that left the sandbox untranslated
/// is answered to an address nothing outside routes back to, so it can only time out; the
/// endpoint sees its SYN within milliseconds (docs/networking.md, "Failures seen at the
/// endpoint"). A container with no address of its own (`--network=host`, or none) is waited
/// for as it is.
async fn run_watched(
    docker: &Docker,
    name: &str,
    body: ContainerCreateBody,
    endpoint: &Endpoint,
) -> Result<Watched, String> {
    let started = Instant::now();
    start_detached(docker, name, body).await?;
    let ended = finish(docker, name);
    let Some(source) = own_address(docker, name).await else {
        let (code, output) = ended.await?;
        return Ok(Watched::Ended(code, output));
    };
    tokio::select! {
        r = ended => {
            let (code, output) = r?;
            Ok(Watched::Ended(code, output))
        }
        () = endpoint.syn_from(source, started) => Ok(Watched::Untranslated(source)),
    }
}

/// The container's IPv4 address on a network of the nested dockerd, if it has one.
async fn own_address(docker: &Docker, name: &str) -> Option<Ipv4Addr> {
    let inspect = docker.inspect_container(name, None).await.ok()?;
    inspect
        .network_settings?
        .networks?
        .into_values()
        .find_map(|e| e.ip_address?.parse().ok())
}

/// Why a connection that reached the endpoint from `source` gets no answer.
fn untranslated(source: Ipv4Addr) -> String {
    format!(
        "its connection reached the endpoint from {source}, its own address on the nested \
         bridge, untranslated: the endpoint's answer has no route back to it"
    )
}

/// A container on the default network downloads [`BULK_BYTES`] from the endpoint within
/// [`BULK_TIMEOUT_SECS`]; the endpoint's timing of the delivery is the figure.
pub async fn bulk(docker: &Docker, endpoint: &Endpoint) -> Result<Transfer, String> {
    // The count first, then nc's complaints (kept aside while it runs, or wc would count
    // them), all on stdout.
    let script = format!(
        "{} 2>/tmp/nc.err | /bin/busybox wc -c; /bin/busybox cat /tmp/nc.err",
        gateway_fetch(endpoint::BULK_PATH, BULK_TIMEOUT_SECS)
    );
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: command(&["/bin/busybox", "sh", "-c", &script]),
        host_config: Some(HostConfig {
            network_mode: Some("default".into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (code, output) = match run_watched(docker, &container(Probe::Bulk), body, endpoint).await? {
        Watched::Ended(code, output) => (code, output),
        Watched::Untranslated(source) => {
            return Err(format!(
                "{STALLED} {BULK_BYTES} bytes did not begin: {}",
                untranslated(source)
            ));
        }
    };
    // `wc -c` prints the count (head and body) on its own line; nc's complaints follow.
    let received: Option<u64> = output.lines().find_map(|l| l.trim().parse().ok());
    let delivery = endpoint.deliveries().last().copied();
    match (received, delivery) {
        (Some(n), Some(d)) if n == endpoint::bulk_response_len() && d.complete => Ok(Transfer {
            bytes: BULK_BYTES,
            ms: d.ms,
        }),
        (received, Some(d)) if d.stalled => Err(format!(
            "{STALLED} {BULK_BYTES} bytes stalled: the container received {} bytes (exit \
             {code}), the endpoint wrote {} bytes in {:.1} s, less than {} KiB in its last {} s, \
             and reset the connection; output: {}",
            received.map_or("no count of".to_string(), |n| n.to_string()),
            d.bytes,
            d.ms as f64 / 1000.0,
            STALL_BYTES / 1024,
            STALL_WINDOW.as_secs(),
            excerpt(&output)
        )),
        _ => {
            let sent = match delivery {
                Some(d) => format!(
                    "the endpoint wrote {} bytes in {:.1} s",
                    d.bytes,
                    d.ms as f64 / 1000.0
                ),
                None => "no request reached the endpoint".to_string(),
            };
            Err(format!(
                "{STALLED} {BULK_BYTES} bytes did not complete within {BULK_TIMEOUT_SECS} s: \
                 the container received {} bytes (exit {code}), {sent}; output: {}",
                received.map_or("no count of".to_string(), |n| n.to_string()),
                excerpt(&output)
            ))
        }
    }
}

/// A container publishes [`CONTAINER_PORT`] as the sandbox's [`PUBLISHED_PORT`]; the harness
/// connects to it from the uplink namespace and must get the marker.
pub async fn publish(docker: &Docker, uplink: &str) -> Result<(), String> {
    let name = container(Probe::Publish);
    let port = format!("{CONTAINER_PORT}/tcp");
    let body = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: command(&["/bin/busybox", "sh", "-c", &server_script()]),
        exposed_ports: Some(vec![port.clone()]),
        host_config: Some(HostConfig {
            port_bindings: Some(
                [(
                    port,
                    Some(vec![PortBinding {
                        host_ip: None,
                        host_port: Some(PUBLISHED_PORT.to_string()),
                    }]),
                )]
                .into(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    start_detached(docker, &name, body).await?;
    // A container with no address has nothing its published port could lead to (dockerd's
    // --bridge=none): one attempt shows what the port does, and more would only wait.
    let attempts = match own_address(docker, &name).await {
        Some(_) => PUBLISH_ATTEMPTS,
        None => 1,
    };
    let uplink = uplink.to_string();
    let answer = tokio::task::spawn_blocking(move || fetch_from_uplink(&uplink, attempts))
        .await
        .map_err(|e| format!("the harness's fetch did not finish: {e}"))?;
    match answer {
        Ok(text) if text.contains(MARKER) => Ok(()),
        Ok(text) => Err(format!(
            "the published port {} answered without the marker: {}",
            published_address(),
            excerpt(&text)
        )),
        Err(e) => Err(format!("{e}{}", networks_note(docker, &name).await)),
    }
}

/// The networks a container is attached to, as a note for a failed `publish`: on `none` alone
/// (dockerd's --bridge=none makes the default network that) its published ports are bound
/// to nothing.
async fn networks_note(docker: &Docker, name: &str) -> String {
    let Ok(inspect) = docker.inspect_container(name, None).await else {
        return String::new();
    };
    let mode = inspect
        .host_config
        .and_then(|h| h.network_mode)
        .unwrap_or_default();
    // Each network with the container's address on it: none when the network has no
    // bridge behind it (dockerd's --bridge=none still names `bridge` as the default).
    let mut networks: Vec<String> = inspect
        .network_settings
        .and_then(|n| n.networks)
        .map(|n| {
            n.into_iter()
                .map(|(name, e)| match e.ip_address.filter(|a| !a.is_empty()) {
                    Some(address) => format!("{name} ({address})"),
                    None => format!("{name} (no address)"),
                })
                .collect()
        })
        .unwrap_or_default();
    networks.sort();
    format!(
        "; the container's network mode: {mode}, its networks: {}",
        if networks.is_empty() {
            "none".to_string()
        } else {
            networks.join(", ")
        }
    )
}

fn published_address() -> SocketAddr {
    SocketAddr::new(
        netns::SANDBOX_ADDRESS
            .parse()
            .expect("the sandbox's address is an IP address"),
        PUBLISHED_PORT,
    )
}

/// `GET /` at the published port, from the uplink namespace: one attempt a second while the
/// connection is refused or times out (the nested server may still be starting), at most
/// `attempts`. Blocks.
fn fetch_from_uplink(uplink: &str, attempts: u32) -> Result<String, String> {
    let address = published_address();
    let mut last = String::new();
    let started = Instant::now();
    for attempt in 1..=attempts {
        let tried = Instant::now();
        let stream = netns::in_namespace(uplink, || {
            TcpStream::connect_timeout(&address, Duration::from_secs(1))
        });
        match stream {
            Ok(mut s) => {
                let io = (|| {
                    s.set_read_timeout(Some(Duration::from_secs(FETCH_TIMEOUT_SECS.into())))?;
                    s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
                    let mut text = String::new();
                    s.take(64 * 1024).read_to_string(&mut text)?;
                    Ok::<String, std::io::Error>(text)
                })();
                match io {
                    // An empty answer is the proxy's: it accepted, but nothing behind it did.
                    Ok(text) if !text.is_empty() => return Ok(text),
                    Ok(_) => last = "the connection closed without an answer".to_string(),
                    Err(e) => last = format!("reading the answer: {e}"),
                }
            }
            Err(e) => last = e.to_string(),
        }
        if attempt < attempts {
            std::thread::sleep(Duration::from_secs(1).saturating_sub(tried.elapsed()));
        }
    }
    let tries = match attempts {
        1 => "one attempt: the container has no address".to_string(),
        n => format!("{n} attempts in {} s", started.elapsed().as_secs()),
    };
    Err(format!(
        "the published port {address} is not reachable from outside the sandbox: {last} \
         ({tries})"
    ))
}

/// A server and a client on [`DNS_NETWORK`]; the client fetches from the server by name.
pub async fn dns(docker: &Docker) -> Result<(), String> {
    remove_dns(docker).await;
    docker
        .create_network(NetworkCreateRequest {
            name: DNS_NETWORK.into(),
            driver: Some("bridge".into()),
            ..Default::default()
        })
        .await
        .map_err(api_error)?;
    let on_network = || {
        Some(HostConfig {
            network_mode: Some(DNS_NETWORK.into()),
            ..Default::default()
        })
    };
    let server = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: command(&["/bin/busybox", "sh", "-c", &server_script()]),
        host_config: on_network(),
        ..Default::default()
    };
    start_detached(docker, DNS_SERVER, server).await?;
    // The client tries for a few seconds: the server's httpd may not listen yet (a name
    // that does not resolve is tried less: [`DNS_TRIES_UNRESOLVED`]). Its last attempt's
    // complaint (`bad address`, `connection refused`) is the output, on stdout (see
    // [`one_stream`]).
    let once = fetch(DNS_SERVER, CONTAINER_PORT, "/", FETCH_TIMEOUT_SECS + 5);
    let script = format!(
        "i=0; until {once} 2>/tmp/nc.err | /bin/busybox grep {MARKER}; do i=$((i+1)); \
         if [ $i -ge {DNS_TRIES} ] || {{ [ $i -ge {DNS_TRIES_UNRESOLVED} ] && /bin/busybox grep -q 'bad address' /tmp/nc.err; }}; \
         then /bin/busybox cat /tmp/nc.err; exit 1; fi; /bin/busybox sleep 1; done"
    );
    let client = ContainerCreateBody {
        image: Some(IMAGE.into()),
        cmd: command(&["/bin/busybox", "sh", "-c", &script]),
        host_config: on_network(),
        ..Default::default()
    };
    let (code, output) = run_to_end(docker, &container(Probe::Dns), client).await?;
    if code != 0 || !output.contains(MARKER) {
        return Err(format!(
            "the container could not reach {DNS_SERVER} by name on a user-defined network \
             (exit {code}); output: {}",
            excerpt(&output)
        ));
    }
    Ok(())
}

/// Removes the `dns` probe's server and network (its client is removed as every probe's
/// container is).
pub async fn remove_dns(docker: &Docker) {
    super::remove(docker, DNS_SERVER).await;
    let _ = docker.remove_network(DNS_NETWORK).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_transfer_says_its_rate() {
        let t = Transfer {
            bytes: 16 * 1024 * 1024,
            ms: 2000,
        };
        assert!((t.mib_per_s() - 8.0).abs() < 1e-9);
    }

    #[test]
    fn the_published_address_is_the_sandboxs() {
        assert_eq!(published_address().to_string(), "192.0.2.2:8081");
    }
}
