//! The `minimize` and `repair` commands: the command line made into a request, the search
//! run until done or interrupted, and what it found printed. The work is the library's
//! (`dindcheck::answers`). And `gaps`, the catalogue measured over what they (and runs) saved
//! (`dindcheck::report::gaps`).

use std::process::ExitCode;

use dindcheck::answers::command::{self, AnswerError, Request};
use dindcheck::answers::render;
use dindcheck::report::gaps::{self, Saved};
use dindcheck::session::{self, Selection, SessionError, signal};
use dindcheck::trial::classify::Catalogue;

use crate::cli::{AnswerArgs, GapsArgs, MinimizeArgs, RepairArgs};

fn request(a: &AnswerArgs) -> Request {
    Request {
        selection: Selection {
            cases: a.cases.clone(),
            runtimes: vec![a.runtime.clone()],
            network: a.runsc_network,
            launchers: vec![a.launcher],
            runsc: a.runsc.clone(),
            allow: a.allow.clone(),
            ..Default::default()
        },
        home: a.home.clone(),
        case: a.case.clone(),
        target: a.keep.clone(),
        jobs: a.jobs,
        confirm: a.confirm as usize,
        out: a.out.clone(),
        on_trial: Some(Box::new(|t| {
            eprintln!("dindcheck: {}", render::trial_line(t))
        })),
    }
}

/// Runs `work` until it is done or a signal stops it (then the sandboxes are removed, and
/// the exit status is 130).
fn drive<T>(
    a: &AnswerArgs,
    work: impl std::future::Future<Output = Result<T, AnswerError>>,
) -> Result<Option<Result<T, AnswerError>>, SessionError> {
    crate::cli_print::print_reaped(&session::reap(&a.home));
    let rt = tokio::runtime::Runtime::new().map_err(SessionError::Runtime)?;
    let home = a.home.clone();
    Ok(rt.block_on(async {
        tokio::select! {
            r = work => Some(r),
            _ = signal::shutdown() => {
                signal::cleanup_on_signal(home, "dindcheck", Some(130));
                None
            }
        }
    }))
}

fn finish<T>(
    done: Option<Result<(T, std::path::PathBuf), AnswerError>>,
    show: impl Fn(&T) -> (String, bool),
) -> ExitCode {
    match done {
        None => {
            dindcheck::trial::launch::registry::stop_own();
            eprintln!("dindcheck: interrupted; nothing was saved");
            ExitCode::from(130)
        }
        Some(Err(e)) => {
            eprintln!("dindcheck: {e}");
            ExitCode::from(crate::cli::exit_status(e.fault()))
        }
        Some(Ok((found, path))) => {
            let (text, answered) = show(&found);
            print!("{text}");
            println!("saved: {}", path.display());
            ExitCode::from(u8::from(!answered))
        }
    }
}

/// Exit status: 0 a stable recipe was found (or measured), 1 it is flaky, 5 no answer (the
/// case fails as it is), 4 a trial could not run, 130 interrupted (`cli::EXIT_STATUS`).
pub fn minimize(args: MinimizeArgs) -> Result<ExitCode, SessionError> {
    let a = &args.answer;
    let done = drive(a, command::minimize(request(a), args.leave_one_out))?;
    Ok(finish(done, |m| (render::minimized(m), m.stable)))
}

/// Exit status: 0 some change fixes the case, 1 none found, 5 no answer (the case already
/// works), 4 a trial could not run, 130 interrupted (`cli::EXIT_STATUS`).
pub fn repair(args: RepairArgs) -> Result<ExitCode, SessionError> {
    let a = &args.answer;
    let done = drive(a, command::repair(request(a), args.max_trials, args.pairs))?;
    Ok(finish(done, |r| (render::repaired(r), !r.fixes.is_empty())))
}

/// Exit status: 0 the saved results were read (whatever the catalogue explains), 2 one
/// could not be.
pub fn gaps(args: GapsArgs) -> ExitCode {
    let saved = match Saved::read(&args.saved) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{:?}", miette::Report::new(e));
            return ExitCode::from(2);
        }
    };
    let gaps = saved.gaps(Catalogue::builtin());
    if args.json {
        let json = serde_json::to_string_pretty(&gaps).expect("gaps serialise");
        println!("{json}");
    } else {
        print!("{}", gaps::render(&gaps, args.all));
    }
    ExitCode::SUCCESS
}
