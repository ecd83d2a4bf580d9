//! Many trials at once: how many when the user does not say ([`default_jobs`]), and running
//! them with bounded concurrency ([`run_all`]), each through the one trial flow
//! ([`crate::trial::run::run_trial`]).

use futures_util::StreamExt;

use crate::trial::plan::Trial;
use crate::trial::run::{RunContext, TrialError, TrialResult, run_trial};

/// How many trials to run at once when the user does not say: three per CPU core (a trial
/// spends part of its time waiting: on its sandbox's start and teardown, on dockerd's exit,
/// on a network probe's peer; on 2 cores the default run took 187.6 s at 4 jobs, 172.6 s at
/// 6 and 173.5 s at 8, reports/BENCH.md), and no more than the available memory holds at
/// each sandbox's limit.
pub fn default_jobs() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let wanted = 3 * cores;
    let per_sandbox = crate::trial::launch::bundle::SANDBOX_MEMORY_BYTES as u64;
    let fits = crate::trial::launch::procfs::mem_available()
        .map_or(wanted, |bytes| (bytes / per_sandbox) as usize);
    wanted.min(fits).max(1)
}

/// Runs `trials` with at most `jobs` at once, calling `on_done` as each finishes. Results come
/// back in the order of `trials`.
pub async fn run_all<F>(
    trials: &[Trial],
    ctx: &RunContext,
    jobs: usize,
    mut on_done: F,
) -> Vec<(Trial, Result<TrialResult, TrialError>)>
where
    F: FnMut(&Trial, &Result<TrialResult, TrialError>),
{
    let mut results: Vec<_> = futures_util::stream::iter(trials.iter().enumerate())
        .map(|(i, t)| async move { (i, t.clone(), run_trial(t, ctx).await) })
        .buffer_unordered(jobs.max(1))
        .inspect(|(_, t, r)| on_done(t, r))
        .collect()
        .await;
    results.sort_by_key(|(i, _, _)| *i);
    results.into_iter().map(|(_, t, r)| (t, r)).collect()
}
