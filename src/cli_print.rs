//! What the CLI's commands print and write, apart from their clap definitions
//! (`src/cli.rs`): the trials `list` shows, the case files `list --cases-only` checks, the
//! report written as a pair, what `--fail-on`, `--runsc` and the reaping of dead runs found.

use dindcheck::inventory;
use dindcheck::own_runsc;
use dindcheck::report;
use dindcheck::session::Reaped;
use dindcheck::trial::plan::{self, Trial};

use crate::cli::Common;

/// Prints each `--fail-on` condition that held, with its trials; true if any did.
pub fn print_failed_conditions(results: &report::Results, conditions: &[report::FailOn]) -> bool {
    let failed = report::failed_conditions(results, conditions);
    for (condition, trials) in &failed {
        eprintln!(
            "dindcheck: --fail-on {}: {} trial(s): {}",
            condition.as_str(),
            trials.len(),
            trials.join(", ")
        );
    }
    !failed.is_empty()
}

/// `list --cases-only`: every invalid case file printed with its error, then the cases that
/// would run. True when some file was invalid or some `--case` name is unknown.
pub fn check_cases(common: &Common) -> Result<bool, dindcheck::session::SessionError> {
    let selection = common.selection();
    let corpus = selection.load_cases()?;
    for e in &corpus.errors {
        eprintln!("{:?}", miette::Report::new(e.clone()));
    }
    let unknown = dindcheck::case::load::unknown_names(&corpus, &common.only);
    let names: Vec<&str> = corpus.runnable().map(|c| c.name.as_str()).collect();
    for n in &unknown {
        let invalid = corpus
            .errors
            .iter()
            .any(|e| e.file.file_stem().is_some_and(|s| s == *n));
        if !invalid {
            eprintln!(
                "error: no such case: `{n}`{}",
                inventory::did_you_mean(n, &names)
            );
        }
    }
    for c in corpus.runnable() {
        if common.only.is_empty() || common.only.contains(&c.name) {
            println!("{}", c.name);
        }
    }
    Ok(!corpus.errors.is_empty() || !unknown.is_empty())
}

/// `dindcheck list`'s output: one trial per line (with why it is not run, if it is not), or
/// the same as JSON.
pub fn print_list(trials: &[Trial], json: bool) {
    let listed: Vec<plan::ListedTrial> = trials
        .iter()
        .map(|t| plan::ListedTrial {
            trial: t.name(),
            case: t.case.name.clone(),
            runtime: t.runtime.name.clone(),
            launcher: t.launcher,
            network: t.network,
            not_expressible: dindcheck::trial::launch::expressible(t).err().map(|e| e.0),
        })
        .collect();
    if json {
        let text = serde_json::to_string_pretty(&listed).expect("trials serialise");
        println!("{text}");
        return;
    }
    for t in listed {
        match t.not_expressible {
            None => println!("{}", t.trial),
            Some(why) => println!("{} (not run: {why})", t.trial),
        }
    }
}

/// `results.json` and `REPORT.md`, written as a pair, with the answers `minimize` and
/// `repair` saved in the output directory's `answers/` (read, never recomputed); without
/// any there, a merge keeps those its inputs carried.
pub fn write(
    results: &mut report::Results,
    out: &dindcheck::output::OutputDir,
    dir: &std::path::Path,
) -> Result<(), dindcheck::session::SessionError> {
    let saved = report::answers::Answers::read_dir(&dir.join(report::answers::ANSWERS_DIR));
    if !saved.is_empty() {
        results.answers = saved;
    }
    // Saved searches keep their lines: an entry added since explains them in this report.
    let catalogue = dindcheck::trial::classify::Catalogue::builtin();
    results.answers.rediagnose(catalogue);
    let explore = dir.join(report::gaps::EXPLORE_DIR);
    results.exploration = report::gaps::Exploration::read(&explore, catalogue);
    Ok(out.write_results(results)?)
}

/// What earlier dindcheck processes that were killed outright left, and was ended.
pub fn print_reaped(r: &Reaped) {
    for line in r.describe() {
        eprintln!("dindcheck: {line}");
    }
}

/// What `--runsc` made of each binary.
pub fn print_own_runsc(added: &[own_runsc::Added]) {
    for a in added {
        match &a.same_as {
            Some(known) => eprintln!(
                "dindcheck: runsc {} ({}) is the same binary as {}: runtime {}",
                a.identity.path.display(),
                a.identity.version,
                known.display(),
                a.name
            ),
            None => eprintln!(
                "dindcheck: runsc {} ({}, {} flags): runtime {}",
                a.identity.path.display(),
                a.identity.version,
                a.identity.flag_count,
                a.name
            ),
        }
    }
}
