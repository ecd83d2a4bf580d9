//! Delta debugging (Zeller and Hildebrandt's ddmin) over a list of parts, the search behind
//! `dindcheck minimize`.
//!
//! The search only asks an [`Oracle`] whether a configuration (the indices of the parts it
//! keeps) still keeps the target; it knows nothing of sandboxes, so it is tested here on
//! pure predicates. Candidates of one round are asked in batches of `jobs`, complements
//! first (the case without one chunk), then subsets (one chunk alone, when it is more than
//! one part), and the first one in
//! that order that passes is taken: a batch runs in parallel, and the result is the same as
//! asking one at a time. Complements come first because a working recipe usually needs most
//! of its parts (measured: the tutorial's needs 16 of its 17 capabilities for a nested
//! `docker run`), so a chunk alone almost never works and its trial is wasted. The result is
//! still 1-minimal: the last round removes each part alone (the complements of single
//! parts).

use std::future::Future;

/// Whether configurations keep the target. Asked for a batch at once so that its trials can
/// run in parallel; answers come back in the batch's order.
pub trait Oracle {
    fn judge(&mut self, batch: &[Vec<usize>]) -> impl Future<Output = Vec<bool>>;
}

/// What the search found: the 1-minimal configuration, and each configuration it accepted
/// on the way (the first is the whole case), in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    pub minimal: Vec<usize>,
    pub accepted: Vec<Vec<usize>>,
}

/// The error of a search that has nothing to shrink.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the case does not keep the target as it is: there is nothing to minimise")]
pub struct StartFails;

/// The first of `candidates` (in order) that the oracle passes, asking `jobs` at a time.
pub async fn first_passing<O: Oracle>(
    oracle: &mut O,
    candidates: &[Vec<usize>],
    jobs: usize,
) -> Option<Vec<usize>> {
    for batch in candidates.chunks(jobs.max(1)) {
        let verdicts = oracle.judge(batch).await;
        if let Some(i) = verdicts.iter().position(|ok| *ok) {
            return Some(batch[i].clone());
        }
    }
    None
}

/// ddmin over `n` parts: a configuration that keeps the target and from which no single
/// part can be removed without losing it (1-minimal), unless the oracle is inconsistent.
pub async fn ddmin<O: Oracle>(oracle: &mut O, n: usize, jobs: usize) -> Result<Search, StartFails> {
    let whole: Vec<usize> = (0..n).collect();
    if !oracle.judge(std::slice::from_ref(&whole)).await[0] {
        return Err(StartFails);
    }
    let mut accepted = vec![whole.clone()];
    let mut current = whole;
    let mut granularity = 2usize;
    while current.len() >= 2 {
        let chunks = split(&current, granularity);
        let mut candidates: Vec<Vec<usize>> = Vec::new();
        // With two chunks each complement is the other chunk: a subset below.
        if chunks.len() > 2 {
            candidates.extend(chunks.iter().map(|c| complement(&current, c)));
        }
        // A single part alone is a subset worth a trial only when little is left: a
        // recipe of one part is rare, and the empty configuration is tried at the end.
        candidates.extend(
            chunks
                .iter()
                .filter(|c| c.len() > 1 || current.len() <= 2)
                .cloned(),
        );
        match first_passing(oracle, &candidates, jobs).await {
            Some(found) => {
                let was_subset = chunks.contains(&found);
                current = found;
                accepted.push(current.clone());
                granularity = if was_subset {
                    2
                } else {
                    (granularity - 1).max(2)
                };
            }
            None if granularity < current.len() => {
                granularity = (granularity * 2).min(current.len());
            }
            None => break,
        }
    }
    // ddmin never tries the empty configuration; a one-part result is only minimal if its
    // part is needed.
    if current.len() == 1 && oracle.judge(&[Vec::new()]).await[0] {
        current = Vec::new();
        accepted.push(Vec::new());
    }
    Ok(Search {
        minimal: current,
        accepted,
    })
}

/// `items` in `n` chunks of nearly equal size, in order.
fn split(items: &[usize], n: usize) -> Vec<Vec<usize>> {
    let n = n.min(items.len()).max(1);
    let mut out = Vec::with_capacity(n);
    let mut start = 0;
    for i in 0..n {
        let end = start + (items.len() - start) / (n - i);
        out.push(items[start..end].to_vec());
        start = end;
    }
    out
}

