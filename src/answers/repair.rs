//! `dindcheck repair`: the neighbours of a failing recipe, one change at a time and then
//! pairs, drawn from the changes the corpus itself makes (its cgroup modes, capability
//! bases and additions, dockerd arguments, runsc flags, mounts, setup scripts, `daemon.json`
//! files, environment and spec edits), and the ones that make it keep its target.

use std::collections::BTreeMap;

use super::parts::arg_groups;
use super::trials::{Book, Experiment};
use crate::case::capability::CapabilityName;
use crate::case::{CapabilityBase, Case, CgroupMode, Mount, SpecEdit};
use crate::report::answers::Fix;

/// One change to a recipe.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    Cgroup(CgroupMode),
    CapabilityBase(CapabilityBase),
    AddCapability(CapabilityName),
    /// Adds the option (with its value words), or replaces the one of the same `--name`.
    DockerdArg(Vec<String>),
    DropDockerdArg(Vec<String>),
    RunscFlag(String),
    DropRunscFlag(String),
    Mount(Mount),
    DropMount(String),
    /// The setup script of the named case.
    Setup {
        from: String,
        script: String,
    },
    NoSetup,
    /// The `daemon.json` of the named case.
    DaemonJson {
        from: String,
        json: toml::Table,
    },
    NoDaemonJson,
    Env(String, String),
    DropEnv(String),
    SpecEdit(SpecEdit),
    DropSpecEdit(SpecEdit),
    /// `runsc.uplink_offload`: whether the host hands the sandbox coalesced frames.
    UplinkOffload(bool),
}

fn quoted<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Change::Cgroup(m) => write!(f, "cgroup = {}", quoted(m)),
            Change::CapabilityBase(b) => write!(f, "capabilities.base = {}", quoted(b)),
            Change::AddCapability(c) => write!(f, "+ capability CAP_{}", c.as_str()),
            Change::DockerdArg(a) => write!(f, "+ dockerd {}", a.join(" ")),
            Change::DropDockerdArg(a) => write!(f, "- dockerd {}", a.join(" ")),
            Change::RunscFlag(x) => write!(f, "+ runsc {x}"),
            Change::DropRunscFlag(x) => write!(f, "- runsc {x}"),
            Change::Mount(m) => write!(
                f,
                "+ mount {} {}",
                quoted(&m.kind).trim_matches('"'),
                m.destination.display()
            ),
            Change::DropMount(d) => write!(f, "- mount {d}"),
            Change::Setup { from, .. } => write!(f, "setup of {from}"),
            Change::NoSetup => write!(f, "no setup"),
            Change::DaemonJson { from, .. } => write!(f, "daemon.json of {from}"),
            Change::NoDaemonJson => write!(f, "no daemon.json"),
            Change::Env(k, v) => write!(f, "+ env {k}={v}"),
            Change::UplinkOffload(on) => write!(f, "runsc.uplink_offload = {on}"),
            Change::DropEnv(k) => write!(f, "- env {k}"),
            Change::SpecEdit(e) => write!(f, "+ spec edit {}", quoted(e).trim_matches('"')),
            Change::DropSpecEdit(e) => write!(f, "- spec edit {}", quoted(e).trim_matches('"')),
        }
    }
}

/// What a change touches: two changes of one slot are not a pair.
fn slot(c: &Change) -> String {
    match c {
        Change::Cgroup(_) => "cgroup".into(),
        Change::CapabilityBase(_) => "capabilities.base".into(),
        Change::Setup { .. } | Change::NoSetup => "setup".into(),
        Change::DaemonJson { .. } | Change::NoDaemonJson => "daemon.json".into(),
        Change::DockerdArg(a) | Change::DropDockerdArg(a) => format!("dockerd {}", arg_name(&a[0])),
        Change::RunscFlag(a) | Change::DropRunscFlag(a) => format!("runsc {}", arg_name(a)),
        Change::Mount(m) => format!("mount {}", m.destination.display()),
        Change::DropMount(d) => format!("mount {d}"),
        Change::Env(k, _) | Change::DropEnv(k) => format!("env {k}"),
        other => other.to_string(),
    }
}

/// `--name` of `--name=value`.
fn arg_name(a: &str) -> &str {
    a.split_once('=').map_or(a, |(n, _)| n)
}

