//! `dindcheck minimize`: the smallest recipe that keeps the target (ddmin over the case's
//! parts), confirmed by re-runs, with the trial that proves each part removed or kept; and
//! its `--leave-one-out` mode, each part of the case removed alone.

use std::collections::BTreeSet;

use super::ddmin::{self, Oracle};
use super::parts::{Part, keep_only, parts};
use super::trials::{Book, Experiment};
use crate::case::Case;
use crate::report::answers::{PartFinding, PartStatus, SearchKind};

/// How a search runs.
#[derive(Clone, Copy, Debug)]
pub struct SearchOptions {
    /// Runs of the result (minimize) or of the whole case (leave-one-out) to confirm it; a
    /// part's decisive trial is run twice when this is 2 or more.
    pub confirm: usize,
}

/// What a search concluded, before it is dressed as a saved result.
#[derive(Debug)]
pub struct Found {
    pub kind: SearchKind,
    pub findings: Vec<PartFinding>,
    /// The result: `case` with only the kept parts (leave-one-out: the case).
    pub result: Case,
    pub kept: Vec<Part>,
    pub confirmations: Vec<usize>,
    pub confirmed: usize,
}

/// Why a search could not say anything.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error(
        "{case} does not keep the target as it is (trial 1: {observed}): there is nothing to minimise; try `dindcheck repair`"
    )]
    StartFails { case: String, observed: String },
    #[error("a trial could not be attempted, so the search stopped: {0}")]
    NotRun(String),
}

/// ddmin's oracle over the parts of `base`: a configuration is the parts it keeps.
struct PartsOracle<'b, E> {
    book: &'b mut Book<E>,
    base: &'b Case,
    parts: &'b [Part],
}

impl<E: Experiment> PartsOracle<'_, E> {
    fn candidate(&self, kept: &[usize]) -> (Case, Vec<String>) {
        let set: BTreeSet<Part> = kept.iter().map(|i| self.parts[*i].clone()).collect();
        let removed = self
            .parts
            .iter()
            .filter(|p| !set.contains(p))
            .map(|p| format!("without {p}"))
            .collect();
        (keep_only(self.base, &set), removed)
    }
}

impl<E: Experiment> Oracle for PartsOracle<'_, E> {
    /// A configuration keeps the target when every trial of it did, and it ran at least
    /// twice: one that passed once is run again before the search may shrink on it, so a
    /// flaky pass never removes a part.
    async fn judge(&mut self, batch: &[Vec<usize>]) -> Vec<bool> {
        let candidates: Vec<_> = batch.iter().map(|k| self.candidate(k)).collect();
        self.book.try_all(&candidates).await;
        let unconfirmed: Vec<_> = candidates
            .iter()
            .filter(|(c, _)| {
                let runs = self.book.runs_of(c);
                runs.len() == 1 && self.book.passed(runs.first().copied())
            })
            .cloned()
            .collect();
        self.book.rerun(&unconfirmed).await;
        candidates
            .iter()
            .map(|(c, _)| {
                let runs = self.book.runs_of(c);
                !runs.is_empty() && runs.iter().all(|id| self.book.passed(Some(*id)))
            })
            .collect()
    }
}

