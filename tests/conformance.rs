//! The conformance gate: one trial per case × launcher × runtime, under real runsc, each
//! compared with its recorded baseline in `tests/baselines/`.
//!
//! A libtest-mimic harness, so that `cargo nextest run` lists and runs every trial on its own
//! (`--list --format terse`, `--exact NAME`, `--ignored`). Trials are named
//! `<case>::<launcher>::<runtime>`. A trial of the engine launcher starts its own outer
//! dockerd (nextest runs each trial in a process of its own) in one of the engine slots,
//! whose data-root keeps the imported root filesystems between trials and runs.
//!
//! A thin front end over the library's [`Session`], as the CLI is. Its environment
//! (`DINDCHECK_HOME`, `DINDCHECK_RUNSC_NETWORK`, `DINDCHECK_RUNTIMES`, `DINDCHECK_LAUNCHER`,
//! `DINDCHECK_ENGINE`, `DINDCHECK_ALLOW_SKIP`, and for a platform team's own gate
//! `DINDCHECK_CASES`, `DINDCHECK_BASELINES` and `DINDCHECK_RUNSC_PATHS`, and for a
//! partitioned run `DINDCHECK_RESULTS_DIR`, where each trial writes its one-trial
//! `results.json` for `dindcheck report --merge`) is [`Environment`]'s; a bad value is a
//! failing trial of its own (`environment::…`).
//!
//! A trial with no baseline yet (a new case, runsc or dockerd) fails as a new trial, with
//! its observed outcome and the command, environment included, that records it.
//!
//! A trial that its launcher cannot express (docs/usage.md, "Two launchers") is not
//! launched: its baseline records "not expressible with this launcher" and why, and the trial
//! checks that this still holds.
//!
//! Known limitation: libtest-mimic has no way to attach a reason to an ignored trial (a
//! missing runsc or rootfs with `DINDCHECK_ALLOW_SKIP=1`); the reasons are printed to stderr
//! when the harness starts (not with `--list`), and such a trial run anyway (`--ignored`)
//! fails with its reason.
//!
//! `DINDCHECK_RUNSC_NETWORK` defaults to `none` for `cargo nextest run` too: the `[env]` of
//! `.cargo/config.toml` sets it as `scripts/test` does, unless it is set already.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use dindcheck::gate;
use dindcheck::inventory::{Inventory, InventoryError};
use dindcheck::report::format::json::Json;
use dindcheck::report::{Format, Results, RunRecord};
use dindcheck::session::{
    self, Environment, Event, RunOptions, Selection, Session, SessionError, signal,
};
use dindcheck::trial::outcome::Outcome;
use dindcheck::trial::plan::{NotRun, Trial as CaseTrial};
use libtest_mimic::{Arguments, Failed, Trial};

