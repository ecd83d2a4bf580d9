//! dockerd's socket in a trial's io directory, pinned when the scratch directory is made:
//! the harness never follows what a sandbox leaves there.

use std::path::Path;

use crate::trial::launch::watch::DirWatch;

/// dockerd's socket in a trial's io directory, reached without following anything the
/// sandbox made there.
///
/// The io directory is bind-mounted into the sandbox, so whatever runs inside can replace
/// `docker.sock` with a symlink to a host path (the outer engine's socket, say): connecting
/// by path would then talk to the host's dockerd and report *it* as the trial's. So the
/// directory is opened once, when the harness creates it (`O_PATH | O_NOFOLLOW`, its device
/// and inode kept), and the socket is looked up relative to that handle with `O_NOFOLLOW`:
/// it must be a socket, on the same device, owned by root. The client then connects through
/// `/proc/self/fd/N` of that handle, which names the socket's inode itself, so a swap after
/// the check cannot redirect it. See `docs/security.md`.
#[derive(Debug)]
pub struct DaemonSocket {
    dir: std::os::fd::OwnedFd,
    dir_dev: u64,
    dir_ino: u64,
    name: String,
}

/// A socket found safe by [`DaemonSocket::pin`]: connect through [`PinnedSocket::path`]
/// while this value lives.
#[derive(Debug)]
pub struct PinnedSocket {
    fd: std::os::fd::OwnedFd,
}

impl PinnedSocket {
    /// `/proc/self/fd/N`: the socket's own inode, whatever its name points at later.
    pub fn path(&self) -> std::path::PathBuf {
        use std::os::fd::AsRawFd;
        std::path::PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }
}

impl DaemonSocket {
    /// Watches the io directory for entries that appear in it (inotify), so that readiness
    /// waits for dockerd's socket instead of polling for it. Errors when the kernel has no
    /// inotify to give (the caller then falls back to backing off).
    pub fn watch(&self) -> std::io::Result<DirWatch> {
        use rustix::fs::inotify::WatchFlags;
        use std::os::fd::AsRawFd;
        // The directory handle is O_PATH: watch it through its /proc magic link, which
        // names the directory the harness opened, not whatever its path holds now.
        let dir = format!("/proc/self/fd/{}", self.dir.as_raw_fd());
        DirWatch::new(
            Path::new(&dir),
            WatchFlags::CREATE | WatchFlags::MOVED_TO | WatchFlags::ATTRIB,
        )
    }

    /// Opens `dir` (which must be a real directory, not a link) to find `name` in it later.
    pub fn open(dir: &Path, name: &str) -> std::io::Result<DaemonSocket> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::open(
            dir,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        let st = rustix::fs::fstat(&fd)?;
        Ok(DaemonSocket {
            dir: fd,
            dir_dev: st.st_dev,
            dir_ino: st.st_ino,
            name: name.to_string(),
        })
    }

    /// The socket, if it is there and is what dockerd would have made: `Ok(None)` while
    /// nothing is there yet, an error when something else is (a symlink, a file, a socket
    /// of another owner or device).
    pub fn pin(&self) -> Result<Option<PinnedSocket>, String> {
        use rustix::fs::{FileType, Mode, OFlags};
        let dir = rustix::fs::fstat(&self.dir).map_err(|e| format!("io directory: {e}"))?;
        if (dir.st_dev, dir.st_ino) != (self.dir_dev, self.dir_ino) {
            return Err("the trial's io directory was replaced".into());
        }
        let fd = match rustix::fs::openat(
            &self.dir,
            self.name.as_str(),
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(format!("cannot open {}: {e}", self.name)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| format!("{}: {e}", self.name))?;
        let kind = FileType::from_raw_mode(st.st_mode);
        if kind != FileType::Socket {
            let what = match kind {
                FileType::Symlink => "a symbolic link",
                FileType::Directory => "a directory",
                FileType::RegularFile => "a regular file",
                _ => "not a socket",
            };
            return Err(format!(
                "{} in the trial's io directory is {what}, not dockerd's socket: the sandbox replaced it; the harness does not follow it",
                self.name
            ));
        }
        if st.st_dev != self.dir_dev || st.st_uid != 0 {
            return Err(format!(
                "{} is not a socket that the trial's dockerd made (device or owner differs)",
                self.name
            ));
        }
        Ok(Some(PinnedSocket { fd }))
    }
}