/// The changes the corpus makes that `case` does not have, and the removal of each thing
/// `case` has: the vocabulary of its neighbours, in a fixed order.
pub fn vocabulary(case: &Case, corpus: &[Case]) -> Vec<Change> {
    let mut v: Vec<Change> = Vec::new();
    let push = |c: Change, v: &mut Vec<Change>| {
        if !v.contains(&c) {
            v.push(c);
        }
    };
    let caps = case.capabilities.resolve();
    for other in corpus {
        if other.cgroup != case.cgroup {
            push(Change::Cgroup(other.cgroup), &mut v);
        }
        if other.capabilities.base != case.capabilities.base {
            push(Change::CapabilityBase(other.capabilities.base), &mut v);
        }
        for c in other.capabilities.add.iter().filter(|c| !caps.contains(*c)) {
            push(Change::AddCapability(c.clone()), &mut v);
        }
    }
    let mut setups: BTreeMap<&str, &str> = BTreeMap::new();
    for other in corpus {
        let own = arg_groups(&case.dockerd.args);
        for g in arg_groups(&other.dockerd.args)
            .into_iter()
            .filter(|g| !own.contains(g))
        {
            push(Change::DockerdArg(g), &mut v);
        }
        for x in other
            .runsc
            .flags
            .iter()
            .filter(|x| !case.runsc.flags.contains(x))
        {
            push(Change::RunscFlag(x.clone()), &mut v);
        }
        for m in other.mounts.iter().filter(|m| !case.mounts.contains(m)) {
            push(Change::Mount(m.clone()), &mut v);
        }
        if !other.setup.trim().is_empty() && other.setup != case.setup {
            setups
                .entry(other.setup.as_str())
                .or_insert(other.name.as_str());
        }
        if let Some(json) = &other.dockerd.daemon_json
            && case.dockerd.daemon_json.as_ref() != Some(json)
            && !v
                .iter()
                .any(|c| matches!(c, Change::DaemonJson { json: j, .. } if j == json))
        {
            push(
                Change::DaemonJson {
                    from: other.name.clone(),
                    json: json.clone(),
                },
                &mut v,
            );
        }
        for (k, val) in &other.env {
            if case.env.get(k) != Some(val) {
                push(Change::Env(k.clone(), val.clone()), &mut v);
            }
        }
        for e in other
            .spec_edits
            .iter()
            .filter(|e| !case.spec_edits.contains(e))
        {
            push(Change::SpecEdit(*e), &mut v);
        }
        if let Some(on) = other.runsc.uplink_offload
            && case.runsc.uplink_offload.unwrap_or(true) != on
        {
            push(Change::UplinkOffload(on), &mut v);
        }
    }
    // Setup scripts by the first case (in name order) that has each.
    let mut by_case: Vec<(&str, &str)> = setups.into_iter().map(|(s, n)| (n, s)).collect();
    by_case.sort();
    for (from, script) in by_case {
        push(
            Change::Setup {
                from: from.to_string(),
                script: script.to_string(),
            },
            &mut v,
        );
    }
    for g in arg_groups(&case.dockerd.args) {
        push(Change::DropDockerdArg(g), &mut v);
    }
    for x in &case.runsc.flags {
        push(Change::DropRunscFlag(x.clone()), &mut v);
    }
    for m in &case.mounts {
        push(
            Change::DropMount(m.destination.display().to_string()),
            &mut v,
        );
    }
    if !case.setup.trim().is_empty() {
        push(Change::NoSetup, &mut v);
    }
    if case.dockerd.daemon_json.is_some() {
        push(Change::NoDaemonJson, &mut v);
    }
    for k in case.env.keys() {
        push(Change::DropEnv(k.clone()), &mut v);
    }
    for e in &case.spec_edits {
        push(Change::DropSpecEdit(*e), &mut v);
    }
    v
}