fn main() {
    quiet_snapshot_panics();
    let args = Arguments::from_args();
    let root = &repository();
    let (env, env_errors) = Environment::read();
    let mut trials = vec![
        placeholders_fail(),
        accept_is_insta_native(),
        a_host_without_inventory_fails_the_gate(),
    ];
    let mut ignored_reasons = Vec::new();
    for e in env_errors {
        let name = match e.variable {
            "DINDCHECK_RUNSC_NETWORK" => "environment::network",
            "DINDCHECK_ALLOW" => "environment::allow",
            _ => "environment::launcher",
        };
        trials.push(Trial::test(name, move || Err(e.to_string().into())));
    }
    BASELINES
        .set(
            env.baselines
                .clone()
                .unwrap_or_else(|| root.join(gate::BASELINE_DIR)),
        )
        .expect("set once");
    ACCEPT_ENV.set(accept_environment(&env)).expect("set once");
    let selection = Selection {
        cases: env.cases.clone().unwrap_or_else(|| root.join("cases")),
        runsc: env.runsc_paths.clone(),
        runtimes: env.runtimes.clone(),
        network: env.network,
        launchers: env.launchers.clone(),
        allow: env.allow.clone(),
        ..Default::default()
    };
    let corpus = match selection.load_cases() {
        Ok(c) => c,
        Err(e) => {
            let msg = e.to_string();
            trials.push(Trial::test("cases::load", move || Err(msg.into())));
            libtest_mimic::run(&args, trials).exit();
        }
    };
    // A bad case file is a failing trial of its own; the other cases still run.
    for e in &corpus.errors {
        let stem = e.file.file_stem().unwrap_or_default().to_string_lossy();
        let msg = format!("{:?}", miette::Report::new(e.clone()));
        trials.push(Trial::test(format!("case-file::{stem}"), move || {
            Err(msg.into())
        }));
    }

    let runnable: Vec<String> = corpus.runnable().map(|c| c.name.clone()).collect();
    let planned = match selection.plan(corpus, &env.home) {
        Ok(p) => Some(p),
        Err(SessionError::Inventory(
            e @ (InventoryError::Missing { .. } | InventoryError::Invalid { .. }),
        )) => {
            let reason = e.to_string();
            if env.require {
                let msg = format!("{reason} (or set DINDCHECK_ALLOW_SKIP=1 to skip every trial)");
                trials.push(Trial::test("environment::inventory", move || {
                    Err(msg.into())
                }));
            } else {
                ignored_reasons.push(format!("every trial: {reason}"));
                for c in &runnable {
                    let name = format!("{c}::no-runtime");
                    trials.push(placeholder(name, reason.clone()));
                }
            }
            None
        }
        Err(e @ SessionError::NoRunsc) if !env.require => {
            ignored_reasons.push(e.to_string());
            None
        }
        Err(e) => {
            let (name, msg) = match &e {
                SessionError::NoRunsc => ("environment::runsc", e.to_string()),
                SessionError::OwnRunsc(_) => ("environment::runsc-paths", e.to_string()),
                _ => ("environment::runtimes", e.to_string()),
            };
            trials.push(Trial::test(name, move || Err(msg.into())));
            None
        }
    };
    if let Some(planned) = planned {
        if !args.list {
            // What a killed earlier run left behind is removed before anything starts.
            for line in session::reap(&env.home).describe() {
                eprintln!("conformance: {line}");
            }
            signal::cleanup_on_signal(env.home.clone(), "conformance", None);
        }
        let inv = planned.inventory;
        RECORDER
            .set(env.results_dir.clone().map(|dir| Recorder {
                dir,
                corpus: planned.corpus,
                network: env.network.map(|n| n.as_str().to_string()),
            }))
            .expect("set once");
        trials.push(orphans_trial(&planned.trials, &inv));
        for t in planned.trials {
            trials.push(conformance_trial(t, &inv, &env, &mut ignored_reasons));
        }
    }
    if !args.list {
        for r in &ignored_reasons {
            eprintln!("conformance: ignored: {r}");
        }
    }
    libtest_mimic::run(&args, trials).exit();
}

/// The test of one trial: failing (or ignored, with a reason, under `DINDCHECK_ALLOW_SKIP=1`)
/// when the host lacks its runsc or root filesystem; for a trial its launcher cannot
/// express, a check that this still holds (its baseline records why, so that a case
/// becoming expressible, or no longer, is a change the gate reports); else the trial run.
fn conformance_trial(
    t: CaseTrial,
    inv: &Inventory,
    env: &Environment,
    ignored_reasons: &mut Vec<String>,
) -> Trial {
    let name = t.name();
    let baseline = gate::trial_baseline_name(&t, inv);
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
    let baseline = baseline.unwrap_or_default();
    match missing {
        Some(reason) if env.require => {
            let msg =
                format!("{reason}: run scripts/setup-host (or set DINDCHECK_ALLOW_SKIP=1 to skip)");
            Trial::test(name, move || Err(msg.into()))
        }
        Some(reason) => {
            ignored_reasons.push(format!("{name}: {reason}"));
            placeholder(name, reason)
        }
        None if dindcheck::trial::launch::expressible(&t).is_err() => {
            let inv = inv.clone();
            Trial::test(name, move || {
                let observed = match dindcheck::trial::launch::expressible(&t) {
                    Err(why) => {
                        record(&t, &inv, None, Some(why.0.clone()))?;
                        format!("{why}\n")
                    }
                    Ok(()) => "expressible with this launcher\n".to_string(),
                };
                compare_with_baseline(&t, &baseline, &observed, None)
            })
        }
        None => {
            let mut session = Session::new(env.home.clone(), inv.clone());
            session.existing_engine = env.engine.clone();
            let inv = inv.clone();
            Trial::test(name, move || check_trial(&t, session, &inv, &baseline))
        }
    }
}

