//! The `dindcheck` command: a thin front end over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use dindcheck::case::{self, RunscNetwork};
use dindcheck::engine::{EngineRuntime, OuterEngine};
use dindcheck::inventory::{self, Inventory};
use dindcheck::launch::scratch;
use dindcheck::outcome::Outcome;
use dindcheck::plan::{self, Launcher, RunOptions};
use dindcheck::report::{self, CaseInfo, NotRun, Results, RuntimeInfo};
use dindcheck::runner::{self, RunContext};

/// Measures whether, and how, Docker runs inside gVisor: every case under every runsc.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run every case × runtime under real runsc and write the report.
    Run(RunArgs),
    /// Check the case files and list the trials a run would make.
    List(ListArgs),
}

#[derive(clap::Args)]
struct Common {
    /// Directory of case files.
    #[arg(long, default_value = "cases")]
    cases: PathBuf,
    /// Where `scripts/setup-host` put runsc, the root filesystems and `inventory.toml`.
    #[arg(long, env = "DINDCHECK_HOME", default_value = inventory::DEFAULT_HOME)]
    home: PathBuf,
    /// Only these cases (repeatable). Default: every case that is not abstract.
    #[arg(long = "case", value_name = "NAME")]
    only: Vec<String>,
    /// Only these runtimes (repeatable): `runsc-20240729`, or with a platform,
    /// `runsc-20240729@systrap`. Default: every runsc the setup installed, default platform.
    #[arg(long = "runtime", value_name = "NAME")]
    runtimes: Vec<String>,
    /// Replace every case's runsc network mode (sandbox, host, none). Use `none` on hosts
    /// where runsc's sandbox networking cannot start; the report says it was substituted.
    #[arg(long, env = "DINDCHECK_RUNSC_NETWORK", value_name = "MODE")]
    runsc_network: Option<RunscNetwork>,
    /// Which launcher(s) start the sandboxes: `oci` (a hand-made bundle under `runsc`),
    /// `engine` (`docker run --runtime=runsc` through an outer dockerd), or `both`.
    #[arg(long, env = "DINDCHECK_LAUNCHER", default_value = "both", value_parser = Launcher::parse_selection)]
    launcher: std::vec::Vec<Launcher>,
}

#[derive(clap::Args)]
struct RunArgs {
    #[command(flatten)]
    common: Common,
    /// How many sandboxes at once.
    #[arg(long, short = 'j', default_value_t = 2)]
    jobs: usize,
    /// Where to write REPORT.md and results.json.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
    /// Keep each trial's scratch directory (bundle, logs, output) for inspection.
    #[arg(long)]
    keep_scratch: bool,
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    common: Common,
}

/// Exit codes: 0 the run finished (whatever the cases' verdicts), 1 some case files were
/// invalid or some trials could not run, 2 nothing could run (usage or host problem),
/// 130 interrupted.
fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::List(args) => list(args),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("dindcheck: error: {e}");
            ExitCode::from(2)
        }
    }
}

/// Loads the cases and runtimes a command works on; prints invalid case files.
fn prepare(c: &Common) -> Result<(Vec<plan::Trial>, Inventory, bool), String> {
    let corpus = case::load_dir(&c.cases).map_err(|e| e.headline())?;
    let bad = !corpus.errors.is_empty();
    for e in &corpus.errors {
        eprintln!("{:?}", miette::Report::new(e.clone()));
    }
    let unknown = case::load::unknown_names(&corpus, &c.only);
    if !unknown.is_empty() {
        return Err(format!("no such case: {}", unknown.join(", ")));
    }
    let inventory = Inventory::load(&c.home).map_err(|e| e.to_string())?;
    let runtimes = if c.runtimes.is_empty() {
        inventory.runtimes()
    } else {
        inventory.select(&c.runtimes).map_err(|e| e.to_string())?
    };
    if runtimes.is_empty() {
        return Err("the inventory lists no runsc: rerun scripts/setup-host".into());
    }
    let options = RunOptions {
        network_override: c.runsc_network,
        launchers: c.launcher.clone(),
    };
    let cases = corpus
        .runnable()
        .filter(|k| c.only.is_empty() || c.only.contains(&k.name));
    Ok((plan::plan(cases, &runtimes, &options), inventory, bad))
}

