//! The `minimize` and `repair` commands as library calls: plan the one trial of the case,
//! run the search through a [`Session`], write the case file (minimize), and save the result
//! as JSON under the answers directory (`reports/answers/` by default) for the report.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::casefile::{self, CaseFileError, Header};
use super::minimize::{self, SearchError, SearchOptions};
use super::parts::config_key;
use super::repair::{self, RepairError, RepairOptions};
use super::trials::{Book, SessionTrials, Target};
use crate::case::{Case, Claimed};
use crate::report::answers::{Asked, Minimized, Repaired, SearchKind, file_name};
use crate::session::{Fault, RunOptions, Selection, Session, SessionError};
use crate::trial::plan::Trial;

/// What `minimize` and `repair` were asked.
pub struct Request {
    /// The cases directory, the one runtime and launcher, the network override.
    pub selection: Selection,
    pub home: PathBuf,
    pub case: String,
    /// `--keep`; `None`: the command's default.
    pub target: Option<Target>,
    pub jobs: usize,
    pub confirm: usize,
    /// The answers directory: results as JSON, written cases under `cases/`.
    pub out: PathBuf,
    pub on_trial: Option<super::trials::OnTrial>,
}

#[derive(Debug, thiserror::Error)]
pub enum AnswerError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("expected one case, one runtime and one launcher, which make {0} trials")]
    NotOneTrial(usize),
    #[error("{0}")]
    NotExpressible(String),
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Repair(#[from] RepairError),
    #[error(transparent)]
    CaseFile(#[from] CaseFileError),
    #[error(
        "the written case {0} resolves to another configuration than the one found: not saved as the result"
    )]
    CaseFileDiffers(PathBuf),
    #[error("failed to save {path}: {source}")]
    Save {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl AnswerError {
    /// Whose problem it is, for the exit status (`docs/usage.md`, "Exit status").
    pub fn fault(&self) -> Fault {
        match self {
            AnswerError::Session(e) => e.fault(),
            AnswerError::NotOneTrial(_) | AnswerError::NotExpressible(_) => Fault::Usage,
            AnswerError::Search(SearchError::StartFails { .. })
            | AnswerError::Repair(RepairError::AlreadyWorks { .. }) => Fault::NoAnswer,
            AnswerError::Search(SearchError::NotRun(_))
            | AnswerError::Repair(RepairError::NotRun(_))
            | AnswerError::CaseFile(_)
            | AnswerError::CaseFileDiffers(_)
            | AnswerError::Save { .. } => Fault::Host,
        }
    }
}

/// The session and the one trial of the request.
async fn prepare(req: &Request) -> Result<(Session, Trial), AnswerError> {
    let mut selection = req.selection.clone();
    selection.only = vec![req.case.clone()];
    let corpus = selection.load_cases()?;
    let planned = selection.plan(corpus, &req.home)?;
    let [trial] = planned.trials.as_slice() else {
        return Err(AnswerError::NotOneTrial(planned.trials.len()));
    };
    let mut session = Session::new(req.home.clone(), planned.inventory.clone());
    // The command line reaped what dead runs left; a search has no host checks.
    let options = RunOptions {
        reap: false,
        host_checks: false,
        ..Default::default()
    };
    let opened = session.open(&planned.trials, &options, |_| {}).await?;
    if let Some(n) = opened.not_expressible.first() {
        return Err(AnswerError::NotExpressible(format!(
            "{} is not expressible: {}",
            n.trial, n.reason
        )));
    }
    Ok((session, trial.clone()))
}

fn book<'s>(
    req: &mut Request,
    session: &'s Session,
    trial: &Trial,
    target: &Target,
) -> Book<SessionTrials<'s>> {
    let mut book = Book::new(
        SessionTrials {
            session,
            runtime: trial.runtime.clone(),
            launcher: trial.launcher,
            network: req.selection.network,
            target: target.clone(),
        },
        req.jobs,
    );
    book.on_trial = req.on_trial.take();
    book
}

/// The case with its probes narrowed to the target's (the other probes prove nothing here
/// and cost time).
fn with_target(case: &Case, target: &Target) -> Case {
    let mut c = case.clone();
    c.probes = Some(target.probes.clone());
    c
}