/// `baselines::orphans`: fails when a baseline under the baselines directory is one that no
/// trial reads any more ([`gate::orphaned_baselines`]), so that CI rejects it. Ignored, with
/// the reason, when a root filesystem is missing (some trials' baselines cannot be named).
fn orphans_trial(planned: &[CaseTrial], inv: &Inventory) -> Trial {
    let name = "baselines::orphans".to_string();
    let names: Option<Vec<String>> = planned
        .iter()
        .map(|t| gate::trial_baseline_name(t, inv))
        .collect();
    let Some(used) = names else {
        return placeholder(
            name,
            "a root filesystem is missing, so some trials' baselines cannot be named".into(),
        );
    };
    Trial::test(name, move || {
        let dir = BASELINES.get().expect("set in main");
        let orphans = gate::orphaned_baselines(dir, &used)
            .map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
        if orphans.is_empty() {
            return Ok(());
        }
        let list: String = orphans
            .iter()
            .map(|o| format!("    {}\n", gate::baseline_path(dir, o).display()))
            .collect();
        Err(format!(
            "{} baseline(s) that no trial reads (their case was renamed or removed, or their \
             runtime, launcher and network ran with another dockerd or image); remove them \
             (`git rm`) or restore what read them:\n{list}",
            orphans.len()
        )
        .into())
    })
}

/// The harness's own check that a failure names insta's commands for the baseline at fault
/// (and, for baselines outside the repository, which cargo insta does not see, the rerun).
fn accept_is_insta_native() -> Trial {
    Trial::test("harness::accepting-is-insta-native", || {
        let root = &repository();
        let inside = insta_commands(&root.join("tests/baselines/x__y.snap"), "RERUN");
        let outside = insta_commands(Path::new("/elsewhere/x__y.snap"), "RERUN");
        let want = "cargo insta accept --snapshot tests/baselines/x__y.snap";
        if inside.contains(want) && inside.contains("RERUN") && outside.trim() == "RERUN" {
            Ok(())
        } else {
            Err(format!("accept commands:\n{inside}\n{outside}").into())
        }
    })
}

/// The harness's own check that a host without an inventory fails the gate unless skipping
/// is asked for (`DINDCHECK_ALLOW_SKIP=1`): a gate that tested nothing must not pass. The
/// harness lists its trials again, in a process of its own, with a home that does not exist.
fn a_host_without_inventory_fails_the_gate() -> Trial {
    Trial::test("harness::a-host-without-inventory-fails-the-gate", || {
        let list = |allow_skip: bool| -> Result<String, Failed> {
            let mut c =
                std::process::Command::new(std::env::current_exe().map_err(|e| e.to_string())?);
            c.arg("--list")
                .env("DINDCHECK_HOME", "/nonexistent/dindcheck-home")
                .env_remove("DINDCHECK_RUNSC_PATHS")
                .env_remove(session::environment::ALLOW_SKIP);
            if allow_skip {
                c.env(session::environment::ALLOW_SKIP, "1");
            }
            let out = c.output().map_err(|e| e.to_string())?;
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        };
        let failing = "environment::inventory: test";
        let (strict, skipping) = (list(false)?, list(true)?);
        if !strict.contains(failing) {
            return Err(
                format!("without DINDCHECK_ALLOW_SKIP, no failing trial:\n{strict}").into(),
            );
        }
        if skipping.contains(failing) || !skipping.contains("::no-runtime: test") {
            return Err(format!("with DINDCHECK_ALLOW_SKIP=1, not skipped:\n{skipping}").into());
        }
        Ok(())
    })
}

