//! What a case changes relative to the case it extends, key by key: the report's "before
//! and after".

use std::collections::{BTreeMap, BTreeSet};

use super::schema::Case;

/// What a case changes relative to the case it extends: one line per key whose value
/// differs (`cgroup: "none" → "host-bind"`), for the report's before/after view.
/// Descriptive keys (name, description, source, claim) are left out.
pub fn changes(parent: &Case, child: &Case) -> Vec<String> {
    const DESCRIPTIVE: &[&str] = &[
        "name",
        "description",
        "source",
        "claim",
        "claimed",
        "extend",
        "abstract",
    ];
    let flat = |c: &Case| {
        let mut out = BTreeMap::new();
        if let Ok(toml::Value::Table(t)) = toml::Value::try_from(c) {
            flatten("", &toml::Value::Table(t), &mut out);
        }
        out
    };
    let (before, after) = (flat(parent), flat(child));
    let keys: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    keys.into_iter()
        .filter(|k| !DESCRIPTIVE.contains(&k.split('.').next().unwrap_or(k)))
        .filter_map(|k| {
            let (b, a) = (before.get(k), after.get(k));
            (b != a).then(|| {
                let show = |v: Option<&String>| v.cloned().unwrap_or_else(|| "(unset)".into());
                format!("{k}: {} → {}", show(b), show(a))
            })
        })
        .collect()
}

fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
    match v {
        toml::Value::Table(t) if prefix.is_empty() || !prefix.ends_with("daemon_json") => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_name_the_keys_that_differ() {
        let parent = Case {
            cgroup: crate::case::CgroupMode::None,
            ..Case::default()
        };
        let mut child = parent.clone();
        child.cgroup = crate::case::CgroupMode::HostBind;
        child.dockerd.args = vec!["--iptables=false".into()];
        child.claim = "descriptive keys are not changes".into();
        assert_eq!(
            changes(&parent, &child),
            vec![
                "cgroup: \"none\" → \"host-bind\"",
                "dockerd.args: [] → [\"--iptables=false\"]",
            ]
        );
    }
}
