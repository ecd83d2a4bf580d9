//! The removable parts of a case: what `minimize` may take away one by one, and the case
//! that keeps only some of them.
//!
//! A part is named by what it is in the case file (a capability of the resolved set, one
//! dockerd argument, one `daemon.json` key, one runsc flag, one mount, one line of the setup
//! script, one environment variable), so that the evidence reads like the recipe
//! ("without CAP_SYS_ADMIN: …").

use std::collections::BTreeSet;

use crate::case::{CapabilityBase, CapabilitySet, Case};
pub use crate::report::answers::Part;

/// The setup script's logical lines: blank lines and comments are not parts (removing them
/// changes nothing), and a line continued with `\` is one part with the next.
pub fn setup_lines(setup: &str) -> Vec<String> {
    let mut lines = Vec::new();
    let mut pending = String::new();
    for raw in setup.lines() {
        pending.push_str(raw);
        if let Some(stripped) = pending.strip_suffix('\\') {
            pending = format!("{stripped}\\\n");
            continue;
        }
        let line = std::mem::take(&mut pending);
        let t = line.trim();
        if !t.is_empty() && !t.starts_with('#') {
            lines.push(line);
        }
    }
    if !pending.trim().is_empty() {
        lines.push(pending);
    }
    lines
}

/// dockerd's arguments as options: a word that does not start with `-` is the value of the
/// option before it (`--exec-opt native.cgroupdriver=cgroupfs`), and goes with it.
pub fn arg_groups(args: &[String]) -> Vec<Vec<String>> {
    let mut groups: Vec<Vec<String>> = Vec::new();
    for a in args {
        match groups.last_mut() {
            Some(g) if !a.starts_with('-') => g.push(a.clone()),
            _ => groups.push(vec![a.clone()]),
        }
    }
    groups
}

/// Every removable part of `case`, in the case file's order.
pub fn parts(case: &Case) -> Vec<Part> {
    let mut v: Vec<Part> = case
        .capabilities
        .resolve()
        .iter()
        .map(|c| Part::Capability(c.as_str().to_string()))
        .collect();
    v.extend(
        arg_groups(&case.dockerd.args)
            .into_iter()
            .map(|g| Part::DockerdArg(g.join(" "))),
    );
    if let Some(json) = &case.dockerd.daemon_json {
        v.extend(json.keys().cloned().map(Part::DaemonJsonKey));
    }
    v.extend(case.runsc.flags.iter().cloned().map(Part::RunscFlag));
    v.extend(
        case.mounts
            .iter()
            .map(|m| Part::Mount(m.destination.display().to_string())),
    );
    v.extend(setup_lines(&case.setup).into_iter().map(Part::SetupLine));
    v.extend(case.env.keys().cloned().map(Part::Env));
    v
}

/// `case` with only the parts in `kept` (everything that is not a part stays as it is).
/// The capabilities become an explicit list (`base = "none"`, `add = [...]`).
pub fn keep_only(case: &Case, kept: &BTreeSet<Part>) -> Case {
    let mut c = case.clone();
    let caps = case
        .capabilities
        .resolve()
        .into_iter()
        .filter(|n| kept.contains(&Part::Capability(n.as_str().to_string())))
        .collect();
    c.capabilities = CapabilitySet {
        base: CapabilityBase::None,
        add: caps,
        drop: Vec::new(),
    };
    c.dockerd.args = arg_groups(&case.dockerd.args)
        .into_iter()
        .filter(|g| kept.contains(&Part::DockerdArg(g.join(" "))))
        .flatten()
        .collect();
    if let Some(json) = &mut c.dockerd.daemon_json {
        json.retain(|k, _| kept.contains(&Part::DaemonJsonKey(k.to_string())));
    }
    c.runsc
        .flags
        .retain(|x| kept.contains(&Part::RunscFlag(x.clone())));
    c.mounts
        .retain(|m| kept.contains(&Part::Mount(m.destination.display().to_string())));
    let all_lines = setup_lines(&case.setup);
    let lines: Vec<String> = all_lines
        .iter()
        .filter(|l| kept.contains(&Part::SetupLine(l.to_string())))
        .cloned()
        .collect();
    // Every line kept: the script as written (its comments too), the same configuration.
    c.setup = if lines.len() == all_lines.len() {
        case.setup.clone()
    } else if lines.is_empty() {
        String::new()
    } else {
        lines.join("\n") + "\n"
    };
    c.env.retain(|k, _| kept.contains(&Part::Env(k.clone())));
    c
}