/// An ignored trial that the host cannot run (no inventory, runsc or root filesystem). Run
/// anyway (`--ignored`, `--run-ignored`), it fails with the reason: a trial that did not run
/// must never pass.
fn placeholder(name: String, reason: String) -> Trial {
    Trial::test(name, move || not_run(&reason)).with_ignored_flag(true)
}

/// What a placeholder trial does when run: fail with the reason it could not run.
fn not_run(reason: &str) -> Result<(), Failed> {
    let hint = if reason.contains("setup-host") {
        ""
    } else {
        "; run scripts/setup-host"
    };
    Err(format!("not run on this host: {reason}{hint}").into())
}

/// The harness's own check that a placeholder cannot pass (issue 14: an ignored trial run
/// with `--run-ignored` passed without running anything).
fn placeholders_fail() -> Trial {
    Trial::test(
        "harness::a-placeholder-run-anyway-fails",
        || match not_run("runsc-x is missing") {
            Err(e)
                if e.message()
                    .is_some_and(|m| m.contains("runsc-x is missing")) =>
            {
                Ok(())
            }
            other => Err(format!("a placeholder trial gave {other:?}").into()),
        },
    )
}

/// Runs `t` and compares its outcome with the baseline `name`. A trial of the engine
/// launcher starts its own outer engine with the one runtime it needs (nextest runs each
/// trial in a process of its own) and stops it, whatever the trial's result.
fn check_trial(
    t: &CaseTrial,
    mut session: Session,
    inv: &Inventory,
    name: &str,
) -> Result<(), Failed> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let options = RunOptions {
        reap: false, // once, in main
        host_checks: false,
        repeat: 1,
        jobs: 1,
    };
    let mut ran = None;
    let mut leaked_at_stop = Vec::new();
    let driven = rt.block_on(session.drive(
        std::slice::from_ref(t),
        &options,
        std::future::pending(),
        |event| match event {
            Event::Prepared(p) => {
                for r in &p.reaped {
                    eprintln!("conformance: {r}");
                }
            }
            Event::Finished(_, r) => {
                ran = Some(match r {
                    Ok(r) => Ok((r.outcome.clone(), r.leftovers.clone(), r.leaks.clone())),
                    Err(e) => Err(e.to_string()),
                })
            }
            Event::Stopped(figures) => {
                if let Some(e) = &figures.engine {
                    leaked_at_stop = e.leaked_at_stop.clone();
                }
            }
            _ => {}
        },
    ))?;
    if !leaked_at_stop.is_empty() {
        let left = leaked_at_stop.join(", ");
        return Err(format!("the outer engine left processes after it stopped: {left}").into());
    }
    let (mut outcome, leftovers, leaks) = ran.ok_or("the trial did not run")??;
    // The event carries the trial's own result; its input digest is the run's (for a later
    // `--reuse` of the merged results: docs/ci.md, "Re-gating a pull request").
    if let session::Driven::Ran(run) = &driven {
        outcome.digest = run.ran.outcomes.first().and_then(|o| o.digest.clone());
    }
    if !leftovers.is_empty() && session.leftovers_leak(t) {
        eprintln!(
            "conformance: the outer engine leaked the trial's sandbox (ended): {leftovers:?}"
        );
    }
    if !leaks.is_empty() {
        return Err(format!("the teardown left: {}", leaks.join("; ")).into());
    }
    record(t, inv, Some(&outcome), None)?;
    compare_with_baseline(t, name, &outcome.baseline(), Some(&outcome))
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

