//! Hostile case files, run for real: a case file is untrusted input (a CI gate runs the case
//! files of pull requests), and whatever it asks for, the host sees only what the harness
//! itself does. Each test plays one attack of `docs/security.md` with a valid case file and
//! checks that the outcome is a clear rejection or a contained trial, and that the host is
//! untouched. Attacks that the loader refuses outright (subcommands and host paths in
//! `runsc.flags`, read-write binds) are in `tests/bad-cases/` and `tests/runsc_flags.rs`.
//!
//! Without an inventory the tests fail, unless `DINDCHECK_ALLOW_SKIP=1`, with which they
//! pass with a note on stderr.

mod common;

use std::io::Read;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use dindcheck::case::{self, Case, RunscNetwork};
use dindcheck::inventory::{self, Inventory, Runtime};
use dindcheck::session::Session;
use dindcheck::trial::launch::Launcher;
use dindcheck::trial::launch::scratch;
use dindcheck::trial::outcome::Verdict;
use dindcheck::trial::plan::{RunOptions, Trial};
use dindcheck::trial::run::{TrialError, TrialResult};

/// The inventory and its newest runsc, or `None` (the test then passes, saying why) when
/// the host has none and `DINDCHECK_ALLOW_SKIP=1` is set.
fn host_or_skip() -> Option<(Inventory, Runtime)> {
    common::newest_runsc_or_skip()
}

/// Loads one case file written from `text`, as the loader would from a pull request.
fn hostile_case(name: &str, text: &str) -> Case {
    hostile_case_allowing(name, text, &[])
}

/// The keys every case needs, for a case that is about its other keys.
const PLAIN: &str = "source = \"t\"\nclaim = \"x\"\nrootfs = \"bookworm\"\nprobes = []\n";

/// [`hostile_case`] with the keys every case needs ([`PLAIN`]), then `rest`.
fn plain_case(name: &str, rest: &str) -> Case {
    hostile_case(name, &format!("{PLAIN}{rest}"))
}

/// [`hostile_case`], loaded with the permissions that `--allow` gives.
fn hostile_case_allowing(name: &str, text: &str, allow: &[case::Permission]) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{name}.toml"));
    std::fs::write(&file, text).unwrap();
    let corpus = case::load::load_files_allowing(&[file], allow);
    assert!(corpus.errors.is_empty(), "{:?}", corpus.errors);
    corpus.cases.into_iter().next().unwrap()
}

/// Runs `case` under `launcher` on `runtime`, with the network mode our machines support.
fn run(case: &Case, inv: &Inventory, runtime: &Runtime, launcher: Launcher) -> TrialResult {
    let result = try_run(case, inv, runtime, launcher).unwrap();
    assert!(result.leaks.is_empty(), "left behind: {:?}", result.leaks);
    result
}

/// [`run`], returning the trial's error (a trial that could not run) instead of failing.
fn try_run(
    case: &Case,
    inv: &Inventory,
    runtime: &Runtime,
    launcher: Launcher,
) -> Result<TrialResult, TrialError> {
    try_run_keeping(case, inv, runtime, launcher, false)
}

/// [`try_run`], keeping the trial's scratch directory when `keep` (`--keep-scratch`).
fn try_run_keeping(
    case: &Case,
    inv: &Inventory,
    runtime: &Runtime,
    launcher: Launcher,
    keep: bool,
) -> Result<TrialResult, TrialError> {
    let home = inventory::home();
    let options = RunOptions {
        network_override: Some(RunscNetwork::None),
        launchers: vec![launcher],
    };
    let trial = Trial::new(case, runtime, launcher, &options);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut session = Session::new(home.clone(), inv.clone());
        session.keep_scratch = keep;
        session.prepare(std::slice::from_ref(&trial)).await.unwrap();
        let result = session.run_trial(&trial).await;
        if let Some(engine) = session.stop().await.engine {
            let leaked = engine.leaked_at_stop;
            assert!(leaked.is_empty(), "{leaked:?}");
        }
        result
    })
}