/// ddmin over every part of `base` (whose probes are already the target's), then the
/// confirmation: the result re-run `confirm` times, and each kept part's removal run again.
pub async fn minimize<E: Experiment>(
    book: &mut Book<E>,
    base: &Case,
    options: SearchOptions,
) -> Result<Found, SearchError> {
    let all = parts(base);
    let jobs = book.jobs;
    let mut oracle = PartsOracle {
        book,
        base,
        parts: &all,
    };
    let search = ddmin::ddmin(&mut oracle, all.len(), jobs).await;
    let fault = |b: &Book<E>| b.fault.clone().map(SearchError::NotRun);
    let search = match search {
        Ok(s) => s,
        Err(_) => {
            if let Some(f) = fault(book) {
                return Err(f);
            }
            return Err(SearchError::StartFails {
                case: base.name.clone(),
                observed: book.get(1).observed.clone(),
            });
        }
    };
    if let Some(f) = fault(book) {
        return Err(f);
    }
    let oracle = PartsOracle {
        book,
        base,
        parts: &all,
    };
    let minimal = oracle.candidate(&search.minimal);
    // Each kept part's removal, from the result: ddmin's last round tried most of them.
    let without: Vec<(Case, Vec<String>)> = search
        .minimal
        .iter()
        .map(|i| {
            let rest: Vec<usize> = search.minimal.iter().copied().filter(|j| j != i).collect();
            oracle.candidate(&rest)
        })
        .collect();
    // The trial that accepted each removal, and the configuration before each acceptance.
    let accepted: Vec<(Vec<usize>, Option<usize>)> = search
        .accepted
        .iter()
        .map(|k| (k.clone(), oracle.book.known(&oracle.candidate(k).0)))
        .collect();
    let book = oracle.book;
    book.try_all(&without).await;
    let confirmations = confirm(book, &minimal, &without, options.confirm).await;
    if let Some(f) = fault(book) {
        return Err(f);
    }
    let mut findings = Vec::new();
    for (i, part) in all.iter().enumerate() {
        if let Some(pos) = search.minimal.iter().position(|j| *j == i) {
            findings.push(judged(book, part, book.runs_of(&without[pos].0)));
        } else {
            let (_, id) = accepted
                .iter()
                .find(|(k, _)| !k.contains(&i))
                .expect("a removed part left in some accepted configuration");
            let id = id.expect("every accepted configuration was a trial");
            let t = book.get(id);
            let others = all.len()
                - accepted
                    .iter()
                    .find(|(k, _)| !k.contains(&i))
                    .map_or(0, |(k, _)| k.len())
                - 1;
            findings.push(PartFinding {
                part: part.clone(),
                status: PartStatus::NotNeeded,
                trials: vec![id],
                evidence: format!(
                    "removed: trial {id} without it and {others} other parts: {}",
                    t.observed
                ),
            });
        }
    }
    let confirmed = confirmations
        .iter()
        .filter(|id| book.get(**id).pass)
        .count();
    Ok(Found {
        kind: SearchKind::Minimize,
        findings,
        result: minimal.0,
        kept: search.minimal.iter().map(|i| all[*i].clone()).collect(),
        confirmations,
        confirmed,
    })
}

/// Each part of `base` removed alone, each removal run twice when `confirm` is 2 or more,
/// and the whole case `confirm` times.
pub async fn leave_one_out<E: Experiment>(
    book: &mut Book<E>,
    base: &Case,
    options: SearchOptions,
) -> Result<Found, SearchError> {
    let all = parts(base);
    let every: Vec<usize> = (0..all.len()).collect();
    let oracle = PartsOracle {
        book,
        base,
        parts: &all,
    };
    let whole = oracle.candidate(&every);
    let without: Vec<(Case, Vec<String>)> = (0..all.len())
        .map(|i| {
            let rest: Vec<usize> = every.iter().copied().filter(|j| *j != i).collect();
            oracle.candidate(&rest)
        })
        .collect();
    let book = oracle.book;
    book.try_all(std::slice::from_ref(&whole)).await;
    book.try_all(&without).await;
    let confirmations = confirm(book, &whole, &without, options.confirm).await;
    if let Some(f) = book.fault.clone() {
        return Err(SearchError::NotRun(f));
    }
    let findings = all
        .iter()
        .enumerate()
        .map(|(i, part)| judged(book, part, book.runs_of(&without[i].0)))
        .collect();
    let confirmed = confirmations
        .iter()
        .filter(|id| book.get(**id).pass)
        .count();
    Ok(Found {
        kind: SearchKind::LeaveOneOut,
        findings,
        result: whole.0,
        kept: all,
        confirmations,
        confirmed,
    })
}

/// Re-runs `result` `times` times and, when `times` is 2 or more, each of `without` once
/// more, all in one parallel batch. Returns the result's re-runs.
async fn confirm<E: Experiment>(
    book: &mut Book<E>,
    result: &(Case, Vec<String>),
    without: &[(Case, Vec<String>)],
    times: usize,
) -> Vec<usize> {
    let mut batch: Vec<(Case, Vec<String>)> = vec![result.clone(); times];
    if times >= 2 {
        batch.extend(without.iter().cloned());
    }
    let ids = book.rerun(&batch).await;
    ids[..times.min(ids.len())]
        .iter()
        .flatten()
        .copied()
        .collect()
}