/// Asserts `observed` (an outcome's baseline text) against the baseline `name`, and on a
/// difference says everything needed to act on it: both texts, the outcome's error lines and
/// output tail when it ran, and the command that accepts the new outcome.
fn compare_with_baseline(
    t: &CaseTrial,
    name: &str,
    observed: &str,
    outcome: Option<&Outcome>,
) -> Result<(), Failed> {
    let root = &repository();
    let dir = BASELINES.get().expect("set in main").clone();
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
    // A trial known to vary (tests/flaky.toml) that gave one of its known other outcomes is
    // not a regression: say so, and pass. The variant must not become the baseline.
    let known = gate::known_flaky(&root.join(gate::FLAKY_FILE))?;
    if let Some(note) = gate::is_known_variant(&known, &t.name(), observed) {
        let _ = std::fs::remove_file(gate::baseline_path(&dir, name).with_extension("snap.new"));
        eprintln!(
            "conformance: {} is known to be flaky and gave a known variant, not its baseline \
             ({note}); see tests/flaky.toml",
            t.name()
        );
        return Ok(());
    }
    let file = gate::baseline_path(&dir, name);
    let recorded = gate::read_baseline(&dir, name);
    let indent = |s: &str| s.lines().map(|l| format!("    {l}\n")).collect::<String>();
    let mut env = vec!["INSTA_UPDATE=always".to_string()];
    env.extend(ACCEPT_ENV.get().into_iter().flatten().cloned());
    env.push(format!("DINDCHECK_RUNSC_NETWORK={}", t.network.as_str()));
    let rerun = format!(
        "{} cargo nextest run --test conformance -E 'test(={})'",
        env.join(" "),
        t.name()
    );
    let accept = insta_commands(&file, &rerun);
    let headline = match &recorded {
        Some(_) => "outcome differs from the baseline".to_string(),
        None => format!(
            "new trial: no baseline yet for {} (a new runsc, dockerd, root filesystem or case); \
             review the observed outcome below and accept it",
            t.name()
        ),
    };
    Err(format!(
        "{headline}\n\
         trial:    {}\ncase:     {}\nbaseline: {}\n\
         EXPECTED:\n{}OBSERVED:\n{}\
         error lines:\n{}last lines of output:\n{}\
         to accept the observed outcome as the baseline (then review and commit {}):\n{accept}",
        t.name(),
        t.case.name,
        file.display(),
        indent(
            recorded
                .as_deref()
                .unwrap_or("(no baseline recorded yet)\n")
        ),
        indent(observed),
        indent(
            &outcome
                .map(|o| o.error_lines.join("\n"))
                .unwrap_or_default()
        ),
        indent(&outcome.map(|o| o.log_tail.join("\n")).unwrap_or_default()),
        file.display(),
    )
    .into())
}

/// The commands that accept the observed outcome of a baseline `file`, insta's own: when
/// insta wrote the pending `.snap.new` beside it, `cargo insta review` / `accept` of that one
/// snapshot; when it did not (`INSTA_UPDATE=no`, or on CI, where insta writes none), the
/// rerun that writes it first. `rerun` accepts at once, rerunning the sandbox (the only way
/// for baselines outside this repository, which cargo insta does not see).
fn insta_commands(file: &Path, rerun: &str) -> String {
    let root = &repository();
    let pending = file.with_extension("snap.new");
    // cargo insta works on the snapshots of a Cargo workspace: a team's own baselines
    // elsewhere (DINDCHECK_BASELINES) are accepted by the rerun.
    let Ok(relative) = file.strip_prefix(root) else {
        return format!("    {rerun}");
    };
    let insta = |verb: &str| format!("cargo insta {verb} --snapshot {}", relative.display());
    let install = "(cargo-insta: `cargo install --locked cargo-insta`; scripts/test installs it)";
    if pending.exists() {
        format!(
            "    {}\n    {}\n  the observed outcome is pending in {} {install}; or rerun the \
             trial and accept at once:\n    {rerun}",
            insta("review"),
            insta("accept"),
            pending.display()
        )
    } else {
        format!(
            "    INSTA_UPDATE=new {}; {}\n  (insta wrote no pending snapshot: \
             INSTA_UPDATE=no or a CI environment) {install}; or rerun the trial and accept at \
             once:\n    {rerun}",
            rerun.trim_start_matches("INSTA_UPDATE=always "),
            insta("accept")
        )
    }
}

