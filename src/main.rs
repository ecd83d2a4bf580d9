//! The `dindcheck` command: a thin front end over the library. It parses the command line
//! ([`cli`]), drives a [`Session`], shows progress, and prints what the session found.

mod cli;
mod cli_answers;

use std::process::ExitCode;

use cli::{Cli, Command, Common, DoctorArgs, ImportImageArgs, ListArgs, ReportArgs, RunArgs};
use dindcheck::doctor::{self, DoctorOptions};
use dindcheck::output::OutputDir;
use dindcheck::report;
use dindcheck::session::{self, Finished, Planned, Ran, Selection, Session, SessionError, signal};

/// Exit codes: `cli::EXIT_STATUS` (docs/usage.md, "Exit status").
fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    // Errors keep their paths whole on one line, to be copied or searched for.
    let _ = miette::set_hook(Box::new(|_| {
        Box::new(miette::MietteHandlerOpts::new().wrap_lines(false).build())
    }));
    let result = match Cli::parse_with_env().command {
        Command::Run(args) => run(args),
        Command::List(args) => list(args),
        Command::Report(args) => merge_reports(args),
        Command::Doctor(args) => doctor(args),
        Command::ImportImage(args) => import_image(args),
        Command::Minimize(args) => cli_answers::minimize(args),
        Command::Repair(args) => cli_answers::repair(args),
        Command::Gaps(args) => Ok(cli_answers::gaps(args)),
    };
    result.unwrap_or_else(|e| {
        let status = cli::exit_status(e.fault());
        eprintln!("{:?}", miette::Report::new(e));
        ExitCode::from(status)
    })
}

/// The trials of the command line's selection, and whether some case files were invalid
/// (each printed with its file, line and key).
fn plan(c: &Common) -> Result<(Planned, bool), SessionError> {
    let selection = c.selection();
    let corpus = selection.load_cases()?;
    for e in &corpus.errors {
        eprintln!("{:?}", miette::Report::new(e.clone()));
    }
    let bad = !corpus.errors.is_empty();
    let planned = selection.plan(corpus, &c.home)?;
    cli::print_own_runsc(&planned.own_runsc);
    Ok((planned, bad))
}

/// Exit status 1 when `bad`, else 0.
fn failed_if(bad: bool) -> ExitCode {
    ExitCode::from(u8::from(bad))
}

fn list(args: ListArgs) -> Result<ExitCode, SessionError> {
    if args.cases_only {
        return Ok(failed_if(cli::check_cases(&args.common)?));
    }
    let (planned, bad) = plan(&args.common)?;
    let lint = session::unknown_rootfs(&planned.corpus, &planned.inventory, &args.common.only);
    lint.iter().for_each(|l| eprintln!("error: {l}"));
    cli::print_list(&planned.trials, args.json);
    Ok(failed_if(bad || !lint.is_empty()))
}

