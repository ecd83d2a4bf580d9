//! Merging the results of several runs: shards of one run, or runs on several hosts.

use super::claims::judge_all;
use super::results::{Results, SCHEMA_VERSION};

#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("nothing to merge")]
    Empty,
    #[error("{0} has schema version {1}; this dindcheck reads version {SCHEMA_VERSION}")]
    Schema(String, u32),
    #[error(
        "the results disagree on the runsc network substitution ({0:?} vs {1:?}): their outcomes are not comparable"
    )]
    Network(Option<String>, Option<String>),
}

/// Merges the results of several runs into one: shards of one run (`run --partition`) on the
/// same host become one matrix; runs on different hosts become extra columns, each runtime
/// named `<runtime> (<host>)`.
pub fn merge(parts: Vec<(String, Results)>) -> Result<Results, MergeError> {
    let Some(first) = parts.first().map(|(_, r)| r.clone()) else {
        return Err(MergeError::Empty);
    };
    for (name, r) in &parts {
        if r.schema != SCHEMA_VERSION {
            return Err(MergeError::Schema(name.clone(), r.schema));
        }
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
        answers: Default::default(),
        // One engine's figures do not describe several runs.
        engine: None,
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
    for (_, r) in parts {
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
            if !merged.outcomes.iter().any(|x| x.trial == o.trial) {
                merged.outcomes.push(o);
            }
        }
        merged.not_run.extend(r.not_run);
        merged.not_expressible.extend(r.not_expressible);
        merged.leaked.extend(r.leaked);
        for l in r.launchers {
            if !merged.launchers.contains(&l) {
                merged.launchers.push(l);
            }
        }
        merged.baselines.extend(r.baselines);
        merged.complete &= r.complete;
    }
    merged.cases.sort_by(|a, b| a.name.cmp(&b.name));
    merged.runtimes.sort_by(|a, b| a.name.cmp(&b.name));
    merged.outcomes.sort_by(|a, b| a.trial.cmp(&b.trial));
    // Outcomes were renamed for their hosts: judge the claims again under the new names.
    merged.claims = judge_all(&merged);
    Ok(merged)
}
