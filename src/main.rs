//! The `dindcheck` command: a thin front end over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use dindcheck::case::{self, RunscNetwork};
use dindcheck::doctor::{self, DoctorOptions};
use dindcheck::inventory::{self, Inventory};
use dindcheck::launch::scratch;
use dindcheck::outcome::Outcome;
use dindcheck::plan::{self, RunOptions};
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
    /// Diagnose this host: can it run Docker inside gVisor, and if not, why.
    Doctor(DoctorArgs),
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
    /// Skip the quick host checks (`dindcheck doctor --quick`) that run before the cases.
    #[arg(long)]
    no_doctor: bool,
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
    };
    let cases = corpus
        .runnable()
        .filter(|k| c.only.is_empty() || c.only.contains(&k.name));
    Ok((plan::plan(cases, &runtimes, &options), inventory, bad))
}

fn list(args: ListArgs) -> Result<ExitCode, String> {
    let (trials, _, bad) = prepare(&args.common)?;
    for t in &trials {
        println!("{}", t.name());
    }
    Ok(if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn run(args: RunArgs) -> Result<ExitCode, String> {
    let (trials, inventory, bad) = prepare(&args.common)?;
    let home = args.common.home.clone();
    reap(&home);
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
    let ctx = RunContext {
        home,
        inventory: inventory.clone(),
        keep_scratch: args.keep_scratch,
    };
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

    let runtimes = trials
        .iter()
        .map(|t| &t.runtime)
        .fold(Vec::new(), |mut v: Vec<_>, r| {
            if !v.contains(&r) {
                v.push(r);
            }
            v
        });
    let mut cases: Vec<CaseInfo> = Vec::new();
    for t in &trials {
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
        complete: !interrupted,
        host_checks,
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
