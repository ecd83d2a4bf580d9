//! The harness's own HTTP endpoint for the network probes: a listener in the trial's uplink
//! namespace, at the sandbox's gateway address (docs/networking.md, "Network probes").
//!
//! The probes' clients are busybox's `nc` with a request written by hand: busybox's `wget`
//! crashes (SIGSEGV) in the probe image, whose static binary has no NSS modules beside it
//! (docs/networking.md, "Network probes").
//!
//! It serves two paths and nothing else: [`MARKER_PATH`] answers the probes' marker, and
//! [`BULK_PATH`] answers [`BULK_BYTES`] bytes, timed from the request to the client's close
//! (when the last byte has arrived, not when it left this side's buffers). It is HTTP/1.0
//! with `Connection: close`, written here rather than with `hyper`: the probes need the
//! delivery time of one response body, which a server framework hides, and the exchange is
//! one request line and one response per connection. It accepts at most
//! [`MAX_CONNECTIONS`] connections and gives each [`CONNECTION_TIMEOUT`]; it stops when
//! dropped, and the namespace it lives in goes with the trial.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::launch::netns;

/// The port the endpoint listens on, at the uplink's address.
pub const PORT: u16 = 8080;
/// The path answering the probes' marker.
pub const MARKER_PATH: &str = "/marker";
/// The path answering [`BULK_BYTES`] bytes.
pub const BULK_PATH: &str = "/bulk";
/// What the bulk path sends: 16 MiB, several times what a socket's buffers hold, so that a
/// stalled path cannot pass for a delivered one.
pub const BULK_BYTES: u64 = 16 * 1024 * 1024;
/// Connections one endpoint accepts in its life; the probes make a handful.
pub const MAX_CONNECTIONS: usize = 64;
/// How long one connection may last, from its accept to its close.
pub const CONNECTION_TIMEOUT: Duration = Duration::from_secs(60);

/// One bulk response: how much of it was written before the connection ended, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Bytes of the body written (all of [`BULK_BYTES`] when the write completed).
    pub bytes: u64,
    /// Milliseconds from the request to the client's close (or to the failure).
    pub ms: u64,
    /// Whether the whole body was written and the client then closed the connection.
    pub complete: bool,
}

/// A running endpoint; dropping it stops it.
pub struct Endpoint {
    task: tokio::task::JoinHandle<()>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
}

impl Endpoint {
    /// Listens at the gateway address of the uplink namespace `uplink`.
    pub async fn start(uplink: &str) -> std::io::Result<Endpoint> {
        let address = SocketAddrV4::new(gateway(), PORT);
        let uplink = uplink.to_string();
        // The socket is made in the namespace, on a thread that ends at once (binding does
        // not wait): off the async workers all the same, as `in_namespace` asks.
        let listener = tokio::task::spawn_blocking(move || {
            netns::in_namespace(&uplink, || {
                let l = std::net::TcpListener::bind(address)?;
                l.set_nonblocking(true)?;
                Ok(l)
            })
        })
        .await
        .map_err(std::io::Error::other)??;
        let listener = TcpListener::from_std(listener)?;
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let task = tokio::spawn(serve(listener, deliveries.clone()));
        Ok(Endpoint { task, deliveries })
    }

    /// The URL of `path` as a nested container reaches it.
    pub fn url(path: &str) -> String {
        format!("http://{}:{PORT}{path}", netns::GATEWAY_ADDRESS)
    }

