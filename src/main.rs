//! The `dindcheck` command: a thin front end over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use dindcheck::case::{self, RunscNetwork};
use dindcheck::doctor::{self, DoctorOptions};
use dindcheck::inventory::{self, Inventory};
use dindcheck::launch::engine::{EngineRuntime, OuterEngine};
use dindcheck::launch::scratch;
use dindcheck::outcome::Outcome;
use dindcheck::plan::{self, Launcher, RunOptions};
use dindcheck::report::{self, NotRun, Results, RunRecord};
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
    /// Diagnose this host: can it run Docker inside gVisor, and if not, why.
    Doctor(DoctorArgs),
    /// Render a report from the results.json of earlier runs: shards of one run
    /// (`run --partition`) merge into one matrix, other hosts become extra columns.
    Report(ReportArgs),
}

#[derive(clap::Args)]
struct ReportArgs {
    /// results.json files to merge.
    #[arg(long, required = true, num_args = 1..)]
    merge: Vec<PathBuf>,
    /// Where to write REPORT.md and results.json.
    #[arg(long, default_value = "reports")]
    out: PathBuf,
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
    /// Only shard K of N of the trials (`count:K/N`, as nextest's `--partition`); merge the
    /// shards' results with `dindcheck report --merge`.
    #[arg(long, value_name = "count:K/N")]
    partition: Option<plan::Partition>,
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
    /// The conformance baselines to compare outcomes with, for the report's "changed since
    /// baseline" section (skipped when the directory does not exist).
    #[arg(long, default_value = dindcheck::gate::BASELINE_DIR)]
    baselines: PathBuf,
    /// Skip the quick host checks (`dindcheck doctor --quick`) that run before the cases.
    #[arg(long)]
    no_doctor: bool,
    /// Run the engine launcher's trials through this existing engine (`unix:///path`)
    /// instead of one dindcheck starts. Its `runtimes` must already hold the runsc runtimes
    /// the trials need (dindcheck says which are missing); only this run's containers are
    /// removed from it.
    #[arg(long, env = "DINDCHECK_ENGINE", value_name = "unix:///PATH")]
    engine: Option<String>,
}

#[derive(clap::Args)]
struct ListArgs {
    #[command(flatten)]
    common: Common,
}