fn run(args: RunArgs) -> Result<ExitCode, SessionError> {
    let (planned, bad) = plan(&args.common)?;
    // Before any trial: a run must not find at its end that it cannot write its results.
    let out_path = args.out();
    let out = OutputDir::prepare(&out_path)?;
    let home = args.common.home.clone();
    cli::print_reaped(&session::reap(&home));
    // A trial its launcher cannot express is reported as such, never run as something else.
    let (trials, not_expressible) = session::split_expressible(&planned.trials);
    let rt = tokio::runtime::Runtime::new().map_err(SessionError::Runtime)?;
    let mut session = Session::new(home.clone(), planned.inventory.clone());
    (session.keep_scratch, session.no_probes) = (args.keep_scratch, args.no_probes);
    (session.existing_engine, session.earlier) =
        (args.engine.clone(), args.earlier.read(&out_path)?);
    let host_checks = if args.no_doctor {
        None
    } else {
        eprintln!("dindcheck: checking this host first (`dindcheck doctor --quick`)…");
        let checks = rt.block_on(async {
            tokio::select! {
                d = session.host_checks(&trials) => Some(d),
                _ = signal::shutdown() => None,
            }
        });
        let Some(d) = checks else {
            eprintln!("dindcheck: interrupted during the host checks");
            return Ok(ExitCode::from(130));
        };
        let (heading, gaps) = doctor::render::before_run(&d);
        eprintln!("dindcheck: {heading}");
        gaps.iter().for_each(|g| eprintln!("  {g}"));
        Some(d)
    };
    // A trial that this host cannot test is not run: its failure would be the host's.
    let (runnable, not_run) = match &host_checks {
        Some(d) => d.split_untestable(&trials),
        None => (trials.clone(), Vec::new()),
    };
    for n in &not_run {
        eprintln!("dindcheck: not running {}: {}", n.trial, n.reason);
    }
    // Starting the engine includes importing root filesystems (seconds each): a ^C then
    // must stop the run, not wait for the imports.
    let started = rt.block_on(async {
        tokio::select! {
            e = session.prepare(&runnable) => Some(e),
            _ = signal::shutdown() => None,
        }
    });
    let Some(prepared) = started else {
        dindcheck::launch::registry::stop_own();
        eprintln!("dindcheck: interrupted while starting the outer engine; nothing was run");
        return Ok(ExitCode::from(130));
    };
    for line in prepared?.imported {
        eprintln!("dindcheck: {line}");
    }

    let runnable = session::repeated(&runnable, args.repeat);
    let pb = cli::progress_bar(runnable.len());
    let mut ran = Ran::default();
    let interrupted = rt.block_on(async {
        let work = session.run(&runnable, args.jobs(), &mut ran, |t, r| {
            cli::progress(&pb, t, r)
        });
        tokio::select! {
            _ = work => false,
            _ = signal::shutdown() => {
                // A second ^C while the sandboxes are being removed ends the process at once,
                // still removing what it can first.
                signal::cleanup_on_signal(home.clone(), "dindcheck", Some(130));
                true
            }
        }
    });
    // Leaving the select dropped any trials still running, and with them their sandboxes.
    pb.finish_and_clear();
    let figures = rt.block_on(session.stop());
    if let Some(e) = figures.engine.as_ref().filter(|e| e.existing.is_none()) {
        let stop = e.stop_ms.map_or("?".to_string(), |ms| format!("{ms} ms"));
        eprintln!(
            "dindcheck: outer engine: dockerd {} started in {} ms, stopped in {stop}",
            e.dockerd, e.start_ms
        );
    }
    let mut results = Session::results(Finished {
        planned: &planned,
        ran,
        not_expressible,
        not_run,
        host_checks,
        figures,
        network_override: args.common.runsc_network.map(|n| n.as_str().to_string()),
        complete: !interrupted,
        baseline_dir: Some(&args.baselines),
    });
    cli::write(&mut results, &out, &out_path)?;
    eprintln!(
        "dindcheck: {} trials, report written to {}",
        results.outcomes.len(),
        out_path.join("REPORT.md").display()
    );
    if interrupted {
        eprintln!("dindcheck: interrupted; the report is marked incomplete");
        return Ok(ExitCode::from(130));
    }
    let gate_failed = cli::print_failed_conditions(&results, &args.fail_on);
    if gate_failed && !bad && results.not_run.is_empty() {
        return Ok(ExitCode::from(report::EXIT_FAIL_ON));
    }
    Ok(failed_if(bad || !results.not_run.is_empty()))
}

fn merge_reports(args: ReportArgs) -> Result<ExitCode, SessionError> {
    let out = OutputDir::prepare(&args.out)?;
    let inputs = session::read_results(&args.merge)?;
    let files = inputs.len();
    let mut merged = report::merge(inputs)?;
    cli::write(&mut merged, &out, &args.out)?;
    eprintln!(
        "dindcheck: merged {files} results files ({} trials) into {}",
        merged.outcomes.len(),
        args.out.join("REPORT.md").display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Exit codes: 0 cases can run here (perhaps with limitations the table lists), 1 they
/// cannot, 130 interrupted.
fn doctor(args: DoctorArgs) -> Result<ExitCode, SessionError> {
    cli::print_reaped(&session::reap(&args.home));
    let mut options = DoctorOptions::new(args.home.clone());
    options.quick = args.quick;
    if !args.runsc.is_empty() {
        let (extra, added) = Selection::own_runsc_only(&args.runsc, &args.home)?;
        cli::print_own_runsc(&added);
        options.extra_runsc = extra;
    }
    let rt = tokio::runtime::Runtime::new().map_err(SessionError::Runtime)?;
    let diagnosis = rt.block_on(async {
        tokio::select! {
            d = doctor::diagnose(&options) => Some(d),
            _ = signal::shutdown() => None,
        }
    });
    // Leaving the select dropped any probe still running, and with it its sandbox.
    let Some(d) = diagnosis else {
        eprintln!("dindcheck: interrupted");
        return Ok(ExitCode::from(130));
    };
    if args.json {
        let json = serde_json::to_string_pretty(&doctor::DoctorReport::new(d.clone()))
            .expect("a diagnosis serialises");
        println!("{json}");
    } else {
        print!("{}", doctor::render::table(&d, args.verbose));
    }
    Ok(failed_if(!d.can_run_cases()))
}

fn import_image(args: ImportImageArgs) -> Result<ExitCode, SessionError> {
    let rt = tokio::runtime::Runtime::new().map_err(SessionError::Runtime)?;
    let imported = rt.block_on(dindcheck::rootfs_import::import_into_inventory(
        &args.tarball,
        &args.name,
        &args.home,
    ))?;
    for line in imported.describe(&args.tarball, &args.home) {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}