/// The identity of a generated configuration: everything a trial of it depends on, and
/// nothing else (not its name, description or claim). Two candidates with the same key are
/// the same experiment and are never run twice.
pub fn config_key(case: &Case, runtime: &str, launcher: &str, network: &str) -> String {
    let mut c = case.clone();
    c.name.clear();
    c.description.clear();
    c.source.clear();
    c.claim.clear();
    c.claimed = None;
    c.claimed_probes.clear();
    c.extend = None;
    // The resolved set is what the sandbox gets; how the file spelt it does not matter.
    let caps: Vec<String> = c
        .capabilities
        .resolve()
        .iter()
        .map(|n| n.as_str().to_string())
        .collect();
    c.capabilities = CapabilitySet::default();
    let json = serde_json::to_string(&c).expect("a case serialises");
    format!("{runtime}|{launcher}|{network}|{}|{json}", caps.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(text: &str) -> Case {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn every_kind_of_part_is_found_and_can_be_taken_away() {
        let c = case(
            r#"
            rootfs = "bookworm"
            setup = "mount -t tmpfs x /a \\\n  -o rw\n# a comment\n\necho hi\n"
            [capabilities]
            base = "none"
            add = ["SYS_ADMIN", "CHOWN"]
            [dockerd]
            args = ["--iptables=false", "--exec-opt", "native.cgroupdriver=cgroupfs"]
            daemon_json = { features = { buildkit = false }, debug = true }
            [runsc]
            flags = ["--net-raw"]
            [env]
            DOCKER_RAMDISK = "true"
            [[mounts]]
            type = "tmpfs"
            destination = "/var/lib/docker"
            "#,
        );
        let all = parts(&c);
        assert_eq!(all.len(), 11, "{all:?}");
        assert!(all.contains(&Part::SetupLine("mount -t tmpfs x /a \\\n  -o rw".into())));
        assert!(all.contains(&Part::DockerdArg(
            "--exec-opt native.cgroupdriver=cgroupfs".into()
        )));
        let kept: BTreeSet<Part> = all
            .iter()
            .filter(|p| !matches!(p, Part::Capability(c) if c == "CHOWN"))
            .filter(|p| !matches!(p, Part::SetupLine(l) if l == "echo hi"))
            .filter(|p| !matches!(p, Part::DaemonJsonKey(k) if k == "debug"))
            .cloned()
            .collect();
        let k = keep_only(&c, &kept);
        assert_eq!(parts(&k).len(), 8);
        assert_eq!(k.setup, "mount -t tmpfs x /a \\\n  -o rw\n");
        assert_eq!(k.capabilities.resolve().len(), 1);
        assert!(k.dockerd.daemon_json.unwrap().contains_key("features"));
        // Keeping every part changes nothing that matters to a trial.
        let whole = keep_only(&c, &all.into_iter().collect());
        assert_eq!(
            config_key(&whole, "r", "oci", "none"),
            config_key(&c, "r", "oci", "none")
        );
    }

    #[test]
    fn a_configuration_is_known_by_what_it_runs_not_by_its_name() {
        let a = case("rootfs = \"bookworm\"\nname = \"a\"\n");
        let mut b = a.clone();
        b.name = "b".into();
        b.source = "elsewhere".into();
        assert_eq!(
            config_key(&a, "r", "oci", "none"),
            config_key(&b, "r", "oci", "none")
        );
        b.capabilities.drop.push("CHOWN".parse().unwrap());
        assert_ne!(
            config_key(&a, "r", "oci", "none"),
            config_key(&b, "r", "oci", "none")
        );
    }
}
