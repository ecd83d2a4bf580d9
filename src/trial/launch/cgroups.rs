//! Cgroups a trial leaves on the host: those runsc made for a trial's containers (removed
//! with its scratch directory, or by the next run when the harness was killed), and those a
//! `host-bind-rw` case created in the host's own tree (removed when it ends).

use std::path::{Path, PathBuf};

use super::procs::alive;

/// Where the host's cgroup hierarchies are mounted.
pub(super) const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Removes the cgroups runsc made for the containers of scratch directory `id` (named
/// `dindcheck-<id>` or `dindcheck-doctor-<id>`, in every hierarchy). runsc removes them when
/// a container is deleted, but not after every failed launch: a failed `create` left one in
/// each cgroup-v1 hierarchy on our machines. Called once the trial's processes are ended, when
/// the cgroups are empty or about to be: a process that was SIGKILLed can stay in its cgroup
/// for a moment after its pidfd said it ended (rmdir: EBUSY), so a refused rmdir is tried
/// again for up to [`EMPTYING`]; one still in use after that stays, and the next run's
/// reaping removes it.
pub fn remove_cgroups(id: &str) {
    remove_cgroups_within(id, EMPTYING);
}

fn remove_cgroups_within(id: &str, wait: std::time::Duration) {
    if id.is_empty() {
        return;
    }
    let ours = |name: &str| name.starts_with("dindcheck-") && name.ends_with(&format!("-{id}"));
    let mut hierarchies = vec![PathBuf::from(CGROUP_ROOT)];
    if let Ok(dir) = std::fs::read_dir(CGROUP_ROOT) {
        hierarchies.extend(dir.filter_map(Result::ok).map(|e| e.path()));
    }
    let mut left: Vec<PathBuf> = hierarchies
        .iter()
        .filter_map(|h| std::fs::read_dir(h).ok())
        .flat_map(|dir| dir.filter_map(Result::ok))
        .filter(|e| {
            ours(&e.file_name().to_string_lossy()) && e.file_type().is_ok_and(|t| t.is_dir())
        })
        .map(|e| e.path())
        .collect();
    let deadline = std::time::Instant::now() + wait;
    loop {
        left.retain(|c| {
            remove_cgroup_tree(c);
            c.exists()
        });
        if left.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    if !left.is_empty() {
        tracing::debug!("cgroups still in use, left to the next run: {left:?}");
    }
}

/// How long [`remove_cgroups`] tries again a cgroup whose rmdir was refused.
const EMPTYING: std::time::Duration = std::time::Duration::from_secs(2);

/// How many processes the kernel's OOM killer ended in the memory cgroup of scratch
/// directory `id` (`dindcheck-<id>`, its children counted: the kernel adds each kill to
/// every ancestor's count): `oom_kill` of `memory.oom_control` on cgroup v1, of
/// `memory.events` on v2. 0 when there is no such cgroup.
pub fn oom_kills(id: &str) -> u64 {
    let name = format!("dindcheck-{id}");
    [("memory", "memory.oom_control"), ("", "memory.events")]
        .iter()
        .filter_map(|(hierarchy, file)| {
            let path = Path::new(CGROUP_ROOT)
                .join(hierarchy)
                .join(&name)
                .join(file);
            std::fs::read_to_string(path).ok()
        })
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok())
                .collect::<Vec<_>>()
        })
        .sum()
}

/// rmdir of a cgroup and its children, deepest first (a cgroup's files go with it).
fn remove_cgroup_tree(path: &Path) {
    if let Ok(dir) = std::fs::read_dir(path) {
        for e in dir.filter_map(Result::ok) {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                remove_cgroup_tree(&e.path());
            }
        }
    }
    let _ = std::fs::remove_dir(path);
}

/// The host's cgroup tree as it was before a trial that may write it (`cgroup =
/// "host-bind-rw"` binds it read-write into the sandbox): the cgroups the trial creates there
/// are removed when it ends. Cgroups of other trials (`dindcheck-…`, the engine launcher's
/// containers included: docs/host-facts.md, "A Docker Engine with runsc as a runtime") and
/// systemd's units are left alone: they are not the case's.
#[derive(Debug)]
pub struct HostCgroups(std::collections::BTreeSet<PathBuf>);