fn save<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> Result<PathBuf, AnswerError> {
    let path = dir.join(name);
    let json = serde_json::to_string_pretty(value).expect("a result serialises");
    std::fs::create_dir_all(dir)
        .and_then(|_| std::fs::write(&path, json + "\n"))
        .map_err(|source| AnswerError::Save {
            path: path.clone(),
            source,
        })?;
    Ok(path)
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The case, runtime, launcher, network and target of a search, as its result says them
/// (`generated`: now).
fn asked(trial: &Trial, target: &Target) -> Asked {
    Asked {
        case: trial.case.name.clone(),
        runtime: trial.runtime.name.clone(),
        launcher: trial.launcher.to_string(),
        network: trial.network.as_str().to_string(),
        target: target.names(),
        generated: now(),
    }
}

/// Stops the session whatever the search returned, then saves its result as `kind`'s file.
async fn stop_and_save<T: serde::Serialize>(
    mut session: Session,
    searched: Result<T, AnswerError>,
    out: &Path,
    kind: &str,
    trial: &Trial,
) -> Result<(T, PathBuf), AnswerError> {
    session.stop().await;
    let result = searched?;
    let name = file_name(kind, &trial.case.name, &trial.runtime.name);
    let path = save(out, &name, &result)?;
    Ok((result, path))
}

/// `dindcheck minimize` (and `--leave-one-out`). Default target: ready and `run-none` ok.
pub async fn minimize(
    mut req: Request,
    leave_one_out: bool,
) -> Result<(Minimized, PathBuf), AnswerError> {
    let started = Instant::now();
    let (session, trial) = prepare(&req).await?;
    let searched = search_minimal(&mut req, &session, &trial, leave_one_out, started).await;
    let kind = if leave_one_out {
        "leave-one-out"
    } else {
        "minimize"
    };
    stop_and_save(session, searched, &req.out, kind, &trial).await
}

/// `minimize`'s search over the session, and the case file of its result.
async fn search_minimal(
    req: &mut Request,
    session: &Session,
    trial: &Trial,
    leave_one_out: bool,
    started: Instant,
) -> Result<Minimized, AnswerError> {
    let target = req.target.clone().unwrap_or(Target {
        probes: vec![crate::case::Probe::RunNone],
    });
    let base = with_target(&trial.case, &target);
    let mut book = book(req, session, trial, &target);
    let options = SearchOptions {
        confirm: req.confirm,
    };
    let found = if leave_one_out {
        minimize::leave_one_out(&mut book, &base, options).await
    } else {
        minimize::minimize(&mut book, &base, options).await
    }?;
    let runtime = &trial.runtime.name;
    let mut confirmations = found.confirmations.clone();
    let mut case_file = None;
    if found.kind == SearchKind::Minimize {
        let name = format!("{}-minimal-{}", trial.case.name, runtime.replace('@', "-"));
        let mut result = found.result.clone();
        result.probes = trial.case.probes.clone();
        result.claimed_probes = target.probes.iter().map(|p| (*p, Claimed::Works)).collect();
        let header = Header {
            name: name.clone(),
            description: format!(
                "{} reduced by `dindcheck minimize` to {} of its {} parts on {runtime}.",
                trial.case.name,
                found.kept.len(),
                found.findings.len()
            ),
            source: format!(
                "dindcheck minimize {} --runtime {runtime} --launcher {} ({}; {} trials; target {})",
                trial.case.name,
                trial.launcher,
                now(),
                // The file's own confirmation run, next, is one more: the count the saved
                // answer and the report give (issue 24: they said one more than this file).
                book.trials.len() + 1,
                target.names().join(",")
            ),
            claim: format!(
                "The smallest recipe (1-minimal) that keeps {} on {runtime}.",
                target.names().join(" and ")
            ),
        };
        let text = casefile::text(&trial.case, &result, &header)?;
        let (path, loaded) = casefile::write_and_load(
            &req.out.join("cases"),
            &name,
            &text,
            &req.selection.cases,
            &req.selection.allow,
        )?;
        let key = |c: &Case| config_key(&with_target(c, &target), runtime, "", "");
        if key(&loaded) != key(&result) {
            return Err(AnswerError::CaseFileDiffers(path));
        }
        // The file itself, as the loader made it, runs once more: its run is a confirmation.
        let loaded = with_target(&loaded, &target);
        let ids = book
            .rerun(&[(loaded, vec!["the written case file".into()])])
            .await;
        confirmations.extend(ids.into_iter().flatten());
        case_file = Some(path.display().to_string());
    }
    let confirmed = confirmations
        .iter()
        .filter(|id| book.get(**id).pass)
        .count();
    let capabilities = found
        .result
        .capabilities
        .resolve()
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    Ok(Minimized {
        kind: found.kind,
        asked: asked(trial, &target),
        parts: found.findings,
        capabilities,
        kept: found.kept,
        stable: confirmed == confirmations.len(),
        confirmed,
        confirmations,
        case_file,
        trials: book.trials.clone(),
        memo_hits: book.memo_hits,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}

/// `dindcheck repair`. Default target: ready, and each probe the case's claim says works.
pub async fn repair(
    mut req: Request,
    max_trials: usize,
    pairs: bool,
) -> Result<(Repaired, PathBuf), AnswerError> {
    let started = Instant::now();
    let (session, trial) = prepare(&req).await?;
    let searched = search_repair(&mut req, &session, &trial, max_trials, pairs, started).await;
    stop_and_save(session, searched, &req.out, "repair", &trial).await
}

/// `repair`'s search over the session.
async fn search_repair(
    req: &mut Request,
    session: &Session,
    trial: &Trial,
    max_trials: usize,
    pairs: bool,
    started: Instant,
) -> Result<Repaired, AnswerError> {
    let target = req.target.clone().unwrap_or(Target {
        probes: trial
            .case
            .claimed_probes
            .iter()
            .filter(|(_, c)| **c == Claimed::Works)
            .map(|(p, _)| *p)
            .collect(),
    });
    let base = with_target(&trial.case, &target);
    let corpus = req.selection.load_cases()?;
    let vocabulary = repair::vocabulary(&base, &corpus.cases);
    let mut book = book(req, session, trial, &target);
    let options = RepairOptions {
        confirm: req.confirm,
        max_trials,
        pairs,
    };
    let found = repair::repair(&mut book, &base, &vocabulary, options).await?;
    Ok(Repaired {
        asked: asked(trial, &target),
        failing: book.get(found.start).observed.clone(),
        vocabulary: found.vocabulary,
        searched_pairs: found.searched_pairs,
        budget_exhausted: found.budget_exhausted,
        fixes: found.fixes,
        trials: book.trials.clone(),
        memo_hits: book.memo_hits,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
