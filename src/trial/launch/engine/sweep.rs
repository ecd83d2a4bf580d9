//! Finding and ending the runsc sandboxes an engine leaks.
//!
//! On our machines a `docker run --runtime=runsc` whose start fails (runsc's sandbox network
//! on this kernel, for one) leaves the container's `runsc-sandbox` and `runsc-gofer`
//! processes running, and its `containerd-shim-runc-v2` too, even after `docker rm -f` and
//! after dockerd itself has stopped (docs/host-facts.md, "A Docker Engine with runsc as a
//! runtime": eight such leaks in one afternoon). runsc's
//! state for them is under the engine's exec-root (`<exec-root>/runtime-runc/moby`, the
//! `--root` the shim passes), and every one of those processes names the container's id on
//! its command line: that is how they are found.

use std::path::Path;

use crate::trial::launch::scratch::{
    Leftovers, end_runsc_container, kill_processes_naming, runsc_containers,
};

/// Ends what the engine left of container `id` after it was removed: runsc containers with
/// that id under any runsc root below `exec_root` (killed, then deleted), then any process
/// still naming the id. Returns what was found: empty when the engine cleaned up itself.
/// Without an exec-root (an engine dindcheck did not start), only the processes are ended.
pub fn sweep_container(exec_root: Option<&Path>, runsc: &Path, id: &str) -> Leftovers {
    let mut found = Leftovers::default();
    for root in exec_root.map(runsc_roots).unwrap_or_default() {
        if !runsc_containers(runsc, &root).iter().any(|l| l == id) {
            continue;
        }
        found
            .containers
            .push(format!("{id} (runsc --root={})", root.display()));
        end_runsc_container(runsc, &root, id);
    }
    kill_processes_naming(id, |pid| found.processes.push(pid));
    found
}

/// `<exec-root>/runtime-*/moby`: where dockerd's shims keep runsc's state (dockerd 20.10
/// names it `runtime-runc` whatever the runtime is called).
fn runsc_roots(exec_root: &Path) -> Vec<std::path::PathBuf> {
    let Ok(dir) = std::fs::read_dir(exec_root) else {
        return Vec::new();
    };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("runtime-"))
        .map(|e| e.path().join("moby"))
        .filter(|p| p.is_dir())
        .collect()
}

/// Ends every process whose command line names `needle` (an engine's exec-root after its
/// dockerd stopped), describing each as `name (pid N)`.
pub fn end_processes_naming(needle: &str) -> Vec<String> {
    let mut ended = Vec::new();
    kill_processes_naming(needle, |pid| {
        let name = crate::trial::launch::procfs::comm(pid).unwrap_or_else(|| "?".into());
        ended.push(format!("{name} (pid {pid})"));
    });
    ended
}
