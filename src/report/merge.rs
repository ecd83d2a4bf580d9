//! Merging the results of several runs: shards of one run, or runs on several hosts.

use super::claims::judge_all;
use super::results::{MergedInput, NotRun, Results, SCHEMA_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{0} has schema version {1}; this dindcheck reads version {SCHEMA_VERSION}")]
    Schema(String, u32),
    #[error("{0} has no schema version: it is not a dindcheck results.json")]
    NoSchema(String),
    #[error(
        "the results disagree on the runsc network substitution ({0:?} vs {1:?}): their outcomes are not comparable"
    )]
    Network(Option<String>, Option<String>),
}

/// Each distinct item once, in the order first seen (inputs that carry the same answers).
fn once_each<'a, T: PartialEq + Clone + 'a>(items: impl Iterator<Item = &'a T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(i) {
            out.push(i.clone());
        }
    }
    out
}

/// The schema version of a `results.json`, checked before anything else is read from it.
pub fn check_schema(label: &str, value: &serde_json::Value) -> Result<(), MergeError> {
    match value.get("schema").and_then(serde_json::Value::as_u64) {
        None => Err(MergeError::NoSchema(label.to_string())),
        Some(v) if v == u64::from(SCHEMA_VERSION) => Ok(()),
        Some(v) => Err(MergeError::Schema(
            label.to_string(),
            u32::try_from(v).unwrap_or(u32::MAX),
        )),
    }
}

/// What one input of a merge said about itself: the header figures a merged report keeps.
fn header(label: &str, r: &Results) -> MergedInput {
    MergedInput {
        file: label.to_string(),
        host: r.host.clone(),
        generated: r.generated.clone(),
        dindcheck_version: r.dindcheck_version.clone(),
        host_kernel: r.host_kernel.clone(),
        trials: r.outcomes.len(),
        complete: r.complete,
        engine: r.engine.clone(),
        host_checks: r.host_checks.as_ref().map(|d| {
            let (ok, warn, fail) = d.counts();
            format!("{ok} ✔, {warn} ⚠, {fail} ✖")
        }),
    }
}