impl HostCgroups {
    pub fn snapshot() -> HostCgroups {
        let mut all = std::collections::BTreeSet::new();
        walk_cgroups(Path::new(CGROUP_ROOT), 0, &mut all);
        HostCgroups(all)
    }

    /// Removes the cgroups created since the snapshot (deepest first), returning them.
    pub fn remove_new(&self) -> Vec<PathBuf> {
        let mut now = std::collections::BTreeSet::new();
        walk_cgroups(Path::new(CGROUP_ROOT), 0, &mut now);
        let mut new: Vec<PathBuf> = now
            .difference(&self.0)
            // Another trial's runsc cgroup may be new and still empty: never ours to take.
            // Anything else new is the case's, whatever it is called (a nested dockerd's
            // `docker/…` included).
            .filter(|p| {
                !p.components().any(|c| {
                    let name = c.as_os_str().to_string_lossy();
                    trial_cgroup(&name).is_some() || systemd_unit(&name)
                })
            })
            .cloned()
            .collect();
        new.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
        new.retain(|p| std::fs::remove_dir(p).is_ok());
        new
    }
}

/// A cgroup systemd made for one of its units (`user.slice`, `session-4.scope`, …), which
/// may be new and still empty while systemd starts it.
fn systemd_unit(name: &str) -> bool {
    [".slice", ".scope", ".service", ".mount", ".socket", ".swap"]
        .iter()
        .any(|s| name.ends_with(s))
}

/// Directories below `dir` in a cgroup hierarchy (cgroups), to a fixed depth.
fn walk_cgroups(dir: &Path, depth: usize, out: &mut std::collections::BTreeSet<PathBuf>) {
    if depth > 8 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.filter_map(Result::ok) {
        // `file_type` does not follow links: a link in sysfs is not a cgroup.
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            let p = e.path();
            walk_cgroups(&p, depth + 1, out);
            out.insert(p);
        }
    }
}

/// The harness pid and scratch id of a runsc cgroup of a trial (`dindcheck-<pid>-<n>`, or
/// `dindcheck-doctor-<pid>-<n>` for doctor's sandboxes), `None` for any other name.
fn trial_cgroup(name: &str) -> Option<(i32, &str)> {
    let rest = name.strip_prefix("dindcheck-")?;
    let id = rest.strip_prefix("doctor-").unwrap_or(rest);
    let (pid, n) = id.split_once('-')?;
    n.parse::<u32>().ok()?;
    Some((pid.parse().ok()?, id))
}

/// Removes the cgroups of trials whose harness process is gone (`dindcheck-<pid>-<n>`, a
/// dead `<pid>`), which a killed run, or a version of dindcheck before this cleanup, left.
pub(super) fn reap_stale_cgroups() {
    let Ok(hierarchies) = std::fs::read_dir(CGROUP_ROOT) else {
        return;
    };
    let mut ids = std::collections::BTreeSet::new();
    for h in hierarchies.filter_map(Result::ok) {
        let Ok(dir) = std::fs::read_dir(h.path()) else {
            continue;
        };
        for e in dir.filter_map(Result::ok) {
            let name = e.file_name().to_string_lossy().into_owned();
            if let Some((pid, id)) = trial_cgroup(&name)
                && !alive(pid)
            {
                ids.insert(id.to_string());
            }
        }
    }
    // No waiting: a dead run's sandbox may still be running (its scratch directory's
    // cleanup ends it, then removes these again).
    for id in ids {
        remove_cgroups_within(&id, std::time::Duration::ZERO);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_of_other_owners_are_recognised() {
        assert_eq!(trial_cgroup("dindcheck-4242-7"), Some((4242, "4242-7")));
        assert_eq!(
            trial_cgroup("dindcheck-doctor-4242-7"),
            Some((4242, "4242-7"))
        );
        // The engine launcher's container parent is a trial's name too.
        assert!(trial_cgroup("dindcheck-4242-x").is_none());
        assert!(trial_cgroup("docker").is_none());
        assert!(systemd_unit("user.slice") && systemd_unit("session-3.scope"));
        assert!(!systemd_unit("docker") && !systemd_unit("hostile-case-cgroup-1"));
    }
}
