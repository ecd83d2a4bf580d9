//! Processes named by a path or an id on their command lines, and their ends: how a trial's
//! teardown finds and ends what it started (runsc, its sandbox and gofer, a shim), each held
//! by a pidfd so that a signal cannot reach a recycled pid.

use super::procfs;

/// SIGKILLs every process whose command line names `needle` and waits for each to end,
/// until none is left (for at most about 5 s: a sandbox can fork while it dies), calling
/// `found` once for each new pid. Each process is held by a pidfd from the moment it is
/// found, so the signal cannot reach a recycled pid, and its end is an event (a pidfd
/// polls readable once its process has exited), not a fixed sleep.
pub fn kill_processes_naming(needle: &str, mut found: impl FnMut(u32)) {
    let mut seen = Vec::new();
    let limit = std::time::Duration::from_secs(5);
    await_ends(needle, limit, true, |pid| {
        if !seen.contains(&pid) {
            seen.push(pid);
            found(pid);
        }
    });
}

/// The processes whose command line names `needle` that are still running after waiting up
/// to `limit` for them to end by themselves (nothing is signalled). For what someone else is
/// expected to end: an engine's containerd runs a shim's `delete` as a reaction to the
/// shim's end.
pub fn still_running_after(needle: &str, limit: std::time::Duration) -> Vec<u32> {
    await_ends(needle, limit, false, |_| {})
}

/// Scans for the processes naming `needle`, SIGKILLs them when `kill`, and waits on their
/// pidfds for their ends, again until none is found or `limit` has passed; returns what the
/// last scan found. `seen` is called with every pid of every scan.
fn await_ends(
    needle: &str,
    limit: std::time::Duration,
    kill: bool,
    mut seen: impl FnMut(u32),
) -> Vec<u32> {
    use rustix::process::{Pid, PidfdFlags, Signal, pidfd_open, pidfd_send_signal};
    let deadline = std::time::Instant::now() + limit;
    loop {
        let pids = processes_naming(needle);
        if pids.is_empty() || std::time::Instant::now() > deadline {
            return pids;
        }
        let mut held = Vec::new();
        for &pid in &pids {
            seen(pid);
            // None: gone between the scan and now.
            let Some(fd) =
                Pid::from_raw(pid as i32).and_then(|p| pidfd_open(p, PidfdFlags::empty()).ok())
            else {
                continue;
            };
            if kill {
                let _ = pidfd_send_signal(&fd, Signal::KILL);
            }
            held.push(fd);
        }
        wait_exited(&held, deadline);
    }
}

/// Waits until every process behind `pidfds` has exited, or `deadline`.
fn wait_exited(pidfds: &[std::os::fd::OwnedFd], deadline: std::time::Instant) {
    use rustix::event::{PollFd, PollFlags, Timespec, poll};
    let mut pending: Vec<&std::os::fd::OwnedFd> = pidfds.iter().collect();
    while !pending.is_empty() {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return;
        }
        let mut polls: Vec<PollFd> = pending
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::IN))
            .collect();
        let timeout = Timespec::try_from(left).ok();
        match poll(&mut polls, timeout.as_ref()) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
        let exited: Vec<bool> = polls.iter().map(|p| !p.revents().is_empty()).collect();
        let mut i = 0;
        pending.retain(|_| {
            i += 1;
            !exited[i - 1]
        });
    }
}
/// Whether process `pid` exists and this process may signal it (kill(2) with signal 0).
/// A pid that is not positive names no one process (kill(2) would read it as a process
/// group, or as every process): it is never alive.
pub fn alive(pid: i32) -> bool {
    one_process(pid).is_some_and(|p| rustix::process::test_kill_process(p).is_ok())
}

/// Sends `signal` to process `pid`, if there is one: a process already gone is not an
/// error, and a pid that is not positive (a process group to kill(2)) is never signalled.
pub fn signal(pid: i32, signal: rustix::process::Signal) {
    if let Some(p) = one_process(pid) {
        let _ = rustix::process::kill_process(p, signal);
    }
}

fn one_process(pid: i32) -> Option<rustix::process::Pid> {
    (pid > 0).then(|| rustix::process::Pid::from_raw(pid))?
}

/// Pids (other than ours) whose command line contains `needle`, as a whole name or as the
/// start of one (`…/runs/123-` finds every scratch directory of process 123).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    processes_where(|cmd| cmd.contains(needle))
}

/// Pids (other than ours) whose command line names `name` as a whole: not followed by a
/// letter, digit, `-`, `_` or `.` (`…/runs/123-1` names no process of `…/runs/123-10`).
/// What a teardown ends and a leak check counts.
pub fn processes_naming(name: &str) -> Vec<u32> {
    processes_where(|cmd| names(cmd, name))
}

fn processes_where(test: impl Fn(&str) -> bool) -> Vec<u32> {
    let me = std::process::id();
    procfs::pids()
        .into_iter()
        .filter(|pid| *pid != me)
        .filter(|pid| procfs::cmdline(*pid).is_some_and(|c| test(&c)))
        .collect()
}

/// Whether `text` contains `needle` as a whole name (see [`processes_naming`]).
fn names(text: &str, needle: &str) -> bool {
    !needle.is_empty()
        && text.match_indices(needle).any(|(at, _)| {
            !text[at + needle.len()..]
                .starts_with(|c: char| c.is_ascii_alphanumeric() || "-_.".contains(c))
        })
}

#[cfg(test)]
mod tests {
    use super::{alive, names, signal};
    use rustix::process::Signal;

    #[test]
    fn a_signalled_and_reaped_child_is_no_longer_alive() {
        assert!(alive(std::process::id() as i32));
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        assert!(alive(pid));
        signal(pid, Signal::TERM);
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(15)
        );
        assert!(!alive(pid));
    }

    #[test]
    fn a_pid_that_is_not_positive_is_neither_alive_nor_signalled() {
        // kill(2) reads 0 as our process group and -1 as every process we may signal.
        assert!(!alive(0));
        assert!(!alive(-1));
        signal(0, Signal::CONT);
        signal(-1, Signal::CONT);
    }

    #[test]
    fn a_path_names_itself_not_a_longer_sibling() {
        let cmd = "runsc --root=/var/lib/dindcheck/runs/123-10/state run dindcheck-123-10";
        assert!(!names(cmd, "/var/lib/dindcheck/runs/123-1"));
        assert!(names(cmd, "/var/lib/dindcheck/runs/123-10"));
        assert!(names("runsc --root=/x/runs/123-1", "/x/runs/123-1"));
        assert!(names("a /x/runs/123-1 b", "/x/runs/123-1"));
        assert!(!names("anything", ""));
    }
}