/// `case` with `change` made.
pub fn apply(case: &Case, change: &Change) -> Case {
    let mut c = case.clone();
    match change {
        Change::Cgroup(m) => c.cgroup = *m,
        Change::CapabilityBase(b) => c.capabilities.base = *b,
        Change::AddCapability(n) => {
            c.capabilities.drop.retain(|d| d != n);
            c.capabilities.add.push(n.clone());
        }
        Change::DockerdArg(a) => {
            let mut groups = arg_groups(&c.dockerd.args);
            groups.retain(|g| arg_name(&g[0]) != arg_name(&a[0]));
            groups.push(a.clone());
            c.dockerd.args = groups.concat();
        }
        Change::DropDockerdArg(a) => {
            let mut groups = arg_groups(&c.dockerd.args);
            groups.retain(|g| g != a);
            c.dockerd.args = groups.concat();
        }
        Change::RunscFlag(a) => {
            c.runsc.flags.retain(|x| arg_name(x) != arg_name(a));
            c.runsc.flags.push(a.clone());
        }
        Change::DropRunscFlag(a) => c.runsc.flags.retain(|x| x != a),
        Change::Mount(m) => {
            c.mounts.retain(|x| x.destination != m.destination);
            c.mounts.push(m.clone());
        }
        Change::DropMount(d) => c
            .mounts
            .retain(|m| m.destination.display().to_string() != *d),
        Change::Setup { script, .. } => c.setup = script.clone(),
        Change::NoSetup => c.setup.clear(),
        Change::DaemonJson { json, .. } => c.dockerd.daemon_json = Some(json.clone()),
        Change::NoDaemonJson => c.dockerd.daemon_json = None,
        Change::Env(k, v) => {
            c.env.insert(k.clone(), v.clone());
        }
        Change::DropEnv(k) => {
            c.env.remove(k);
        }
        Change::SpecEdit(e) => c.spec_edits.push(*e),
        Change::DropSpecEdit(e) => c.spec_edits.retain(|x| x != e),
        Change::UplinkOffload(on) => c.runsc.uplink_offload = Some(*on),
    }
    c
}

/// How far a repair searches.
#[derive(Clone, Copy, Debug)]
pub struct RepairOptions {
    /// Runs of each fix in all (the first included).
    pub confirm: usize,
    /// Trials at most, re-runs included; pairs stop there.
    pub max_trials: usize,
    /// Search pairs even when a single change fixes the case.
    pub pairs: bool,
}

/// What the search found.
#[derive(Debug)]
pub struct Repairs {
    /// Trial 1: the case as it is.
    pub start: usize,
    pub vocabulary: usize,
    pub searched_pairs: bool,
    pub budget_exhausted: bool,
    pub fixes: Vec<Fix>,
}

/// Why a repair could not say anything.
#[derive(Debug, thiserror::Error)]
pub enum RepairError {
    #[error(
        "{case} already keeps the target (trial 1: {observed}): nothing to repair; try `dindcheck minimize`"
    )]
    AlreadyWorks { case: String, observed: String },
    #[error("a trial could not be attempted, so the search stopped: {0}")]
    NotRun(String),
}

/// Tries `base` (its probes already the target's), then each single change of `vocabulary`,
/// then (when none fixed it, or `pairs`) each pair of changes to different slots, within the
/// trial budget; confirms each fix by re-running it.
pub async fn repair<E: Experiment>(
    book: &mut Book<E>,
    base: &Case,
    vocabulary: &[Change],
    options: RepairOptions,
) -> Result<Repairs, RepairError> {
    let start = book.try_all(&[(base.clone(), Vec::new())]).await[0];
    let Some(start) = start else {
        return Err(RepairError::NotRun(book.fault.clone().unwrap_or_default()));
    };
    if book.get(start).pass {
        return Err(RepairError::AlreadyWorks {
            case: base.name.clone(),
            observed: book.get(start).observed.clone(),
        });
    }
    let singles: Vec<(Case, Vec<String>)> = vocabulary
        .iter()
        .map(|c| (apply(base, c), vec![c.to_string()]))
        .collect();
    let mut budget_exhausted = false;
    let mut fixes = tried(book, &singles, options.max_trials, &mut budget_exhausted).await;
    let searched_pairs = (fixes.is_empty() || options.pairs) && !budget_exhausted;
    if searched_pairs {
        let mut pairs = Vec::new();
        for (i, a) in vocabulary.iter().enumerate() {
            for b in &vocabulary[i + 1..] {
                if slot(a) != slot(b) {
                    let case = apply(&apply(base, a), b);
                    pairs.push((case, vec![a.to_string(), b.to_string()]));
                }
            }
        }
        fixes.extend(tried(book, &pairs, options.max_trials, &mut budget_exhausted).await);
    }
    if let Some(f) = book.fault.clone() {
        return Err(RepairError::NotRun(f));
    }
    // Each fix again, so that a flaky pass is not reported as a fix.
    let again: Vec<(Case, Vec<String>)> = fixes
        .iter()
        .flat_map(|(case, changes, _)| {
            std::iter::repeat_n(
                (case.clone(), changes.clone()),
                options.confirm.saturating_sub(1),
            )
        })
        .collect();
    book.rerun(&again).await;
    let fixes = fixes
        .into_iter()
        .map(|(case, changes, trial)| {
            let confirmations: Vec<usize> = book
                .runs_of(&case)
                .into_iter()
                .filter(|id| *id != trial)
                .collect();
            let confirmed = confirmations
                .iter()
                .filter(|id| book.get(**id).pass)
                .count();
            Fix {
                changes,
                trial,
                confirmations,
                confirmed,
            }
        })
        .collect();
    Ok(Repairs {
        start,
        vocabulary: vocabulary.len(),
        searched_pairs,
        budget_exhausted,
        fixes,
    })
}