    /// The bulk responses so far, oldest first (the last one possibly still under way).
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.deliveries
            .lock()
            .map(|d| d.clone())
            .unwrap_or_default()
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn gateway() -> Ipv4Addr {
    netns::GATEWAY_ADDRESS
        .parse()
        .expect("the gateway address is an IPv4 address")
}

async fn serve(listener: TcpListener, deliveries: Arc<Mutex<Vec<Delivery>>>) {
    let mut connections = tokio::task::JoinSet::new();
    for _ in 0..MAX_CONNECTIONS {
        let Ok((stream, _)) = listener.accept().await else {
            break;
        };
        let deliveries = deliveries.clone();
        // The bulk path bounds itself (to record a stalled transfer); the bound here is for
        // the head and the short answers.
        connections.spawn(answer(stream, deliveries));
    }
    // Dropping the set (when this task is aborted) aborts the connections still open.
    while connections.join_next().await.is_some() {}
}

/// Reads one request head and answers it.
async fn answer(mut stream: TcpStream, deliveries: Arc<Mutex<Vec<Delivery>>>) {
    let Ok(Some(path)) = tokio::time::timeout(CONNECTION_TIMEOUT, request_path(&mut stream)).await
    else {
        return;
    };
    match path.as_str() {
        MARKER_PATH => {
            let body = format!("{}\n", super::MARKER);
            let reply = format!("{}{body}", head("200 OK", body.len() as u64));
            let _ =
                tokio::time::timeout(CONNECTION_TIMEOUT, stream.write_all(reply.as_bytes())).await;
        }
        BULK_PATH => bulk(stream, deliveries).await,
        _ => {
            let _ = stream.write_all(head("404 Not Found", 0).as_bytes()).await;
        }
    }
}

/// The length of the bulk response, head included: what a client that does not parse HTTP
/// (busybox's `nc`) receives.
pub fn bulk_response_len() -> u64 {
    head("200 OK", BULK_BYTES).len() as u64 + BULK_BYTES
}

fn head(status: &str, length: u64) -> String {
    format!(
        "HTTP/1.0 {status}\r\nContent-Type: application/octet-stream\r\nContent-Length: {length}\r\nConnection: close\r\n\r\n"
    )
}

/// The path of a `GET` request, once its head (up to the blank line) has arrived; `None`
/// for anything else or a head over 8 KiB.
async fn request_path(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = stream.read(&mut buf).await.ok()?;
        if n == 0 || head.len() + n > 8192 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head);
    let mut words = line.lines().next()?.split_whitespace();
    match (words.next(), words.next()) {
        (Some("GET"), Some(path)) => Some(path.to_string()),
        _ => None,
    }
}

/// Sends [`BULK_BYTES`] bytes, then waits for the client to close: the time to that close is
/// the delivery's. Its entry in `deliveries` is kept current as it goes, so that a transfer
/// still stalling when the probe gives up says how far it got. It ends at
/// [`CONNECTION_TIMEOUT`] at the latest.
async fn bulk(mut stream: TcpStream, deliveries: Arc<Mutex<Vec<Delivery>>>) {
    let started = Instant::now();
    let update = |bytes: u64, complete: bool| {
        if let Ok(mut d) = deliveries.lock()
            && let Some(last) = d.last_mut()
        {
            *last = Delivery {
                bytes,
                ms: started.elapsed().as_millis() as u64,
                complete,
            };
        }
    };
    if let Ok(mut d) = deliveries.lock() {
        d.push(Delivery {
            bytes: 0,
            ms: 0,
            complete: false,
        });
    }
    let mut sent = 0u64;
    let complete = tokio::time::timeout(CONNECTION_TIMEOUT, async {
        let chunk = vec![b'd'; 64 * 1024];
        stream
            .write_all(head("200 OK", BULK_BYTES).as_bytes())
            .await?;
        while sent < BULK_BYTES {
            let n = chunk.len().min((BULK_BYTES - sent) as usize);
            stream.write_all(&chunk[..n]).await?;
            sent += n as u64;
            update(sent, false);
        }
        // This side closes first (`Connection: close`); the client closes once it has read
        // everything up to that end.
        stream.shutdown().await?;
        let mut rest = [0u8; 256];
        Ok::<bool, std::io::Error>(stream.read(&mut rest).await? == 0)
    })
    .await;
    update(sent, matches!(complete, Ok(Ok(true))));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_response_head_says_its_length_and_closes() {
        let h = head("200 OK", 12);
        assert!(h.starts_with("HTTP/1.0 200 OK\r\n"));
        assert!(h.contains("Content-Length: 12\r\n"));
        assert!(h.ends_with("Connection: close\r\n\r\n"));
    }

    #[test]
    fn the_urls_are_at_the_gateway() {
        assert_eq!(Endpoint::url(BULK_PATH), "http://192.0.2.1:8080/bulk");
    }
}
