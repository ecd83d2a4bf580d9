//! `dindcheck run`: the command line made into a [`Session::drive`], what it tells shown as
//! it happens (progress, each finished trial), the results written, and the exit status.

use std::process::ExitCode;

use indicatif::ProgressBar;

use dindcheck::doctor;
use dindcheck::output::OutputDir;
use dindcheck::report;
use dindcheck::session::{Driven, Event, RunOptions, Session, SessionError, Stage, signal};
use dindcheck::trial::plan::Trial;
use dindcheck::trial::run::{TrialError, TrialResult};

use crate::cli::RunArgs;
use crate::cli_print;

/// Exit codes: `cli::EXIT_STATUS` (docs/usage.md, "Exit status").
pub fn run(args: RunArgs) -> Result<ExitCode, SessionError> {
    let (planned, bad) = crate::plan(&args.common)?;
    // Before any trial: a run must not find at its end that it cannot write its results.
    let out_path = args.out();
    let out = OutputDir::prepare(&out_path)?;
    let home = args.common.home.clone();
    let rt = tokio::runtime::Runtime::new().map_err(SessionError::Runtime)?;
    let mut session = Session::new(home.clone(), planned.inventory.clone());
    (session.keep_scratch, session.no_probes) = (args.keep_scratch, args.no_probes);
    (session.existing_engine, session.earlier) =
        (args.engine.clone(), args.earlier.read(&out_path)?);
    let options = RunOptions {
        reap: true,
        host_checks: !args.no_doctor,
        repeat: args.repeat,
        jobs: args.jobs(),
    };
    let mut pb = None;
    let driven = rt.block_on(session.drive(
        &planned.trials,
        &options,
        signal::shutdown(),
        |event| show(event, &mut pb, &home),
    ))?;
    let run = match driven {
        Driven::Interrupted(Stage::HostChecks) => {
            eprintln!("dindcheck: interrupted during the host checks");
            return Ok(ExitCode::from(130));
        }
        Driven::Interrupted(Stage::Prepare) => {
            eprintln!("dindcheck: interrupted while starting the outer engine; nothing was run");
            return Ok(ExitCode::from(130));
        }
        Driven::Ran(run) => run,
    };
    let interrupted = !run.complete;
    let network = args.common.runsc_network.map(|n| n.as_str().to_string());
    let mut results = run.results(&planned, network, Some(&args.baselines));
    cli_print::write(&mut results, &out, &out_path)?;
    eprintln!(
        "dindcheck: {} trials, report written to {}",
        results.outcomes.len(),
        out_path.join("REPORT.md").display()
    );
    if interrupted {
        eprintln!("dindcheck: interrupted; the report is marked incomplete");
        return Ok(ExitCode::from(130));
    }
    let gate_failed = cli_print::print_failed_conditions(&results, &args.fail_on);
    if gate_failed && !bad && results.not_run.is_empty() {
        return Ok(ExitCode::from(report::EXIT_FAIL_ON));
    }
    Ok(crate::failed_if(bad || !results.not_run.is_empty()))
}

/// What the run tells, on stderr; `pb` is the progress bar while the trials run.
fn show(event: Event<'_>, pb: &mut Option<ProgressBar>, home: &std::path::Path) {
    match event {
        Event::Reaped(r) => cli_print::print_reaped(r),
        Event::CheckingHost => {
            eprintln!("dindcheck: checking this host first (`dindcheck doctor --quick`)…")
        }
        Event::HostChecked(d) => {
            let (heading, gaps) = doctor::render::before_run(d);
            eprintln!("dindcheck: {heading}");
            gaps.iter().for_each(|g| eprintln!("  {g}"));
        }
        Event::NotRunning(n) => eprintln!("dindcheck: not running {}: {}", n.trial, n.reason),
        Event::Preparing => {}
        Event::Prepared(p) => p.imported.iter().for_each(|l| eprintln!("dindcheck: {l}")),
        Event::Running(n) => *pb = Some(progress_bar(n)),
        Event::Finished(t, r) => {
            if let Some(pb) = pb {
                progress(pb, t, r)
            }
        }
        // A second signal while the sandboxes are being removed ends the process at once,
        // still removing what it can first.
        Event::Interrupted => signal::cleanup_on_signal(home.to_path_buf(), "dindcheck", Some(130)),
        Event::Stopped(figures) => {
            if let Some(pb) = pb.take() {
                pb.finish_and_clear();
            }
            if let Some(e) = figures.engine.as_ref().filter(|e| e.existing.is_none()) {
                let stop = e.stop_ms.map_or("?".to_string(), |ms| format!("{ms} ms"));
                eprintln!(
                    "dindcheck: outer engine: dockerd {} started in {} ms, stopped in {stop}",
                    e.dockerd, e.start_ms
                );
            }
        }
    }
}

/// One line per finished trial: above the progress bar on a terminal, numbered otherwise.
fn progress(pb: &ProgressBar, t: &Trial, r: &Result<TrialResult, TrialError>) {
    let line = match r {
        Ok(res) => format!("{}: {}", t.name(), report::summary_line(&res.outcome)),
        Err(e) => format!("{}: not run: {e}", t.name()),
    };
    if pb.is_hidden() {
        let (done, all) = (pb.position() + 1, pb.length().unwrap_or(0));
        eprintln!("[{done}/{all}] {line}");
    } else {
        pb.println(line);
    }
    pb.inc(1);
}

/// The progress bar of a run of `trials` trials (hidden when stderr is not a terminal).
fn progress_bar(trials: usize) -> ProgressBar {
    let pb = ProgressBar::new(trials as u64);
    pb.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}",
        )
        .expect("a valid template"),
    );
    pb
}