/// The candidates that keep the target, trying them `jobs` at a time until the budget.
async fn tried<E: Experiment>(
    book: &mut Book<E>,
    candidates: &[(Case, Vec<String>)],
    max_trials: usize,
    exhausted: &mut bool,
) -> Vec<(Case, Vec<String>, usize)> {
    let mut fixes = Vec::new();
    for batch in candidates.chunks(book.jobs) {
        if book.trials.len() + batch.len() > max_trials {
            *exhausted = true;
            break;
        }
        let ids = book.try_all(batch).await;
        for ((case, changes), id) in batch.iter().zip(ids) {
            if let Some(id) = id.filter(|id| book.get(*id).pass)
                && !fixes.iter().any(|(_, _, f)| *f == id)
            {
                fixes.push((case.clone(), changes.clone(), id));
            }
        }
    }
    fixes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::answers::trials::tests::{Pure, block_on, keeping};
    use std::cell::Cell;

    fn case(text: &str) -> Case {
        toml::from_str(text).unwrap()
    }

    fn corpus() -> Vec<Case> {
        vec![
            case(
                "name = \"a\"\nrootfs = \"bookworm\"\ncgroup = \"none\"\n[dockerd]\nargs = [\"--iptables=false\", \"--storage-driver=vfs\"]\n",
            ),
            case(
                "name = \"b\"\nrootfs = \"bookworm\"\ncgroup = \"gvisor\"\nsetup = \"mount x\\n\"\n[dockerd]\nargs = [\"--iptables=false\"]\n[runsc]\nflags = [\"--net-raw\"]\n",
            ),
        ]
    }

    #[test]
    fn the_vocabulary_comes_from_the_corpus() {
        let c = &corpus()[0];
        let words: Vec<String> = vocabulary(c, &corpus())
            .iter()
            .map(|c| c.to_string())
            .collect();
        assert_eq!(
            words,
            [
                "cgroup = \"gvisor\"",
                "+ runsc --net-raw",
                "setup of b",
                "- dockerd --iptables=false",
                "- dockerd --storage-driver=vfs",
            ]
        );
    }

    #[test]
    fn single_changes_come_first_and_pairs_only_when_none_fixes_it() {
        let c = corpus()[0].clone();
        let voc = vocabulary(&c, &corpus());
        let exp = keeping(|c: &Case| c.cgroup == CgroupMode::Gvisor);
        let mut book = Book::new(exp, 2);
        let options = RepairOptions {
            confirm: 2,
            max_trials: 100,
            pairs: false,
        };
        let r = block_on(repair(&mut book, &c, &voc, options)).unwrap();
        assert_eq!(r.fixes.len(), 1);
        assert_eq!(r.fixes[0].changes, ["cgroup = \"gvisor\""]);
        assert_eq!(r.fixes[0].confirmed, 1);
        assert!(!r.searched_pairs);

        let exp = keeping(|c: &Case| {
            c.cgroup == CgroupMode::Gvisor && c.setup.is_empty() && !c.runsc.flags.is_empty()
        });
        let mut book = Book::new(exp, 2);
        let r = block_on(repair(&mut book, &c, &voc, options)).unwrap();
        assert!(r.searched_pairs);
        assert_eq!(r.fixes.len(), 1);
        assert_eq!(
            r.fixes[0].changes,
            ["cgroup = \"gvisor\"", "+ runsc --net-raw"]
        );
    }

    #[test]
    fn the_trial_budget_stops_the_search_and_says_so() {
        let c = corpus()[0].clone();
        let voc = vocabulary(&c, &corpus());
        let exp = Pure {
            keeps: |_: &Case| false,
            flaky: |c: &Case| c.cgroup == CgroupMode::Gvisor,
            runs: Cell::new(1),
            flaky_runs: Cell::new(0),
        };
        let mut book = Book::new(exp, 2);
        let options = RepairOptions {
            confirm: 2,
            max_trials: 4,
            pairs: false,
        };
        let r = block_on(repair(&mut book, &c, &voc, options)).unwrap();
        assert!(r.budget_exhausted);
        assert!(book.trials.len() <= 4 + r.fixes.len());
    }
}