fn complement(items: &[usize], chunk: &[usize]) -> Vec<usize> {
    items
        .iter()
        .copied()
        .filter(|i| !chunk.contains(i))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::trials::tests::block_on;
    use std::collections::{BTreeSet, HashMap};

    /// A pure predicate, with memoisation by configuration and a count of real "trials".
    struct Pure<F: Fn(&[usize]) -> bool> {
        keeps: F,
        memo: HashMap<Vec<usize>, bool>,
        trials: usize,
        batches: Vec<usize>,
    }

    impl<F: Fn(&[usize]) -> bool> Pure<F> {
        fn new(keeps: F) -> Self {
            Pure {
                keeps,
                memo: HashMap::new(),
                trials: 0,
                batches: Vec::new(),
            }
        }
    }

    impl<F: Fn(&[usize]) -> bool> Oracle for Pure<F> {
        async fn judge(&mut self, batch: &[Vec<usize>]) -> Vec<bool> {
            self.batches.push(batch.len());
            batch
                .iter()
                .map(|c| {
                    if let Some(v) = self.memo.get(c) {
                        return *v;
                    }
                    self.trials += 1;
                    let v = (self.keeps)(c);
                    self.memo.insert(c.clone(), v);
                    v
                })
                .collect()
        }
    }

    fn needs(required: &'static [usize]) -> impl Fn(&[usize]) -> bool {
        move |c: &[usize]| required.iter().all(|r| c.contains(r))
    }

    #[test]
    fn ddmin_finds_exactly_the_parts_a_pure_predicate_needs() {
        let mut o = Pure::new(needs(&[3, 11, 12]));
        let s = block_on(ddmin(&mut o, 17, 2)).unwrap();
        assert_eq!(s.minimal, vec![3, 11, 12]);
        assert_eq!(s.accepted.first().unwrap().len(), 17);
        assert_eq!(s.accepted.last().unwrap(), &s.minimal);
        assert!(o.trials < 17 * 4, "{} trials", o.trials);
        assert!(o.batches.iter().all(|b| *b <= 2));
    }

    #[test]
    fn the_result_is_one_minimal_for_an_either_or_predicate() {
        // Either 0 and 1, or 5: ddmin finds one of them, and no part of it can go.
        let keeps = |c: &[usize]| (c.contains(&0) && c.contains(&1)) || c.contains(&5);
        let mut o = Pure::new(keeps);
        let s = block_on(ddmin(&mut o, 8, 3)).unwrap();
        assert!(keeps(&s.minimal));
        for i in 0..s.minimal.len() {
            let mut less = s.minimal.clone();
            less.remove(i);
            assert!(!keeps(&less), "{:?} is not 1-minimal", s.minimal);
        }
    }

    #[test]
    fn nothing_needed_gives_the_empty_recipe_and_a_failing_start_is_an_error() {
        let mut o = Pure::new(|_: &[usize]| true);
        assert_eq!(
            block_on(ddmin(&mut o, 5, 2)).unwrap().minimal,
            Vec::<usize>::new()
        );
        let mut o = Pure::new(|_: &[usize]| false);
        assert_eq!(block_on(ddmin(&mut o, 5, 2)), Err(StartFails));
        assert_eq!(o.trials, 1);
    }

    #[test]
    fn a_configuration_asked_twice_is_tried_once() {
        let mut o = Pure::new(needs(&[2]));
        let s = block_on(ddmin(&mut o, 6, 1)).unwrap();
        assert_eq!(s.minimal, vec![2]);
        let asked: usize = o.batches.iter().sum();
        let distinct: BTreeSet<_> = o.memo.keys().collect();
        assert_eq!(o.trials, distinct.len());
        // Asking again for what was already tried costs no trial.
        let before = o.trials;
        block_on(o.judge(&[vec![2], (0..6).collect()]));
        assert_eq!(o.trials, before);
        assert!(asked >= o.trials);
    }

    #[test]
    fn chunks_cover_the_items_in_order() {
        assert_eq!(split(&[1, 2, 3, 4, 5], 2), vec![vec![1, 2], vec![3, 4, 5]]);
        assert_eq!(split(&[1, 2], 5), vec![vec![1], vec![2]]);
    }
}