/// A part judged by the trials without it: needed when all lost the target, not needed when
/// all kept it, flaky when they disagree.
fn judged<E: Experiment>(book: &Book<E>, part: &Part, trials: Vec<usize>) -> PartFinding {
    let passes = trials.iter().filter(|id| book.get(**id).pass).count();
    let status = match passes {
        0 => PartStatus::Needed,
        n if n == trials.len() => PartStatus::NotNeeded,
        _ => PartStatus::Flaky,
    };
    let ids: Vec<String> = trials.iter().map(|id| id.to_string()).collect();
    let evidence = match status {
        PartStatus::Flaky => {
            let seen: Vec<String> = trials
                .iter()
                .map(|id| format!("trial {id}: {}", book.get(*id).observed))
                .collect();
            format!("without it, flaky: {}", seen.join("; "))
        }
        _ => {
            let t = book.get(trials[0]);
            // The line says more than the catalogue where no entry names it yet; whole, for
            // its cause is often at its end.
            let line = match (&t.line, t.pass) {
                (Some(l), false) => format!(": {l}"),
                _ => String::new(),
            };
            format!(
                "without it: {}{line} (trial {})",
                t.observed,
                ids.join(", ")
            )
        }
    };
    PartFinding {
        part: part.clone(),
        status,
        trials,
        evidence,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::trials::tests::{Pure, block_on, keeping};
    use std::cell::Cell;

    fn case() -> Case {
        toml::from_str(
            r#"
            name = "c"
            rootfs = "bookworm"
            [capabilities]
            base = "docker-17"
            [dockerd]
            args = ["--iptables=false", "--bridge=none"]
            [runsc]
            flags = ["--net-raw"]
            "#,
        )
        .unwrap()
    }

    fn has_cap(c: &Case, name: &str) -> bool {
        c.capabilities.resolve().iter().any(|n| n.as_str() == name)
    }

    #[test]
    fn minimize_keeps_what_the_predicate_needs_and_cites_a_trial_for_every_part() {
        let keeps =
            |c: &Case| has_cap(c, "SYS_ADMIN") && c.dockerd.args.contains(&"--bridge=none".into());
        let exp = keeping(keeps);
        let mut book = Book::new(exp, 2);
        let found = block_on(minimize(&mut book, &case(), SearchOptions { confirm: 3 })).unwrap();
        assert_eq!(
            found.kept,
            [
                Part::Capability("SYS_ADMIN".into()),
                Part::DockerdArg("--bridge=none".into())
            ]
        );
        assert_eq!(found.findings.len(), 20);
        assert!(found.findings.iter().all(|f| !f.trials.is_empty()));
        assert_eq!(found.confirmed, 3);
        let needed: Vec<_> = found
            .findings
            .iter()
            .filter(|f| f.status == PartStatus::Needed)
            .collect();
        assert_eq!(needed.len(), 2);
        // Memoised: the number of trials is the number of distinct configurations plus the
        // re-runs, and far fewer than every subset.
        let fresh = book.trials.iter().filter(|t| !t.rerun).count();
        assert_eq!(book.experiment.runs.get(), book.trials.len());
        assert!(fresh < 60, "{fresh} trials");
        assert!(book.memo_hits > 0);
    }

    #[test]
    fn a_part_whose_removal_answers_both_ways_is_flaky_and_kept() {
        // Without CAP_CHOWN the recipe sometimes works: it must not be removed on that.
        let keeps = |c: &Case| has_cap(c, "SYS_ADMIN") && has_cap(c, "CHOWN");
        let flaky = |c: &Case| {
            has_cap(c, "SYS_ADMIN") && !has_cap(c, "CHOWN") && c.capabilities.resolve().len() == 1
        };
        let exp = Pure {
            keeps,
            flaky,
            runs: Cell::new(1),
            flaky_runs: Cell::new(0),
        };
        let mut book = Book::new(exp, 1);
        let found = block_on(minimize(&mut book, &case(), SearchOptions { confirm: 3 })).unwrap();
        let chown = found
            .findings
            .iter()
            .find(|f| f.part == Part::Capability("CHOWN".into()))
            .unwrap();
        assert_eq!(chown.status, PartStatus::Flaky, "{chown:?}");
        assert!(found.kept.contains(&Part::Capability("CHOWN".into())));
        assert!(chown.evidence.contains("flaky"));
    }

    #[test]
    fn leave_one_out_measures_each_part_of_the_case() {
        let keeps = |c: &Case| c.runsc.flags.is_empty() || has_cap(c, "NET_RAW");
        let exp = keeping(keeps);
        let mut book = Book::new(exp, 2);
        let found = block_on(leave_one_out(
            &mut book,
            &case(),
            SearchOptions { confirm: 1 },
        ))
        .unwrap();
        let needed: Vec<_> = found
            .findings
            .iter()
            .filter(|f| f.status == PartStatus::Needed)
            .map(|f| f.part.clone())
            .collect();
        assert_eq!(needed, [Part::Capability("NET_RAW".into())]);
        assert_eq!(book.trials.len(), 1 + 20 + 1);
    }

    #[test]
    fn a_case_that_fails_as_it_is_has_nothing_to_minimise() {
        let exp = keeping(|_: &Case| false);
        let mut book = Book::new(exp, 2);
        let err = block_on(minimize(&mut book, &case(), SearchOptions { confirm: 3 })).unwrap_err();
        assert!(
            err.to_string().contains("does not keep the target"),
            "{err}"
        );
    }
}
