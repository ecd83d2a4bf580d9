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
//!
//! Two failures end early, on what the endpoint itself sees rather than on a client's
//! timeout (docs/networking.md, "Failures seen at the endpoint"): a bulk response that
//! stalls ([`STALL_WINDOW`]) is reset, and every connection attempt (a TCP SYN) to its port
//! is recorded with its source address as it arrives ([`Endpoint::syn_from`]), read from a
//! raw socket in the namespace: one from a nested container's own bridge address arrived
//! untranslated, and its answer has no route back.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::trial::launch::netns;

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
/// A bulk response that wrote less than [`STALL_BYTES`] in this long has stalled: it is
/// reset, and the probe says so at once instead of at its bound. A working path moved 16 MiB
/// in 2.2–3.0 s here (docs/networking.md, "Failures seen at the endpoint"); the stall of
/// gVisor issue 14011 moves a few KB a second.
pub const STALL_WINDOW: Duration = Duration::from_secs(4);
pub const STALL_BYTES: u64 = 256 * 1024;
/// How often a bulk response that cannot write looks at its progress.
const STALL_TICK: Duration = Duration::from_millis(250);

/// One bulk response: how much of it was written before the connection ended, and when.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Delivery {
    /// Bytes of the body written (all of [`BULK_BYTES`] when the write completed).
    pub bytes: u64,
    /// Milliseconds from the request to the client's close (or to the failure).
    pub ms: u64,
    /// Whether the whole body was written and the client then closed the connection.
    pub complete: bool,
    /// Whether the endpoint reset it for writing less than [`STALL_BYTES`] in
    /// [`STALL_WINDOW`].
    pub stalled: bool,
}

/// A connection attempt to the endpoint's port: its source address, and when it came.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Syn {
    source: Ipv4Addr,
    at: Instant,
}

/// A running endpoint; dropping it stops it.
pub struct Endpoint {
    task: tokio::task::JoinHandle<()>,
    deliveries: Arc<Mutex<Vec<Delivery>>>,
    /// The raw socket's reader, and the connection attempts it has seen.
    syn_task: tokio::task::JoinHandle<()>,
    syns: watch::Receiver<Vec<Syn>>,
}

impl Endpoint {
    /// Listens at the gateway address of the uplink namespace `uplink`.
    pub async fn start(uplink: &str) -> std::io::Result<Endpoint> {
        let address = SocketAddrV4::new(gateway(), PORT);
        let uplink = uplink.to_string();
        // The socket is made in the namespace, on a thread that ends at once (binding does
        // not wait): off the async workers all the same, as `in_namespace` asks.
        let (listener, raw) = tokio::task::spawn_blocking(move || {
            netns::in_namespace(&uplink, || {
                let l = std::net::TcpListener::bind(address)?;
                l.set_nonblocking(true)?;
                // A raw TCP socket is given a copy of every TCP packet addressed to this
                // namespace (raw(7)), SYNs that the kernel then cannot answer included.
                let raw = rustix::net::socket_with(
                    rustix::net::AddressFamily::INET,
                    rustix::net::SocketType::RAW,
                    rustix::net::SocketFlags::NONBLOCK | rustix::net::SocketFlags::CLOEXEC,
                    Some(rustix::net::ipproto::TCP),
                )?;
                Ok((l, raw))
            })
        })
        .await
        .map_err(std::io::Error::other)??;
        let listener = TcpListener::from_std(listener)?;
        let raw = crate::trial::launch::watch::readable(raw)?;
        let deliveries = Arc::new(Mutex::new(Vec::new()));
        let (seen, syns) = watch::channel(Vec::new());
        let syn_task = tokio::spawn(record_syns(raw, seen));
        let task = tokio::spawn(serve(listener, deliveries.clone()));
        Ok(Endpoint {
            task,
            deliveries,
            syn_task,
            syns,
        })
    }

    /// Resolves once a connection attempt from `source` has reached the endpoint at `since`
    /// or later (at once if one already has); never, if none does.
    pub async fn syn_from(&self, source: Ipv4Addr, since: Instant) {
        let mut syns = self.syns.clone();
        let seen = syns
            .wait_for(|s| s.iter().any(|s| s.source == source && s.at >= since))
            .await;
        if seen.is_err() {
            // The reader ended (its socket failed): no attempt will be seen any more.
            std::future::pending::<()>().await;
        }
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
        self.syn_task.abort();
    }
}

