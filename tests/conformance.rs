//! The conformance gate: one trial per case × launcher × runtime, under real runsc, each
//! compared with its recorded baseline in `tests/baselines/`.
//!
//! A libtest-mimic harness, so that `cargo nextest run` lists and runs every trial on its own
//! (`--list --format terse`, `--exact NAME`, `--ignored`). Trials are named
//! `<case>::<launcher>::<runtime>`. A trial of the engine launcher starts its own outer
//! dockerd (nextest runs each trial in a process of its own) in one of the engine slots,
//! whose data-root keeps the imported root filesystems between trials and runs.
//!
//! Environment:
//! - `DINDCHECK_HOME`: where `scripts/setup-host` installed runsc and the root filesystems.
//! - `DINDCHECK_RUNSC_NETWORK`: replaces every case's runsc network mode (CI: `none`).
//! - `DINDCHECK_RUNTIMES`: a comma-separated subset of runtimes.
//! - `DINDCHECK_LAUNCHER`: `oci`, `engine` or `both` (the default).
//! - `DINDCHECK_ENGINE`: `unix:///path` of an existing engine for the engine launcher,
//!   instead of one the harness starts per trial.
//! - `DINDCHECK_REQUIRE=1`: a missing runsc, inventory or root filesystem fails the run
//!   instead of ignoring the trials (CI sets it).
//!
//! A trial that its launcher cannot express (see the README's "Two launchers") is not
//! launched: its baseline records "not expressible with this launcher" and why, and the trial
//! checks that this still holds.
//!
//! Known limitation: libtest-mimic has no way to attach a reason to an ignored trial (a
//! missing runsc or rootfs without `DINDCHECK_REQUIRE`); the reasons are printed to stderr
//! when the harness starts (not with `--list`).

use std::path::{Path, PathBuf};

