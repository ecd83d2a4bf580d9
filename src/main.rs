//! The `dindcheck` command: a thin front end over the library. It parses the command line
//! ([`cli`]), hands each command to the library (`run` drives a `Session`: [`cli_run`]),
//! writes what it found, and exits with its status.

mod cli;
mod cli_answers;
mod cli_print;
mod cli_run;

use std::process::ExitCode;

use cli::{Cli, Command, Common, DoctorArgs, ImportImageArgs, ListArgs, ReportArgs};
use dindcheck::doctor::{self, DoctorOptions};
use dindcheck::output::OutputDir;
use dindcheck::report;
use dindcheck::session::{self, Planned, Selection, SessionError, signal};

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
        Command::Run(args) => cli_run::run(args),
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
pub(crate) fn plan(c: &Common) -> Result<(Planned, bool), SessionError> {
    let selection = c.selection();
    let corpus = selection.load_cases()?;
    for e in &corpus.errors {
        eprintln!("{:?}", miette::Report::new(e.clone()));
    }
    let bad = !corpus.errors.is_empty();
    let planned = selection.plan(corpus, &c.home)?;
    cli_print::print_own_runsc(&planned.own_runsc);
    Ok((planned, bad))
}

/// Exit status 1 when `bad`, else 0.
pub(crate) fn failed_if(bad: bool) -> ExitCode {
    ExitCode::from(u8::from(bad))
}

fn list(args: ListArgs) -> Result<ExitCode, SessionError> {
    if args.cases_only {
        return Ok(failed_if(cli_print::check_cases(&args.common)?));
    }
    let (planned, bad) = plan(&args.common)?;
    let lint = session::unknown_rootfs(&planned.corpus, &planned.inventory, &args.common.only);
    lint.iter().for_each(|l| eprintln!("error: {l}"));
    cli_print::print_list(&planned.trials, args.json);
    Ok(failed_if(bad || !lint.is_empty()))
}

fn merge_reports(args: ReportArgs) -> Result<ExitCode, SessionError> {
    let out = OutputDir::prepare(&args.out)?;
    let inputs = session::read_results(&args.merge)?;
    let files = inputs.len();
    let mut merged = report::merge(inputs)?;
    cli_print::write(&mut merged, &out, &args.out)?;
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
    cli_print::print_reaped(&session::reap(&args.home));
    let mut options = DoctorOptions::new(args.home.clone());
    options.quick = args.quick;
    if !args.runsc.is_empty() {
        let (extra, added) = Selection::own_runsc_only(&args.runsc, &args.home)?;
        cli_print::print_own_runsc(&added);
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