/// A unix socket on the host that stands for something a sandbox must never reach (the
/// outer engine's socket, say), counting who connects to it.
struct Decoy {
    path: PathBuf,
    connections: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl Decoy {
    fn start() -> Decoy {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("decoy.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 512];
                let _ = stream.read(&mut buf);
            }
        });
        Decoy {
            path,
            connections,
            _dir: dir,
        }
    }
}

/// The attack: the case's setup replaces dockerd's socket in the io directory with a
/// symbolic link to a host socket, then keeps the sandbox alive. Followed, it would make the
/// harness report the host's engine as the trial's dockerd and run the probes on it.
fn symlinked_socket(launcher: Launcher) {
    let Some((inv, runtime)) = host_or_skip() else {
        return;
    };
    let decoy = Decoy::start();
    let case = hostile_case(
        "hostile-symlinked-socket",
        &format!(
            r#"
source = "tests/security.rs"
claim = "the harness follows the sandbox's symlinks"
rootfs = "bookworm"
cgroup = "gvisor-ro"
timeout = 30
probes = ["run-none"]
setup = """
rm -f /run/dindcheck/docker.sock
ln -s {} /run/dindcheck/docker.sock
sleep 600
"""
"#,
            decoy.path.display()
        ),
    );
    let result = run(&case, &inv, &runtime, launcher);
    let o = &result.outcome;
    assert_eq!(
        decoy.connections.load(Ordering::SeqCst),
        0,
        "the harness connected to the host socket the sandbox linked to: {o:?}"
    );
    assert_eq!(o.verdict, Verdict::LaunchFailed, "{o:?}");
    let decisive = o.decisive.as_deref().unwrap_or_default();
    assert!(
        decisive.contains("symbolic link") && decisive.contains("does not follow"),
        "{decisive}"
    );
    assert!(o.probes.is_empty(), "probes ran: {:?}", o.probes);
}

#[test]
fn a_symlinked_socket_is_refused_not_followed_oci() {
    symlinked_socket(Launcher::Oci);
}

#[test]
fn a_symlinked_socket_is_refused_not_followed_engine() {
    symlinked_socket(Launcher::Engine);
}