use dindcheck::case::{self, RunscNetwork};
use dindcheck::inventory::{self, Inventory};
use dindcheck::launch::engine::{EngineRuntime, OuterEngine};
use dindcheck::launch::scratch;
use dindcheck::plan::{Launcher, RunOptions, Trial as CaseTrial};
use dindcheck::runner::{RunContext, TrialResult, run_trial};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    quiet_snapshot_panics();
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let require = std::env::var("DINDCHECK_REQUIRE").is_ok_and(|v| v == "1");
    let home = inventory::home();
    let quiet = args.list;
    let mut trials = Vec::new();
    let mut ignored_reasons = Vec::new();

    let corpus = match case::load_dir(&root.join("cases")) {
        Ok(c) => c,
        Err(e) => {
            let msg = e.headline();
            trials.push(Trial::test("cases::load", move || Err(msg.into())));
            libtest_mimic::run(&args, trials).exit();
        }
    };
    // A bad case file is a failing trial of its own; the other cases still run.
    for e in &corpus.errors {
        let stem = e
            .file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let msg = format!("{:?}", miette::Report::new(e.clone()));
        trials.push(Trial::test(format!("case-file::{stem}"), move || {
            Err(msg.into())
        }));
    }

    let network = match std::env::var("DINDCHECK_RUNSC_NETWORK") {
        Ok(v) if !v.is_empty() => match v.parse::<RunscNetwork>() {
            Ok(n) => Some(n),
            Err(e) => {
                trials.push(Trial::test("environment::network", move || Err(e.into())));
                None
            }
        },
        _ => None,
    };
    let launchers =
        match Launcher::parse_selection(&std::env::var("DINDCHECK_LAUNCHER").unwrap_or_default()) {
            Ok(l) => l,
            Err(e) => {
                trials.push(Trial::test("environment::launcher", move || Err(e.into())));
                Vec::new()
            }
        };
    let options = RunOptions {
        network_override: network,
        launchers,
    };

    match Inventory::load(&home) {
        Err(e) => {
            let reason = e.to_string();
            if require {
                trials.push(Trial::test("environment::inventory", move || {
                    Err(reason.into())
                }));
            } else {
                ignored_reasons.push(format!("every trial: {reason}"));
                for c in corpus.runnable() {
                    trials.push(
                        Trial::test(format!("{}::no-runtime", c.name), || Ok(()))
                            .with_ignored_flag(true),
                    );
                }
            }
        }
        Ok(inv) => {
            let runtimes = match std::env::var("DINDCHECK_RUNTIMES") {
                Ok(list) if !list.is_empty() => {
                    let names: Vec<String> =
                        list.split(',').map(|s| s.trim().to_string()).collect();
                    match inv.select(&names) {
                        Ok(r) => r,
                        Err(e) => {
                            let msg = e.to_string();
                            trials.push(Trial::test("environment::runtimes", move || {
                                Err(msg.into())
                            }));
                            Vec::new()
                        }
                    }
                }
                _ => inv.runtimes(),
            };
            if runtimes.is_empty() {
                let msg = "the inventory lists no runsc: run scripts/setup-host".to_string();
                if require {
                    trials.push(Trial::test("environment::runsc", move || Err(msg.into())));
                } else {
                    ignored_reasons.push(msg);
                }
            }
            if !quiet {
                // What a killed earlier run left behind is removed before anything starts.
                for e in dindcheck::launch::engine::reap_stale_engines(&home) {
                    eprintln!("conformance: ended what a dead run's outer engine left: {e}");
                }
                for s in scratch::reap_stale(&home) {
                    eprintln!(
                        "conformance: removed a dead run's scratch directory {} ({})",
                        s.dir.display(),
                        s.trial
                    );
                }
                install_signal_cleanup(home.clone());
            }
            let ctx = RunContext {
                home: home.clone(),
                inventory: inv.clone(),
                keep_scratch: false,
                engine: None,
            };
            for t in dindcheck::plan::plan(corpus.runnable(), &runtimes, &options) {
                let name = t.name();
                let baseline = dindcheck::gate::trial_baseline_name(&t, &inv);
                let missing = match &baseline {
                    None => Some(format!(
                        "root filesystem `{}` is not installed",
                        t.case.rootfs
                    )),
                    Some(_) if !t.runtime.path.exists() => {
                        Some(format!("{} is missing", t.runtime.path.display()))
                    }
                    Some(_) => None,
                };
                match missing {
                    Some(reason) if require => {
                        let msg = format!("{reason} (DINDCHECK_REQUIRE=1): run scripts/setup-host");
                        trials.push(Trial::test(name, move || Err(msg.into())));
                    }
                    Some(reason) => {
                        ignored_reasons.push(format!("{name}: {reason}"));
                        trials.push(Trial::test(name, || Ok(())).with_ignored_flag(true));
                    }
                    // A trial the launcher cannot express is not launched; its baseline
                    // records that, and why, so that a change of the translation (a case
                    // becoming expressible, or no longer) is a change the gate reports.
                    None if dindcheck::launch::expressible(&t)
                        .err()
                        .map(|e| e.0)
                        .is_some() =>
                    {
                        let baseline = baseline.unwrap_or_default();
                        trials.push(Trial::test(name, move || {
                            let why = dindcheck::launch::expressible(&t)
                                .err()
                                .map(|e| e.0)
                                .unwrap_or_default();
                            let observed = format!("not expressible with this launcher: {why}\n");
                            compare_with_baseline(&t, &baseline, &observed, None)
                        }));
                    }
                    None => {
                        let ctx = ctx.clone();
                        let baseline = baseline.unwrap_or_default();
                        trials.push(Trial::test(name, move || check_trial(&t, &ctx, &baseline)));
                    }
                }
            }
        }
    }
    if !quiet {
        for r in &ignored_reasons {
            eprintln!("conformance: ignored: {r}");
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// A baseline mismatch is reported by [`check_trial`] with everything needed to act on it;
/// the panic that insta raises to signal it would only add a backtrace.
fn quiet_snapshot_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !msg.starts_with("snapshot assertion") {
            default(info);
        }
    }));
}

