//! Gathering what a run had and did into [`Results`]: runtimes, cases and launchers in the
//! plan's order, each outcome against its baseline, each claim judged.

use std::path::Path;

use super::claims::judge_all;
use super::results::{BaselineStatus, CaseInfo, NotRun, Results, RuntimeInfo, SCHEMA_VERSION};
use crate::trial::launch::Launcher;
use crate::trial::outcome::Outcome;

/// What a run had and did, gathered into [`Results`].
pub struct RunRecord<'a> {
    pub trials: &'a [crate::trial::plan::Trial],
    pub corpus: &'a crate::case::Corpus,
    pub inventory: &'a crate::inventory::Inventory,
    pub outcomes: Vec<Outcome>,
    pub not_run: Vec<NotRun>,
    pub network_override: Option<String>,
    pub complete: bool,
    /// The baseline directory to compare outcomes with, if any.
    pub baseline_dir: Option<&'a Path>,
}

impl Results {
    pub fn from_run(run: RunRecord) -> Results {
        let mut runtimes: Vec<RuntimeInfo> = Vec::new();
        let mut cases: Vec<CaseInfo> = Vec::new();
        let mut launchers: Vec<Launcher> = Vec::new();
        for t in run.trials {
            if !launchers.contains(&t.launcher) {
                launchers.push(t.launcher);
            }
            if !runtimes.iter().any(|r| r.name == t.runtime.name) {
                let version = run
                    .inventory
                    .runsc
                    .iter()
                    .find(|b| b.release == t.runtime.release)
                    .map_or("?", |b| b.package_version.as_str());
                runtimes.push(RuntimeInfo::from_runtime(&t.runtime, version));
            }
            if !cases.iter().any(|c| c.name == t.case.name) {
                let parent = t.case.extend.as_deref().and_then(|p| run.corpus.get(p));
                cases.push(CaseInfo::from_case(&t.case, parent));
            }
        }
        let baselines = match run.baseline_dir {
            Some(dir) if dir.is_dir() => run
                .trials
                .iter()
                .filter_map(|t| {
                    let o = run.outcomes.iter().find(|o| o.trial == t.name())?;
                    let name = crate::gate::trial_baseline_name(t, run.inventory)?;
                    Some(BaselineStatus {
                        trial: t.name(),
                        comparison: crate::gate::compare(dir, &name, o),
                        baseline: name,
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        let mut results = Results {
            schema: SCHEMA_VERSION,
            // RFC 3339, to the second, in UTC.
            generated: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            dindcheck_version: env!("CARGO_PKG_VERSION").into(),
            host_kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            network_override: run.network_override,
            runtimes,
            // The root filesystems the run's trials used, not every one installed: a report
            // describes its run (and one installed meanwhile, a test's import, stays out).
            rootfs: (run.inventory.rootfs.iter())
                .filter(|fs| run.trials.iter().any(|t| t.case.rootfs == fs.name))
                .cloned()
                .collect(),
            cases,
            outcomes: run.outcomes,
            not_run: run.not_run,
            complete: run.complete,
            baselines,
            launchers,
            not_expressible: Vec::new(),
            leaked: Vec::new(),
            engine: None,
            host_checks: None,
            claims: Vec::new(),
            stability: Vec::new(),
            merged_from: Vec::new(),
            disagreements: Vec::new(),
            answers: Default::default(),
            exploration: None,
        };
        results.claims = judge_all(&results);
        results
    }
}