#[derive(clap::Args)]
struct DoctorArgs {
    /// Where `scripts/setup-host` put runsc, the root filesystems and `inventory.toml`.
    #[arg(long, env = "DINDCHECK_HOME", default_value = inventory::DEFAULT_HOME)]
    home: PathBuf,
    /// Print the diagnosis as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Show each check's evidence: the commands run and the lines they printed.
    #[arg(long, short = 'v')]
    verbose: bool,
    /// Only the quick checks (no platform checks), as `dindcheck run` does first.
    #[arg(long)]
    quick: bool,
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
        Command::Report(args) => merge_reports(args),
        Command::Doctor(args) => doctor(args),
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
/// What a command works on: the trials, the corpus they came from, the inventory, and
/// whether some case files were invalid.
struct Prepared {
    trials: Vec<plan::Trial>,
    corpus: case::Corpus,
    inventory: Inventory,
    bad_cases: bool,
}

fn prepare(c: &Common) -> Result<Prepared, String> {
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
    let mut trials = plan::plan(cases, &runtimes, &options);
    if let Some(p) = &c.partition {
        trials = p.select(trials);
    }
    Ok(Prepared {
        trials,
        corpus,
        inventory,
        bad_cases: bad,
    })
}

fn list(args: ListArgs) -> Result<ExitCode, String> {
    let p = prepare(&args.common)?;
    for t in &p.trials {
        match dindcheck::launch::expressible(t).err().map(|e| e.0) {
            None => println!("{}", t.name()),
            Some(why) => println!("{} (not run: {why})", t.name()),
        }
    }
    Ok(if p.bad_cases {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    let Prepared {
        trials: planned,
        corpus,
        inventory,
        bad_cases: bad,
    } = prepare(&args.common)?;
    // Before any trial: a run must not find at its end that it cannot write its results.
    let out = dindcheck::output::OutputDir::prepare(&args.out).map_err(|e| e.to_string())?;
    let home = args.common.home.clone();
    reap(&home);
    // A trial the engine cannot express is reported as such, never run as something else.
    let mut not_expressible: Vec<NotRun> = Vec::new();
    let mut trials = Vec::new();
    for t in planned.iter().cloned() {
        match dindcheck::launch::expressible(&t).err().map(|e| e.0) {
            Some(reason) => not_expressible.push(NotRun {
                trial: t.name(),
                reason,
            }),
            None => trials.push(t),
        }
    }
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let host_checks = if args.no_doctor {
        None
    } else {
        match host_checks(&rt, &home, &trials) {
            Some(d) => Some(d),
            None => {
                eprintln!("dindcheck: interrupted during the host checks");
                return Ok(ExitCode::from(130));
            }
        }
    };
    // A trial that this host cannot test is not run: its failure would be the host's.
    let (runnable, mut not_run) = match &host_checks {
        Some(d) => d.split_untestable(&trials),
        None => (trials.clone(), Vec::new()),
    };
    for n in &not_run {
        eprintln!("dindcheck: not running {}: {}", n.trial, n.reason);
    }
    // Starting the engine includes importing root filesystems (seconds each): a ^C then
    // must stop the run, not wait for the imports (the signal handler the host checks
    // installed would otherwise swallow it).
    let engine = rt.block_on(async {
        tokio::select! {
            e = start_engine(&runnable, &home, &inventory, args.engine.as_deref()) => Some(e),
            _ = shutdown_signal() => None,
        }
    });
    let Some(engine) = engine else {
        dindcheck::launch::engine::stop_own_engines();
        eprintln!("dindcheck: interrupted while starting the outer engine; nothing was run");
        return Ok(ExitCode::from(130));
    };
    let engine = engine?;
    let mut ctx = RunContext {
        home,
        inventory: inventory.clone(),
        keep_scratch: args.keep_scratch,
        engine: engine.map(std::sync::Arc::new),
    };
    let mut leaked: Vec<NotRun> = Vec::new();
    let pb = ProgressBar::new(runnable.len() as u64);
    pb.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("a valid template"),
    );
    let mut outcomes: Vec<Outcome> = Vec::new();
    let interrupted = rt.block_on(async {
        let work = runner::run_all(&runnable, &ctx, args.jobs, |t, r| {
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
                    format!("{}: {}", t.name(), report::summary_line(&res.outcome))
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
            _ = shutdown_signal() => {
                // A second ^C while the sandboxes are being removed ends the process at once,
                // still removing what it can first.
                exit_on_second_signal(ctx.home.clone());
                true
            }
        }
    });
    // Leaving the select dropped any trials still running, and with them their sandboxes.
    pb.finish_and_clear();
    let engine_figures = ctx
        .engine
        .take()
        .map(|engine| stop_engine(&rt, engine, args.engine.clone()));

    // Trials finish in any order; the results list them in the plan's, so that two runs of
    // the same plan give files that compare line by line.
    outcomes.sort_by_key(|o| planned.iter().position(|t| t.name() == o.trial));
    let mut results = Results::from_run(RunRecord {
        trials: &planned,
        corpus: &corpus,
        inventory: &inventory,
        outcomes,
        not_run,
        network_override: args.common.runsc_network.map(|n| n.as_str().to_string()),
        complete: !interrupted,
        baseline_dir: Some(&args.baselines),
    });
    results.host_checks = host_checks;
    results.not_expressible = not_expressible;
    results.leaked = leaked;
    results.engine = engine_figures;
    write_results(&results, &out)?;
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

fn write_results(results: &Results, out: &dindcheck::output::OutputDir) -> Result<(), String> {
    let json = serde_json::to_string_pretty(results).map_err(|e| e.to_string())?;
    out.write_pair(&json, &report::markdown(results))
        .map_err(|e| e.to_string())
}

fn merge_reports(args: ReportArgs) -> Result<ExitCode, String> {
    let out = dindcheck::output::OutputDir::prepare(&args.out).map_err(|e| e.to_string())?;
    let mut parts = Vec::new();
    for path in &args.merge {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let r: Results = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not a dindcheck results file: {e}", path.display()))?;
        parts.push((path.display().to_string(), r));
    }
    let merged = report::merge(parts).map_err(|e| e.to_string())?;
    write_results(&merged, &out)?;
    eprintln!(
        "dindcheck: merged {} results files ({} trials) into {}",
        args.merge.len(),
        merged.outcomes.len(),
        args.out.join("REPORT.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Exit codes: 0 cases can run here (perhaps with limitations the table lists), 1 they
/// cannot, 130 interrupted.
fn doctor(args: DoctorArgs) -> Result<ExitCode, String> {
    reap(&args.home);
    let mut options = DoctorOptions::new(args.home.clone());
    options.quick = args.quick;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    let diagnosis = rt.block_on(async {
        tokio::select! {
            d = doctor::diagnose(&options) => Some(d),
            _ = shutdown_signal() => None,
        }
    });
    // Leaving the select dropped any probe still running, and with it its sandbox.
    let Some(d) = diagnosis else {
        eprintln!("dindcheck: interrupted");
        return Ok(ExitCode::from(130));
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&d).map_err(|e| e.to_string())?
        );
    } else {
        print!("{}", doctor::render::table(&d, args.verbose));
    }
    Ok(if d.can_run_cases() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The quick host checks for the runsc binaries (and forced platforms) of `trials`, printed
/// before any case: what this host cannot test. `None` when interrupted.
fn host_checks(
    rt: &tokio::runtime::Runtime,
    home: &std::path::Path,
    trials: &[plan::Trial],
) -> Option<doctor::Diagnosis> {
    let options = DoctorOptions::for_trials(home.to_path_buf(), trials);
    eprintln!("dindcheck: checking this host first (`dindcheck doctor --quick`)…");
    let d = rt.block_on(async {
        tokio::select! {
            d = doctor::diagnose(&options) => Some(d),
            _ = shutdown_signal() => None,
        }
    })?;
    let gaps = doctor::render::limitations(&d);
    if gaps.is_empty() {
        eprintln!(
            "dindcheck: host checks passed ({} checks, {:.1} s)",
            d.checks.len(),
            d.elapsed_ms as f64 / 1000.0
        );
    } else {
        eprintln!(
            "dindcheck: host checks ({:.1} s) found:",
            d.elapsed_ms as f64 / 1000.0
        );
        for g in gaps {
            eprintln!("  {g}");
        }
    }
    Some(d)
}

/// Cleans up after earlier dindcheck processes that were killed outright.
fn reap(home: &std::path::Path) {
    for e in dindcheck::launch::engine::reap_stale_engines(home) {
        eprintln!("dindcheck: ended what a dead run's outer engine left: {e}");
    }
    for s in scratch::reap_stale(home) {
        eprintln!(
            "dindcheck: removed what an earlier, dead run left for {} ({} containers, {} processes) in {}",
            s.trial,
            s.leftovers.containers.len(),
            s.leftovers.processes.len(),
            s.dir.display()
        );
    }
}

/// Starts the outer engine when some trial needs it (or connects to `existing`), with one
/// runtime per distinct runsc binary and flags among those trials, and imports their root
/// filesystems up front.
async fn start_engine(
    trials: &[plan::Trial],
    home: &std::path::Path,
    inventory: &Inventory,
    existing: Option<&str>,
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
    let engine = match existing {
        Some(address) => OuterEngine::connect(address, &runtimes).await,
        None => OuterEngine::start(home, &runtimes).await,
    }
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

/// Stops the outer engine once the trials are done, and says what that took.
fn stop_engine(
    rt: &tokio::runtime::Runtime,
    engine: std::sync::Arc<OuterEngine>,
    existing: Option<String>,
) -> report::EngineFigures {
    let mut figures = report::EngineFigures {
        dockerd: engine.version.clone(),
        existing,
        start_ms: engine.start_ms,
        stop_ms: None,
        imports: engine.imports(),
        reaped: engine.reaped.clone(),
        leaked_at_stop: Vec::new(),
        reload_ms: engine.reloads(),
    };
    match std::sync::Arc::try_unwrap(engine) {
        Ok(engine) => {
            let owned = engine.owned();
            let stopped = rt.block_on(engine.stop());
            figures.stop_ms = owned.then_some(stopped.stop_ms);
            figures.leaked_at_stop = stopped.leaked;
        }
        // Only the trials held other references, and they are done: dropping stops it.
        Err(shared) => drop(shared),
    }
    if figures.existing.is_none() {
        eprintln!(
            "dindcheck: outer engine: dockerd {} started in {} ms, stopped in {}",
            figures.dockerd,
            figures.start_ms,
            figures
                .stop_ms
                .map_or("?".to_string(), |ms| format!("{ms} ms"))
        );
    }
    figures
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn exit_on_second_signal(home: PathBuf) {
    use signal_hook::consts::{SIGINT, SIGTERM};
    if let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM]) {
        std::thread::spawn(move || {
            if signals.forever().next().is_some() {
                scratch::cleanup_own(&home);
                dindcheck::launch::engine::stop_own_engines();
                std::process::exit(130);
            }
        });
    }
}
