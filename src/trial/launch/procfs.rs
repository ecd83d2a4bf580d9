//! What the harness reads from the kernel's `/proc`, each file parsed in one place: the
//! processes and their command lines (what a teardown ends), a process's name and state,
//! the memory available for sandboxes, and the mount points of this process's namespace.
//!
//! Our own parsers rather than the `procfs` crate: its `MountInfo` keeps a mount point as
//! the kernel escapes it (a space is `\040`), which is the bug this module exists to fix,
//! and the harness needs five small reads, not a model of `/proc`
//! (docs/architecture.md, "Kept crates").

use std::path::PathBuf;

/// Every process's pid: the numeric entries of `/proc`.
pub fn pids() -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .collect()
}

/// A process's command line, its arguments separated by NULs as the kernel keeps them (a
/// needle with no NUL matches within one argument); `None` once the process is gone.
pub fn cmdline(pid: u32) -> Option<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .ok()
        .map(|c| String::from_utf8_lossy(&c).into_owned())
}

/// A process's name (`comm`: its executable's name, cut to 15 bytes).
pub fn comm(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|s| s.trim().to_string())
}

/// A process's state letter (`R`, `S`, `Z` for a zombie, `X` dead…), from `stat`.
pub fn state(pid: u32) -> Option<char> {
    state_of_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// The state field of a `stat` line: the first after the name, which is in parentheses and
/// may itself hold spaces and parentheses, hence the last `)`.
fn state_of_stat(stat: &str) -> Option<char> {
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn mem_available() -> Option<u64> {
    mem_available_of(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

fn mem_available_of(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The mount points of this process's mount namespace, from `/proc/self/mountinfo`.
pub fn mount_points() -> Vec<PathBuf> {
    std::fs::read_to_string("/proc/self/mountinfo")
        .map(|info| mount_points_of(&info))
        .unwrap_or_default()
}

/// The fifth field of each mountinfo line (proc(5)), unescaped: the kernel writes a space,
/// a tab, a newline and a backslash in a path as `\040`, `\011`, `\012` and `\134`, so that
/// the fields stay separated by single spaces.
fn mount_points_of(info: &str) -> Vec<PathBuf> {
    info.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_octal(p)))
        .collect()
}

/// `\ooo` (three octal digits) → that byte; anything else as it is.
fn unescape_octal(field: &str) -> std::ffi::OsString {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let digits = b.get(i + 1..i + 4);
        if b[i] == b'\\'
            && let Some(d) = digits
            && d.iter().all(|c| (b'0'..=b'7').contains(c))
            && d[0] <= b'3'
        {
            out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    std::ffi::OsString::from_vec(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mount_point_with_a_space_is_unescaped() {
        let info = "\
22 1 0:21 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
812 22 0:95 / /var/lib/dindcheck/runs/my\\040trial/io rw - tmpfs tmpfs rw,size=1024k
813 22 0:96 / /tmp/tab\\011and\\134slash rw - tmpfs tmpfs rw
";
        assert_eq!(
            mount_points_of(info),
            [
                PathBuf::from("/"),
                PathBuf::from("/var/lib/dindcheck/runs/my trial/io"),
                PathBuf::from("/tmp/tab\tand\\slash"),
            ]
        );
    }

    #[test]
    fn a_backslash_without_three_octal_digits_stays() {
        assert_eq!(unescape_octal("a\\b\\04"), "a\\b\\04");
        assert_eq!(unescape_octal("\\400"), "\\400");
    }

    #[test]
    fn the_state_follows_the_last_parenthesis_of_the_name() {
        assert_eq!(state_of_stat("77 (a) b) (c) Z 1 77 77 0"), Some('Z'));
        assert_eq!(state_of_stat("1 (dockerd) S 0 1"), Some('S'));
        assert_eq!(state_of_stat("garbage"), None);
    }

    #[test]
    fn mem_available_is_in_bytes() {
        let info = "MemTotal:  16000000 kB\nMemFree: 1 kB\nMemAvailable:    2048 kB\n";
        assert_eq!(mem_available_of(info), Some(2 * 1024 * 1024));
        assert_eq!(mem_available_of("MemTotal: 1 kB\n"), None);
    }

    #[test]
    fn this_process_is_found_with_its_command_line() {
        let me = std::process::id();
        assert!(pids().contains(&me));
        assert!(cmdline(me).is_some_and(|c| !c.is_empty()));
        assert!(comm(me).is_some());
        assert!(matches!(state(me), Some('R' | 'S')));
        assert!(mem_available().is_some_and(|b| b > 0));
        assert!(mount_points().contains(&PathBuf::from("/")));
    }
}