/// On SIGINT or SIGTERM (nextest's timeout, a user's ^C), end every sandbox this process
/// started before exiting.
fn install_signal_cleanup(home: PathBuf) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let n = scratch::cleanup_own(&home);
            let e = dindcheck::launch::engine::stop_own_engines();
            eprintln!(
                "conformance: signal {sig}: removed {n} sandbox(es) and {e} outer engine(s) of this process"
            );
            std::process::exit(128 + sig);
        }
    });
}

/// Starts an outer engine with the one runtime `t` needs, runs `t` through it and stops it,
/// whatever the trial's result.
async fn run_with_engine(t: &CaseTrial, ctx: &RunContext) -> Result<TrialResult, Failed> {
    let needed = [EngineRuntime::for_trial(t)];
    let engine = match std::env::var("DINDCHECK_ENGINE") {
        Ok(address) if !address.is_empty() => OuterEngine::connect(&address, &needed).await,
        _ => OuterEngine::start(&ctx.home, &needed).await,
    }
    .map_err(|e| e.to_string())?;
    for r in &engine.reaped {
        eprintln!("conformance: ended what a dead run left in the engine's slot: {r}");
    }
    let engine = std::sync::Arc::new(engine);
    let ctx = RunContext {
        engine: Some(engine.clone()),
        ..ctx.clone()
    };
    let result = run_trial(t, &ctx).await;
    drop(ctx);
    if let Ok(engine) = std::sync::Arc::try_unwrap(engine) {
        let stopped = engine.stop().await;
        if !stopped.leaked.is_empty() {
            return Err(format!(
                "the outer engine left processes after it stopped: {}",
                stopped.leaked.join(", ")
            )
            .into());
        }
    }
    let result = result.map_err(|e| e.to_string())?;
    if !result.leftovers.is_empty() {
        eprintln!(
            "conformance: the outer engine leaked the trial's sandbox (ended): {:?}",
            result.leftovers
        );
    }
    Ok(result)
}

fn check_trial(t: &CaseTrial, ctx: &RunContext, name: &str) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let TrialResult { outcome, leaks, .. } = match t.launcher {
        Launcher::Oci => rt.block_on(run_trial(t, ctx)).map_err(|e| e.to_string())?,
        Launcher::Engine => rt.block_on(run_with_engine(t, ctx))?,
    };
    if !leaks.is_empty() {
        return Err(format!("the teardown left: {}", leaks.join("; ")).into());
    }
    compare_with_baseline(t, name, &outcome.baseline(), Some(&outcome))
}

/// Asserts `observed` (an outcome's baseline text) against the baseline `name`, and on a
/// difference says everything needed to act on it: both texts, the outcome's error lines and
/// output tail when it ran, and the command that accepts the new outcome.
fn compare_with_baseline(
    t: &CaseTrial,
    name: &str,
    observed: &str,
    outcome: Option<&dindcheck::outcome::Outcome>,
) -> Result<(), Failed> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join(dindcheck::gate::BASELINE_DIR);
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(&dir);
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings.set_description(format!(
        "{} (runsc network {})",
        t.name(),
        t.network.as_str()
    ));
    let matched = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        settings.bind(|| insta::assert_snapshot!(name, observed));
    }));
    if matched.is_ok() {
        return Ok(());
    }
    let file = dindcheck::gate::baseline_path(&dir, name);
    let expected = dindcheck::gate::read_baseline(&dir, name)
        .unwrap_or_else(|| "(no baseline recorded yet)\n".into());
    let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    Err(format!(
        "outcome differs from the baseline\n\
         trial:    {}\ncase:     cases/{}.toml\nbaseline: {}\n\
         EXPECTED:\n{}OBSERVED:\n{}\
         error lines:\n{}last lines of output:\n{}\
         to accept the observed outcome as the new baseline:\n    \
         INSTA_UPDATE=always DINDCHECK_RUNSC_NETWORK={} cargo nextest run --test conformance -E 'test(={})'",
        t.name(),
        t.case.name,
        file.display(),
        indent(&expected),
        indent(observed),
        indent(&outcome.map(|o| o.error_lines.join("\n")).unwrap_or_default()),
        indent(&outcome.map(|o| o.log_tail.join("\n")).unwrap_or_default()),
        t.network.as_str(),
        t.name(),
    )
    .into())
}