/// Least privilege: while a trial runs, its scratch directory is reachable by root alone, and
/// so is everything in it (its io directory, where dockerd's socket is made with whatever
/// group the root filesystem gives it).
#[test]
fn the_scratch_directory_is_root_only_while_the_trial_runs() {
    let Some((inv, runtime)) = host_or_skip() else {
        return;
    };
    // A thread samples the mode of the trial's scratch directory from outside while the
    // trial is up.
    let home = inventory::home();
    let before: Vec<PathBuf> = runs_of_this_process(&home);
    assert!(before.is_empty());
    let case = hostile_case(
        "hostile-socket-group",
        r#"
source = "tests/security.rs"
claim = "a host group reaches the nested dockerd"
rootfs = "bookworm"
timeout = 60
probes = []
setup = "sleep 2; exit 1"
"#,
    );
    let watcher = {
        let home = home.clone();
        std::thread::spawn(move || {
            // Sample the modes while the trial is up.
            let mut seen = Vec::new();
            for _ in 0..300 {
                for dir in runs_of_this_process(&home) {
                    let mode = |p: &Path| {
                        use std::os::unix::fs::MetadataExt;
                        std::fs::symlink_metadata(p).map(|m| m.mode() & 0o777).ok()
                    };
                    if let Some(root) = mode(&dir) {
                        seen.push(root);
                    }
                }
                if seen.len() > 5 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            seen
        })
    };
    let result = run(&case, &inv, &runtime, Launcher::Oci);
    let seen = watcher.join().unwrap();
    assert_eq!(
        result.outcome.verdict,
        Verdict::Exited,
        "{:?}",
        result.outcome
    );
    assert!(!seen.is_empty(), "never saw the trial's scratch directory");
    for root in seen {
        assert_eq!(
            root & 0o077,
            0,
            "scratch directory mode {root:o} lets others in"
        );
    }
}

fn runs_of_this_process(home: &Path) -> Vec<PathBuf> {
    let prefix = format!("{}-", std::process::id());
    std::fs::read_dir(home.join("runs"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// runsc creates the spec's mount points as directories in the root it is given. The shared
/// root filesystem must not get them: each trial sees it through an overlay of its own.
#[test]
fn mount_destinations_are_not_created_in_the_shared_root_filesystem() {
    let Some((inv, runtime)) = host_or_skip() else {
        return;
    };
    let rootfs = inv
        .rootfs("bookworm")
        .expect("the bookworm root filesystem")
        .path
        .clone();
    let case = hostile_case(
        "hostile-new-mount-point",
        r#"
source = "tests/security.rs"
claim = "a case writes directories into the shared root filesystem"
rootfs = "bookworm"
timeout = 30
probes = []
setup = "mkdir -p /dindcheck-written-by-setup; exit 1"

[[mounts]]
type = "tmpfs"
destination = "/dindcheck-new-mount-point/deeper"
"#,
    );
    let made = [
        "dindcheck-new-mount-point",
        "dindcheck-written-by-setup",
        "run/dindcheck",
        "sys/fs/cgroup",
    ];
    let before: Vec<bool> = made.iter().map(|m| rootfs.join(m).exists()).collect();
    let result = run(&case, &inv, &runtime, Launcher::Oci);
    assert_eq!(
        result.outcome.verdict,
        Verdict::Exited,
        "{:?}",
        result.outcome
    );
    for (made, existed) in made.iter().zip(before) {
        assert!(
            existed || !rootfs.join(made).exists(),
            "{} was created in the shared root filesystem",
            rootfs.join(made).display()
        );
    }
}

/// Host faults are not case outcomes: a trial that cannot run because of the host is an
/// error of its own (the run reports it as not run and exits non-zero), not a verdict.
#[test]
fn a_runsc_that_is_not_executable_is_a_host_fault() {
    let Some((inv, mut runtime)) = host_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("runsc");
    std::fs::copy(&runtime.path, &copy).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
    runtime.path = copy;
    let case = plain_case("any-case", "");
    let err = try_run(&case, &inv, &runtime, Launcher::Oci)
        .map(|r| r.outcome)
        .unwrap_err();
    assert!(matches!(err, TrialError::RunscNotExecutable(_)), "{err}");
}

#[test]
fn a_root_filesystem_gone_from_its_path_is_a_host_fault() {
    let Some((mut inv, runtime)) = host_or_skip() else {
        return;
    };
    let empty = tempfile::tempdir().unwrap();
    for r in &mut inv.rootfs {
        r.path = empty.path().to_path_buf();
    }
    let case = plain_case("any-case", "");
    let err = try_run(&case, &inv, &runtime, Launcher::Oci)
        .map(|r| r.outcome)
        .unwrap_err();
    assert!(matches!(err, TrialError::RootfsGone { .. }), "{err}");
}

/// A sandbox SIGKILLed on the host (an operator, the host's OOM killer) was reported as the
/// case's setup failing.
#[test]
fn a_sandbox_killed_from_outside_is_a_host_fault_not_the_setup_failing() {
    let Some((inv, runtime)) = host_or_skip() else {
        return;
    };
    let case = plain_case(
        "killed-from-outside",
        "timeout = 60\nsetup = \"sleep 600\"\n",
    );
    // This process's trials' scratch directories: runs/<pid>-<n>.
    let prefix = format!("{}-", std::process::id());
    let needle = format!("/runs/{prefix}");
    let runs = inventory::home().join("runs");
    // The setup has begun once the entry script's own line is in the trial's output (then
    // the container runs: a kill before `runsc start` returned would be a launch failure).
    let setup_began = move || {
        std::fs::read_dir(&runs)
            .into_iter()
            .flatten()
            .flatten()
            .any(|d| {
                d.file_name().to_string_lossy().starts_with(&prefix)
                    && std::fs::read_to_string(d.path().join("output.log"))
                        .is_ok_and(|o| o.contains("dindcheck: setup"))
            })
    };
    let killer = std::thread::spawn(move || {
        for _ in 0..300 {
            std::thread::sleep(std::time::Duration::from_millis(100));
            let sandboxes: Vec<u32> = scratch::processes_mentioning(&needle)
                .into_iter()
                .filter(|pid| {
                    dindcheck::trial::launch::procfs::cmdline(*pid)
                        .is_some_and(|c| c.contains("boot"))
                })
                .collect();
            if !sandboxes.is_empty() && setup_began() {
                // Kill the sandbox as an operator would.
                for pid in sandboxes {
                    dindcheck::trial::launch::procs::signal(
                        pid as i32,
                        rustix::process::Signal::KILL,
                    );
                }
                return true;
            }
        }
        false
    });
    let result = try_run(&case, &inv, &runtime, Launcher::Oci);
    assert!(killer.join().unwrap(), "never saw the sandbox to kill");
    let err = result.map(|r| r.outcome).unwrap_err();
    assert!(matches!(err, TrialError::SandboxKilled), "{err}");
}

/// A case cannot take the host's memory: its sandbox is limited to
/// `SANDBOX_MEMORY_BYTES` (2 GiB), so a setup that holds 3 GiB is stopped inside the
/// sandbox (or the sandbox is ended, which is the case's outcome `sandbox-out-of-memory`,
/// not a host fault) instead of growing on the host.
#[test]
fn a_case_cannot_use_host_memory_without_limit() {
    let Some((inv, runtime)) = host_or_skip() else {
        return;
    };
    // A tmpfs inside gVisor lives in the sandbox's memory: 3 GiB written there must not fit.
    let case = plain_case(
        "hostile-memory",
        "timeout = 120\n\
         setup = \"mkdir /hog && mount -t tmpfs -o size=4g hog /hog && dd if=/dev/zero of=/hog/x bs=1M count=3072 2>/dev/null && exit 3\"\n",
    );
    // Stopped inside the sandbox, or the whole sandbox ended by the OOM killer at its limit:
    // contained either way, and either way the case's own outcome, never a host fault.
    let result = try_run(&case, &inv, &runtime, Launcher::Oci).unwrap();
    let o = &result.outcome;
    assert_eq!(o.verdict, Verdict::Exited, "{o:?}");
    let decisive = o.decisive.as_deref().unwrap_or_default();
    // Exit 3 is the setup saying it held all 3 GiB.
    assert!(
        !decisive.contains("(exit 3)"),
        "the setup held 3 GiB: {o:?}"
    );
    if decisive.starts_with(dindcheck::trial::run::OUT_OF_MEMORY_MARKER) {
        assert_eq!(
            o.diagnosis.as_deref(),
            Some("sandbox-out-of-memory"),
            "{o:?}"
        );
    }
    eprintln!("contained: {decisive}");
    assert!(result.leaks.is_empty(), "{:?}", result.leaks);
}

/// `cgroup = "host-bind-rw"` lets the sandbox write the host's cgroup tree (a published
/// recipe did): the cgroups it creates there are removed when the trial ends.
#[test]
fn cgroups_a_case_creates_in_the_host_tree_do_not_outlive_it() {
    let Some((inv, runtime)) = host_or_skip() else {
        return;
    };
    let made = format!("hostile-case-cgroup-{}", std::process::id());
    // The memory hierarchy exists on cgroup v1 hosts such as ours; on v2 the root is it.
    let hierarchy = ["/sys/fs/cgroup/memory", "/sys/fs/cgroup"]
        .into_iter()
        .map(Path::new)
        .find(|p| p.join("cgroup.procs").exists())
        .expect("a cgroup hierarchy");
    let inside =
        Path::new("/sys/fs/cgroup").join(hierarchy.strip_prefix("/sys/fs/cgroup").unwrap());
    // The person running dindcheck permits it (`--allow host-cgroup-write`).
    let case = hostile_case_allowing(
        "hostile-host-cgroups",
        &format!(
            "{PLAIN}timeout = 60\n\
             cgroup = \"host-bind-rw\"\ncapabilities.base = \"all\"\n\
             setup = \"mkdir -p {d}/{made}/child {d}/docker/{made} && test -d {d}/{made}/child && exit 4\"\n",
            d = inside.display()
        ),
        &[case::Permission::HostCgroupWrite],
    );
    let result = run(&case, &inv, &runtime, Launcher::Oci);
    let o = &result.outcome;
    assert!(
        o.decisive
            .as_deref()
            .unwrap_or_default()
            .contains("(exit 4)"),
        "the setup did not create the cgroup, so this test shows nothing: {o:?}"
    );
    // Also under `docker/`, where a nested dockerd with the cgroupfs driver puts its own.
    for left in [hierarchy.join(&made), hierarchy.join("docker").join(&made)] {
        assert!(!left.exists(), "{} outlived the trial", left.display());
    }
}

/// A case cannot fill the host's disk through its io directory (bind-mounted from the host):
/// everything a trial writes on the host is in its scratch tmpfs of 512 MiB, and the io
/// directory in a tmpfs of its own inside it: when the setup has filled it, gVisor still has
/// room to record the setup's exit (once it had none, and the trial looked killed from outside).
#[test]
fn a_setup_cannot_fill_the_host_disk_through_its_io_directory() {
    let Some((inv, runtime)) = host_or_skip() else {
        return;
    };
    // Exit 5 is the setup saying it wrote the whole GiB.
    let case = plain_case(
        "hostile-disk-fill",
        "timeout = 120\n\
         setup = \"dd if=/dev/zero of=/run/dindcheck/fill bs=1M count=1024 2>/dev/null && exit 5\"\n",
    );
    let result = run(&case, &inv, &runtime, Launcher::Oci);
    let o = &result.outcome;
    assert_eq!(o.verdict, Verdict::Exited, "{o:?}");
    let decisive = o.decisive.as_deref().unwrap_or_default();
    assert!(
        !decisive.contains("(exit 5)"),
        "1 GiB reached the host: {o:?}"
    );
    assert!(decisive.contains("setup failed"), "{o:?}");
}

/// `--keep-scratch` keeps a copy of the trial's directory where the next run's reaping of
/// dead runs' scratch never looks (it used to delete it as "left by a dead run").
#[test]
fn kept_scratch_is_not_reaped_by_the_next_run() {
    let Some((inv, runtime)) = host_or_skip() else {
        return;
    };
    let case = plain_case("kept-scratch", "setup = \"exit 3\"\n");
    let kept_root = inventory::home().join("kept");
    let before: Vec<PathBuf> = std::fs::read_dir(&kept_root)
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    let result = try_run_keeping(&case, &inv, &runtime, Launcher::Oci, true).unwrap();
    assert!(result.leaks.is_empty(), "{:?}", result.leaks);
    let kept: Vec<PathBuf> = std::fs::read_dir(&kept_root)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| !before.contains(p))
        .collect();
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert!(kept[0].join("output.log").is_file(), "{kept:?}");
    assert!(kept[0].join("bundle/config.json").is_file(), "{kept:?}");
    // The next run's reaping leaves it alone.
    dindcheck::trial::launch::scratch::reap_stale(&inventory::home());
    assert!(
        kept[0].join("output.log").is_file(),
        "the kept directory was reaped"
    );
    std::fs::remove_dir_all(&kept[0]).unwrap();
}
