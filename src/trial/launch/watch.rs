//! Waiting for a directory to change, on inotify: how the harness waits for dockerd's socket
//! and for runsc's boot log without polling (docs/host-facts.md, "Readiness, event-driven").
//! And [`readable`], the one place a descriptor is registered with tokio's reactor (the
//! harness's one `unsafe` block), for the inotify descriptor here and the network probes' raw
//! socket.

use std::os::fd::OwnedFd;
use std::path::Path;

use tokio::io::unix::AsyncFd;

use rustix::fs::inotify::{self, CreateFlags, WatchFlags};

/// Changes to one directory, as inotify reports them.
#[derive(Debug)]
pub struct DirWatch {
    fd: AsyncFd<OwnedFd>,
}

/// `fd`, a non-blocking descriptor, registered with tokio's reactor for reading. Must be
/// called within a tokio runtime.
pub fn readable(fd: OwnedFd) -> std::io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: `fd` is an open descriptor that the AsyncFd owns from here on: it stays open,
    // and the same, until the AsyncFd is dropped.
    unsafe { AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE) }
        .map_err(std::io::Error::from)
}

impl DirWatch {
    /// Watches `dir` (which must be a directory) for `events`. Must be called within a tokio
    /// runtime.
    pub fn new(dir: &Path, events: WatchFlags) -> std::io::Result<DirWatch> {
        let fd = inotify::init(CreateFlags::CLOEXEC | CreateFlags::NONBLOCK)?;
        inotify::add_watch(&fd, dir, events | WatchFlags::ONLYDIR)?;
        Ok(DirWatch { fd: readable(fd)? })
    }

    /// Resolves when one of the watched events happened since the last call (or since the
    /// watch began). The events themselves are not needed: the caller looks again at what
    /// it cares about.
    pub async fn changed(&self) -> std::io::Result<()> {
        loop {
            let mut ready = self.fd.readable().await?;
            let mut buf = [0u8; 4096];
            let mut read_any = false;
            loop {
                match rustix::io::read(self.fd.get_ref(), &mut buf) {
                    Ok(0) => break,
                    Ok(_) => read_any = true,
                    Err(rustix::io::Errno::AGAIN) => {
                        ready.clear_ready();
                        break;
                    }
                    Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            if read_any {
                return Ok(());
            }
        }
    }
}