/// Merges the results of several runs into one: shards of one run (`run --partition`) on the
/// same host become one matrix; runs on different hosts become extra columns, each runtime
/// named `<runtime> (<host>)`.
///
/// Idempotent: an input given twice counts once. Inputs that disagree about a trial (other
/// outcomes, as the gate compares them) keep the first one's, and the merged results list
/// the disagreement (`disagreements`). Every input's header figures (host, time, version,
/// kernel, engine, host checks) are kept in `merged_from`.
pub fn merge(parts: Vec<(String, Results)>) -> Result<Results, MergeError> {
    for (name, r) in &parts {
        if r.schema != SCHEMA_VERSION {
            return Err(MergeError::Schema(name.clone(), r.schema));
        }
    }
    // The same results twice (the same file, or a copy) are one input.
    let mut unique: Vec<(String, Results)> = Vec::new();
    for (name, r) in parts {
        let same = |x: &Results| serde_json::to_value(x).ok() == serde_json::to_value(&r).ok();
        if !unique.iter().any(|(_, u)| same(u)) {
            unique.push((name, r));
        }
    }
    let parts = unique;
    let Some(first) = parts.first().map(|(_, r)| r.clone()) else {
        return Err(MergeError::Empty);
    };
    // An input that was itself merged brings its own inputs' headers.
    let merged_from: Vec<MergedInput> = parts
        .iter()
        .flat_map(|(name, r)| {
            if r.merged_from.is_empty() {
                vec![header(name, r)]
            } else {
                r.merged_from.clone()
            }
        })
        .collect();
    let mut disagreements: Vec<NotRun> = Vec::new();
    let mut source: Vec<(String, String)> = Vec::new();
    for (_, r) in &parts {
        if r.network_override != first.network_override {
            return Err(MergeError::Network(
                first.network_override.clone(),
                r.network_override.clone(),
            ));
        }
    }
    let several_hosts = parts.iter().any(|(_, r)| r.host != first.host);
    let mut merged = Results {
        runtimes: Vec::new(),
        rootfs: Vec::new(),
        cases: Vec::new(),
        outcomes: Vec::new(),
        not_run: Vec::new(),
        baselines: Vec::new(),
        not_expressible: Vec::new(),
        leaked: Vec::new(),
        stability: Vec::new(),
        // One engine's figures do not describe several runs: each input's are in
        // `merged_from`.
        engine: if parts.len() == 1 {
            first.engine.clone()
        } else {
            None
        },
        host_checks: if parts.len() == 1 {
            first.host_checks.clone()
        } else {
            None
        },
        merged_from,
        disagreements: Vec::new(),
        // The inputs' saved answers, unless the output directory has its own (`cli::write`).
        answers: super::answers::Answers {
            minimized: once_each(parts.iter().flat_map(|(_, r)| &r.answers.minimized)),
            repaired: once_each(parts.iter().flat_map(|(_, r)| &r.answers.repaired)),
        },
        exploration: None,
        complete: true,
        host: if several_hosts {
            parts
                .iter()
                .map(|(_, r)| r.host.clone())
                .collect::<Vec<_>>()
                .join(", ")
        } else {
            first.host.clone()
        },
        ..first
    };
    for (name, r) in parts {
        let rename = |name: &str| {
            if several_hosts {
                format!("{name} ({})", r.host)
            } else {
                name.to_string()
            }
        };
        for mut rt in r.runtimes {
            rt.name = rename(&rt.name);
            if !merged.runtimes.iter().any(|x| x.name == rt.name) {
                merged.runtimes.push(rt);
            }
        }
        for fs in r.rootfs {
            if !merged
                .rootfs
                .iter()
                .any(|x| x.name == fs.name && x.docker == fs.docker)
            {
                merged.rootfs.push(fs);
            }
        }
        for c in r.cases {
            if !merged.cases.iter().any(|x| x.name == c.name) {
                merged.cases.push(c);
            }
        }
        for mut o in r.outcomes {
            o.runtime = rename(&o.runtime);
            o.trial = format!("{}::{}::{}", o.case, o.launcher, o.runtime);
            match merged.outcomes.iter().find(|x| x.trial == o.trial) {
                None => {
                    source.push((o.trial.clone(), name.clone()));
                    merged.outcomes.push(o);
                }
                Some(kept) if kept.baseline() != o.baseline() => {
                    let first = source
                        .iter()
                        .find(|(t, _)| *t == o.trial)
                        .map_or("", |(_, f)| f.as_str());
                    let line = |x: &crate::trial::outcome::Outcome| {
                        x.baseline().trim().replace('\n', "; ")
                    };
                    disagreements.push(NotRun {
                        trial: o.trial.clone(),
                        reason: format!(
                            "{first}: {} — {name}: {} (the report shows the first)",
                            line(kept),
                            line(&o)
                        ),
                    });
                }
                Some(_) => {}
            }
        }
        let add = |into: &mut Vec<NotRun>, from: Vec<NotRun>| {
            for mut n in from {
                n.trial = rename_trial(&n.trial, &rename);
                if !into.iter().any(|x| x.trial == n.trial) {
                    into.push(n);
                }
            }
        };
        add(&mut merged.not_run, r.not_run);
        add(&mut merged.not_expressible, r.not_expressible);
        add(&mut merged.leaked, r.leaked);
        for s in r.stability {
            if !merged.stability.iter().any(|x| x.trial == s.trial) {
                merged.stability.push(s);
            }
        }
        for l in r.launchers {
            if !merged.launchers.contains(&l) {
                merged.launchers.push(l);
            }
        }
        for b in r.baselines {
            if !merged.baselines.iter().any(|x| x.trial == b.trial) {
                merged.baselines.push(b);
            }
        }
        merged.complete &= r.complete;
    }
    merged.cases.sort_by(|a, b| a.name.cmp(&b.name));
    merged.runtimes.sort_by(|a, b| a.name.cmp(&b.name));
    merged.outcomes.sort_by(|a, b| a.trial.cmp(&b.trial));
    // Outcomes were renamed for their hosts: judge the claims again under the new names.
    merged.claims = judge_all(&merged);
    merged.disagreements = disagreements;
    Ok(merged)
}

/// `<case>::<launcher>::<runtime>` with its runtime renamed (for another host's column).
fn rename_trial(trial: &str, rename: &dyn Fn(&str) -> String) -> String {
    match trial.rsplit_once("::") {
        Some((head, runtime)) => format!("{head}::{}", rename(runtime)),
        None => trial.to_string(),
    }
}