/// The repository: where nextest runs the harness (`CARGO_MANIFEST_DIR` at run time, which
/// `cargo nextest run --archive-file … --workspace-remap DIR` points at the checkout on the
/// machine that runs it), else where it was built.
fn repository() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .filter(|p| p.join("cases").is_dir())
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

/// Where each trial writes its results (`DINDCHECK_RESULTS_DIR`), with what they need.
#[derive(Debug)]
struct Recorder {
    dir: PathBuf,
    corpus: dindcheck::case::Corpus,
    network: Option<String>,
}

static RECORDER: OnceLock<Option<Recorder>> = OnceLock::new();

/// With `DINDCHECK_RESULTS_DIR`, writes the `results.json` of this one trial there (its
/// outcome against its baseline, or why its launcher cannot express it), named after the
/// trial, so that `dindcheck report --merge DIR…` renders a partitioned run as one report.
fn record(
    t: &CaseTrial,
    inv: &Inventory,
    outcome: Option<&Outcome>,
    not_expressible: Option<String>,
) -> Result<(), Failed> {
    let Some(Some(recorder)) = RECORDER.get() else {
        return Ok(());
    };
    let baselines = BASELINES.get().expect("set in main");
    let mut results = Results::from_run(RunRecord {
        trials: std::slice::from_ref(t),
        corpus: &recorder.corpus,
        inventory: inv,
        outcomes: outcome.cloned().into_iter().collect(),
        not_run: Vec::new(),
        network_override: recorder.network.clone(),
        complete: true,
        baseline_dir: Some(baselines),
    });
    if let Some(reason) = not_expressible {
        results.not_expressible.push(NotRun {
            trial: t.name(),
            reason,
        });
    }
    let file = t.name().replace("::", "__").replace('@', "-") + ".json";
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(&recorder.dir)?;
        let tmp = recorder.dir.join(format!(".{file}.tmp"));
        // The report's own JSON format: the same bytes `dindcheck run` writes.
        let json = Format::files(&Json, &results).swap_remove(0).1;
        std::fs::write(&tmp, json)?;
        std::fs::rename(&tmp, recorder.dir.join(&file))
    };
    write().map_err(|e| format!("cannot write {}: {e}", recorder.dir.join(&file).display()).into())
}

/// The baselines directory: `DINDCHECK_BASELINES`, or this repository's `tests/baselines`.
static BASELINES: OnceLock<PathBuf> = OnceLock::new();
/// The variables the command that accepts an outcome must repeat to choose the same trial.
static ACCEPT_ENV: OnceLock<Vec<String>> = OnceLock::new();

/// `VAR=value` for each setting of `env` that chose this run's corpus, baselines or runsc.
fn accept_environment(env: &Environment) -> Vec<String> {
    let mut v = Vec::new();
    if let Some(c) = &env.cases {
        v.push(format!("DINDCHECK_CASES={}", c.display()));
    }
    if let Some(b) = &env.baselines {
        v.push(format!("DINDCHECK_BASELINES={}", b.display()));
    }
    if !env.runsc_paths.is_empty() {
        let paths = std::env::join_paths(&env.runsc_paths).unwrap_or_default();
        v.push(format!("DINDCHECK_RUNSC_PATHS={}", paths.to_string_lossy()));
    }
    if let Ok(home) = std::env::var("DINDCHECK_HOME") {
        v.push(format!("DINDCHECK_HOME={home}"));
    }
    v
}