/// Reads `raw` as packets arrive, telling `syns` of each SYN to [`PORT`] (at most
/// [`MAX_CONNECTIONS`] times four: a client's retransmissions count too). Ends when the
/// socket fails, or when the endpoint is dropped (its task is aborted).
async fn record_syns(raw: AsyncFd<OwnedFd>, syns: watch::Sender<Vec<Syn>>) {
    // Only the headers are read: a raw socket's read takes one packet, the rest of it dropped.
    let mut packet = [0u8; 128];
    loop {
        let Ok(mut ready) = raw.readable().await else {
            return;
        };
        match rustix::io::read(raw.get_ref(), &mut packet) {
            Ok(n) => {
                if let Some(source) = syn_source(&packet[..n], PORT) {
                    syns.send_if_modified(|s| {
                        let room = s.len() < 4 * MAX_CONNECTIONS;
                        if room {
                            s.push(Syn {
                                source,
                                at: Instant::now(),
                            });
                        }
                        room
                    });
                }
            }
            Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// The source address of an IPv4 packet (header first, as a raw socket reads it) that is a
/// TCP SYN to `port`, not the SYN-ACK of an answer; `None` for anything else.
fn syn_source(packet: &[u8], port: u16) -> Option<Ipv4Addr> {
    let first = *packet.first()?;
    let header = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header < 20 || *packet.get(9)? != 6 {
        return None;
    }
    let tcp = packet.get(header..)?;
    let destination = u16::from_be_bytes([*tcp.get(2)?, *tcp.get(3)?]);
    let flags = *tcp.get(13)?;
    let (syn, ack) = (flags & 0x02 != 0, flags & 0x10 != 0);
    (destination == port && syn && !ack)
        .then(|| Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]))
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
/// still stalling when the probe gives up says how far it got. A transfer that stalls
/// ([`Progress`]) is reset at once (the client's `nc` then ends with what it got); it ends
/// at [`CONNECTION_TIMEOUT`] at the latest.
async fn bulk(mut stream: TcpStream, deliveries: Arc<Mutex<Vec<Delivery>>>) {
    let started = Instant::now();
    let update = |bytes: u64, complete: bool, stalled: bool| {
        if let Ok(mut d) = deliveries.lock()
            && let Some(last) = d.last_mut()
        {
            *last = Delivery {
                bytes,
                ms: started.elapsed().as_millis() as u64,
                complete,
                stalled,
            };
        }
    };
    if let Ok(mut d) = deliveries.lock() {
        d.push(Delivery {
            bytes: 0,
            ms: 0,
            complete: false,
            stalled: false,
        });
    }
    let mut sent = 0u64;
    let mut progress = Progress::new(started);
    let complete = tokio::time::timeout(CONNECTION_TIMEOUT, async {
        let chunk = vec![b'd'; 64 * 1024];
        stream
            .write_all(head("200 OK", BULK_BYTES).as_bytes())
            .await?;
        while sent < BULK_BYTES {
            let n = chunk.len().min((BULK_BYTES - sent) as usize);
            // A write not done within a tick is dropped (a TcpStream's write is
            // cancel-safe: nothing of it was written) to look at the progress.
            match tokio::time::timeout(STALL_TICK, stream.write(&chunk[..n])).await {
                Ok(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
                Ok(Ok(written)) => {
                    sent += written as u64;
                    update(sent, false, false);
                }
                Ok(Err(e)) => return Err(e),
                Err(_) => {}
            }
            if progress.stalled(Instant::now(), sent) {
                return Ok(Ending::Stalled);
            }
        }
        // This side closes first (`Connection: close`); the client closes once it has read
        // everything up to that end.
        stream.shutdown().await?;
        let mut rest = [0u8; 256];
        Ok::<Ending, std::io::Error>(if stream.read(&mut rest).await? == 0 {
            Ending::Complete
        } else {
            Ending::Incomplete
        })
    })
    .await;
    let ending = complete.ok().and_then(Result::ok);
    if ending == Some(Ending::Stalled) {
        // Reset, not closed: a FIN would wait behind the unacknowledged data.
        let _ = rustix::net::sockopt::set_socket_linger(&stream, Some(Duration::ZERO));
    }
    update(
        sent,
        ending == Some(Ending::Complete),
        ending == Some(Ending::Stalled),
    );
}

/// How a bulk response ended, when it did not fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    Complete,
    /// The client sent something after the body instead of closing.
    Incomplete,
    Stalled,
}

/// A transfer's progress: the bytes written at moments of its life, the oldest kept being the
/// last one at least [`STALL_WINDOW`] old.
struct Progress {
    marks: std::collections::VecDeque<(Instant, u64)>,
}

impl Progress {
    fn new(started: Instant) -> Progress {
        Progress {
            marks: [(started, 0)].into(),
        }
    }

    /// Records `sent` at `now`; whether less than [`STALL_BYTES`] were written in the last
    /// [`STALL_WINDOW`] (never within the first window).
    fn stalled(&mut self, now: Instant, sent: u64) -> bool {
        self.marks.push_back((now, sent));
        while self
            .marks
            .get(1)
            .is_some_and(|(at, _)| now.duration_since(*at) >= STALL_WINDOW)
        {
            self.marks.pop_front();
        }
        let (at, then) = self.marks[0];
        now.duration_since(at) >= STALL_WINDOW && sent - then < STALL_BYTES
    }
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

    /// An IPv4 header of 20 bytes from 172.17.0.2, then a TCP header to port 8080 with
    /// `flags`.
    fn packet(flags: u8) -> Vec<u8> {
        let mut p = vec![0u8; 40];
        p[0] = 0x45;
        p[9] = 6;
        p[12..16].copy_from_slice(&[172, 17, 0, 2]);
        p[16..20].copy_from_slice(&[192, 0, 2, 1]);
        p[20..22].copy_from_slice(&40000u16.to_be_bytes());
        p[22..24].copy_from_slice(&8080u16.to_be_bytes());
        p[33] = flags;
        p
    }

    #[test]
    fn a_syn_is_told_by_its_source() {
        assert_eq!(
            syn_source(&packet(0x02), PORT),
            Some(Ipv4Addr::new(172, 17, 0, 2))
        );
        // Not a SYN-ACK, an ACK, another port, a truncated packet or another protocol.
        assert_eq!(syn_source(&packet(0x12), PORT), None);
        assert_eq!(syn_source(&packet(0x10), PORT), None);
        assert_eq!(syn_source(&packet(0x02), 8081), None);
        assert_eq!(syn_source(&packet(0x02)[..30], PORT), None);
        let mut udp = packet(0x02);
        udp[9] = 17;
        assert_eq!(syn_source(&udp, PORT), None);
    }

    #[test]
    fn a_transfer_stalls_when_a_window_passes_with_too_little_written() {
        let t0 = Instant::now();
        let s = |secs: f64| t0 + Duration::from_secs_f64(secs);
        // The socket's buffers take 400 KB at once, then a few KB a second (gVisor 14011).
        let mut p = Progress::new(t0);
        assert!(!p.stalled(s(0.1), 400_000));
        assert!(!p.stalled(s(2.0), 405_000));
        assert!(!p.stalled(s(4.0), 410_000), "400 KB in the first window");
        assert!(p.stalled(s(4.2), 415_000));
        // A working path: 64 KiB every 10 ms.
        let mut p = Progress::new(t0);
        let stalled = (1..=300).any(|i| p.stalled(s(i as f64 * 0.01), i * 65_536));
        assert!(!stalled);
        // A pause shorter than the window does not count.
        let mut p = Progress::new(t0);
        assert!(!p.stalled(s(1.0), 8_000_000));
        assert!(!p.stalled(s(4.5), 8_000_000));
        assert!(!p.stalled(s(4.6), 9_000_000));
    }

    #[test]
    fn the_urls_are_at_the_gateway() {
        assert_eq!(Endpoint::url(BULK_PATH), "http://192.0.2.1:8080/bulk");
    }
}
