//! What the integration tests share: this host's inventory, or a skip that says why (with
//! `DINDCHECK_ALLOW_SKIP=1`; else a failure), and the corpus of cases.

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::path::Path;

use dindcheck::case::{self, Case, Corpus};
use dindcheck::inventory::{self, Inventory, Runtime};
use dindcheck::trial::launch::engine::{EngineRuntime, OuterEngine};

/// The repository.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Whether a host without runsc or root filesystems is a failure (unless
/// `DINDCHECK_ALLOW_SKIP=1`).
pub fn require() -> bool {
    dindcheck::session::environment::require()
}

/// `Some` of what the test needs, or `None` (the test then passes, saying why on stderr)
/// when this host lacks it and `DINDCHECK_ALLOW_SKIP=1` is set; a panic otherwise.
pub fn or_skip<T>(found: Result<T, String>) -> Option<T> {
    match found {
        Ok(t) => Some(t),
        Err(why) if require() => panic!("{why} (set DINDCHECK_ALLOW_SKIP=1 to skip instead)"),
        Err(why) => {
            eprintln!("skipped: {why}");
            None
        }
    }
}

/// This host's inventory (`scripts/setup-host`), or a skip.
pub fn inventory_or_skip() -> Option<Inventory> {
    or_skip(Inventory::load(&inventory::home()).map_err(|e| e.to_string()))
}

/// The inventory and its newest runsc, or a skip.
pub fn newest_runsc_or_skip() -> Option<(Inventory, Runtime)> {
    let inv = inventory_or_skip()?;
    let runtime = or_skip(
        inv.runtimes()
            .pop()
            .ok_or_else(|| "the inventory lists no runsc: rerun scripts/setup-host".to_string()),
    )?;
    Some((inv, runtime))
}

/// The inventory and the newest of its runsc whose sandbox networking cannot start on this
/// host (docs/host-facts.md, "Sandbox networking"), or a skip: what a test that needs a
/// sandbox that fails at start uses.
pub fn runsc_without_sandbox_network_or_skip() -> Option<(Inventory, Runtime)> {
    let inv = inventory_or_skip()?;
    let runtime = or_skip(
        inv.runtimes()
            .into_iter()
            .rfind(|r| r.sandbox_network.is_some())
            .ok_or_else(|| "every runsc of the inventory has sandbox networking here".to_string()),
    )?;
    Some((inv, runtime))
}

/// The inventory and the newest of Debian's runsc (not one built from gVisor's Go module),
/// or a skip: for a test whose case uses a flag that only the older releases know.
pub fn newest_debian_runsc_or_skip() -> Option<(Inventory, Runtime)> {
    let inv = inventory_or_skip()?;
    let debian: Vec<&str> = inv
        .runsc
        .iter()
        .filter(|b| b.go_module.is_none())
        .map(|b| b.release.as_str())
        .collect();
    let runtime = or_skip(
        inv.runtimes()
            .into_iter()
            .rfind(|r| debian.contains(&r.release.as_str()))
            .ok_or_else(|| {
                "the inventory lists no Debian runsc: rerun scripts/setup-host".to_string()
            }),
    )?;
    Some((inv, runtime))
}

/// The cases in `cases/`.
pub fn corpus() -> Corpus {
    case::load_dir(&root().join("cases")).expect("the cases directory loads")
}

/// A case of the corpus, by name.
pub fn corpus_case(name: &str) -> Case {
    corpus()
        .runnable()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("cases/{name}.toml"))
        .clone()
}

/// A small case file of a corpus of a test's own, `description` its only difference: ready
/// in about a second under every runsc of the setup, with one probe (`run-none`).
pub fn small_ready_case(description: &str) -> String {
    format!(
        r#"description = "{description}"
source = "a dindcheck test"
claim = "dockerd becomes ready."
claimed = "works"
rootfs = "bookworm"
cgroup = "gvisor-ro"
probes = ["run-none"]
[capabilities]
base = "all"
[[mounts]]
type = "tmpfs"
destination = "/var/lib/docker"
options = ["rw", "nosuid", "nodev"]
[dockerd]
args = ["--iptables=false", "--ip6tables=false"]
[runsc]
network = "none"
"#
    )
}

/// Top-level cgroups, in every hierarchy, whose names start with `prefix`.
pub fn cgroups_named(prefix: &str) -> Vec<std::path::PathBuf> {
    subdirs(std::path::Path::new("/sys/fs/cgroup"))
        .into_iter()
        .flat_map(|h| subdirs(&h))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(prefix))
        })
        .collect()
}

/// The directories in `dir` (none when it cannot be read).
pub fn subdirs(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                .map(|e| e.path())
                .collect()
        })
        .unwrap_or_default()
}

/// Starts an outer engine in `home` with `runtimes`.
pub async fn start_engine(home: &Path, runtimes: &[EngineRuntime]) -> OuterEngine {
    OuterEngine::start(home, runtimes).await.unwrap()
}

/// Runs `trial` once, for real, with `inventory`, and checks that its teardown left nothing
/// (the flow's own leak check).
pub fn run_once(
    trial: &dindcheck::trial::plan::Trial,
    inventory: &Inventory,
    no_probes: bool,
) -> dindcheck::trial::run::TrialResult {
    let mut session = dindcheck::session::Session::new(inventory::home(), inventory.clone());
    session.no_probes = no_probes;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(session.run_trial(trial)).unwrap();
    assert!(result.leaks.is_empty(), "left behind: {:?}", result.leaks);
    result
}

/// Every launcher's run-wide part, the engine launcher's over `engine` (started by the test,
/// to look inside it while its trials run through the session).
#[allow(dead_code)]
pub fn engine_runs(
    home: &Path,
    engine: &std::sync::Arc<dindcheck::trial::launch::engine::OuterEngine>,
) -> dindcheck::trial::launch::LauncherRuns {
    let settings = dindcheck::trial::launch::RunSettings::at(home);
    let mut runs = dindcheck::trial::launch::LauncherRuns::new(&settings);
    let over = dindcheck::trial::launch::engine::run::over(&settings, engine.clone());
    runs.replace(dindcheck::trial::launch::Launcher::Engine, over);
    runs
}