fn list(args: ListArgs) -> Result<ExitCode, String> {
    let (trials, _, bad) = prepare(&args.common)?;
    for t in &trials {
        match t.not_expressible() {
            None => println!("{}", t.name()),
            Some(why) => println!("{} (not run: {why})", t.name()),
        }
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    let (planned, inventory, bad) = prepare(&args.common)?;
    let home = args.common.home.clone();
    // A trial the engine cannot express is reported as such, never run as something else.
    let mut not_expressible: Vec<NotRun> = Vec::new();
    let mut trials = Vec::new();
    for t in planned.iter().cloned() {
        match t.not_expressible() {
            Some(reason) => not_expressible.push(NotRun {
                trial: t.name(),
                reason,
            }),
            None => trials.push(t),
        }
    }
    for s in scratch::reap_stale(&home) {
        eprintln!(
            "dindcheck: removed what an earlier, dead run left for {} ({} containers, {} processes) in {}",
            s.trial,
            s.leftovers.containers.len(),
            s.leftovers.processes.len(),
            s.dir.display()
        );
    }
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let engine = rt.block_on(start_engine(&trials, &home, &inventory))?;
    let mut ctx = RunContext {
        home,
        inventory: inventory.clone(),
        keep_scratch: args.keep_scratch,
        engine: engine.map(std::sync::Arc::new),
    };
    let pb = ProgressBar::new(trials.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let mut outcomes: Vec<Outcome> = Vec::new();
    let mut not_run: Vec<NotRun> = Vec::new();
    let mut leaked: Vec<NotRun> = Vec::new();
    let interrupted = rt.block_on(async {
        let work = runner::run_all(&trials, &ctx, args.jobs, |t, r| {
            let line = match r {
                Ok(res) => {
                    outcomes.push(res.outcome.clone());
                    if t.launcher == Launcher::Engine && !res.leftovers.is_empty() {
                        leaked.push(NotRun {
                            trial: t.name(),
                            reason: format!(
                                "runsc containers {:?}, processes {:?}",
                                res.leftovers.containers, res.leftovers.processes
                            ),
                        });
                    }
                    format!("{}: {}", t.name(), report::matrix_cell(&res.outcome))
                }
                Err(e) => {
                    not_run.push(NotRun {
                        trial: t.name(),
                        reason: e.to_string(),
                    });
                    format!("{}: not run: {e}", t.name())
                }
            };
            if pb.is_hidden() {
                eprintln!(
                    "[{}/{}] {line}",
                    pb.position() + 1,
                    pb.length().unwrap_or(0)
                );
            } else {
                pb.println(line);
            }
            pb.inc(1);
        });
        tokio::select! {
            _ = work => false,
            _ = shutdown_signal() => true,
        }
    });
    // Leaving the select dropped any trials still running, and with them their sandboxes.
    pb.finish_and_clear();
    let mut engine_figures = None;
    if let Some(engine) = ctx.engine.take() {
        let mut figures = report::EngineFigures {
            dockerd: engine.version.clone(),
            start_ms: engine.start_ms,
            stop_ms: None,
            imports: engine.imports(),
            reaped: engine.reaped.clone(),
            leaked_at_stop: Vec::new(),
        };
        match std::sync::Arc::try_unwrap(engine) {
            Ok(engine) => {
                let stopped = rt.block_on(engine.stop());
                figures.stop_ms = Some(stopped.stop_ms);
                figures.leaked_at_stop = stopped.leaked;
            }
            // Only the trials held other references, and they are done: dropping stops it.
            Err(shared) => drop(shared),
        }
        eprintln!(
            "dindcheck: outer engine: dockerd {} started in {} ms, stopped in {}",
            figures.dockerd,
            figures.start_ms,
            figures
                .stop_ms
                .map_or("?".to_string(), |ms| format!("{ms} ms"))
        );
        engine_figures = Some(figures);
    }

    let runtimes = planned
        .iter()
        .map(|t| &t.runtime)
        .fold(Vec::new(), |mut v: Vec<_>, r| {
            if !v.contains(&r) {
                v.push(r);
            }
            v
        });
    let mut launchers: Vec<String> = Vec::new();
    for t in &planned {
        if !launchers.iter().any(|l| l == t.launcher.as_str()) {
            launchers.push(t.launcher.as_str().to_string());
        }
    }
    let mut cases: Vec<CaseInfo> = Vec::new();
    for t in &planned {
        if !cases.iter().any(|c| c.name == t.case.name) {
            cases.push(CaseInfo::from_case(&t.case));
        }
    }
    let results = Results {
        schema: report::SCHEMA_VERSION,
        generated: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
        dindcheck_version: env!("CARGO_PKG_VERSION").into(),
        host_kernel: kernel_release(),
        network_override: args.common.runsc_network.map(|n| n.as_str().to_string()),
        runtimes: runtimes
            .iter()
            .map(|r| {
                let v = inventory
                    .runsc
                    .iter()
                    .find(|b| b.release == r.release)
                    .map_or("?", |b| b.package_version.as_str());
                RuntimeInfo::from_runtime(r, v)
            })
            .collect(),
        rootfs: inventory.rootfs.clone(),
        cases,
        outcomes,
        not_run,
        launchers,
        not_expressible,
        leaked,
        engine: engine_figures,
        complete: !interrupted,
    };
    let json = serde_json::to_string_pretty(&results).map_err(|e| e.to_string())?;
    report::write_atomic(&args.out.join("results.json"), &json).map_err(|e| e.to_string())?;
    report::write_atomic(&args.out.join("REPORT.md"), &report::markdown(&results))
        .map_err(|e| e.to_string())?;
    eprintln!(
        "dindcheck: {} trials, report written to {}",
        results.outcomes.len(),
        args.out.join("REPORT.md").display()
    );
    if interrupted {
        eprintln!("dindcheck: interrupted; the report is marked incomplete");
        return Ok(ExitCode::from(130));
    }
    Ok(if bad || !results.not_run.is_empty() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Starts the outer engine when some trial needs it, with one runtime per distinct runsc
/// binary and flags among those trials, and imports their root filesystems up front.
async fn start_engine(
    trials: &[plan::Trial],
    home: &std::path::Path,
    inventory: &Inventory,
) -> Result<Option<OuterEngine>, String> {
    let engine_trials: Vec<&plan::Trial> = trials
        .iter()
        .filter(|t| t.launcher == Launcher::Engine)
        .collect();
    if engine_trials.is_empty() {
        return Ok(None);
    }
    let runtimes: Vec<EngineRuntime> = engine_trials
        .iter()
        .map(|t| EngineRuntime::for_trial(t))
        .collect();
    let engine = OuterEngine::start(home, &runtimes)
        .await
        .map_err(|e| e.to_string())?;
    let mut rootfs_names: Vec<&str> = engine_trials
        .iter()
        .map(|t| t.case.rootfs.as_str())
        .collect();
    rootfs_names.sort();
    rootfs_names.dedup();
    for name in rootfs_names {
        if let Some(rootfs) = inventory.rootfs(name) {
            let image = engine.image(rootfs).await.map_err(|e| e.to_string())?;
            if let Some(ms) = image.import_ms {
                eprintln!(
                    "dindcheck: imported {} as {} in {} ms",
                    rootfs.name, image.reference, ms
                );
            }
        }
    }
    Ok(Some(engine))
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}
