//! A trial's own network namespaces (docs/host-facts.md, "Sandbox networking"), made and
//! removed for real: what they hold, that the host's namespace gains nothing, that a dead
//! run's are reaped, and that a trial with runsc's sandbox network leaves none behind.
//!
//! Needs root and iproute2 (`scripts/setup-host` installs it); the trial needs a runsc whose
//! sandbox networking starts here. Without an inventory the trial fails, unless
//! `DINDCHECK_ALLOW_SKIP=1`.

mod common;

use std::process::Command;

use dindcheck::case::RunscNetwork;
use dindcheck::inventory;
use dindcheck::session::Session;
use dindcheck::trial::launch::Launcher;
use dindcheck::trial::launch::netns::{self, GATEWAY_ADDRESS, SANDBOX_ADDRESS, TrialNetwork};
use dindcheck::trial::outcome::Verdict;
use dindcheck::trial::plan::{RunOptions, Trial};

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(out.status.success(), "ip {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The namespaces of this test process (`dindcheck-<pid>-…`).
fn mine() -> Vec<String> {
    let prefix = format!("{}{}-", netns::PREFIX, std::process::id());
    netns::own_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect()
}

#[test]
fn a_trial_network_is_two_namespaces_linked_to_nothing_else() {
    let host_links = ip(&["-o", "link", "show"]);
    let id = format!("{}-900001", std::process::id());
    let net = TrialNetwork::create(&id, true).expect("the namespaces are made");
    let sandbox = format!("dindcheck-{id}");
    assert_eq!(mine(), vec![sandbox.clone(), format!("{sandbox}-up")]);
    assert_eq!(
        net.path(),
        std::path::Path::new("/run/netns").join(&sandbox)
    );
    let addrs = ip(&["-n", &sandbox, "-o", "addr", "show", "dev", "eth0"]);
    assert!(addrs.contains(&format!("{SANDBOX_ADDRESS}/24")), "{addrs}");
    let routes = ip(&["-n", &sandbox, "route", "show"]);
    assert!(
        routes.contains(&format!("default via {GATEWAY_ADDRESS} dev eth0")),
        "{routes}"
    );
    // The uplink's namespace holds the veth's other end and loopback, and no route out.
    let up_links = ip(&["-n", net.uplink_name(), "-o", "link", "show"]);
    assert_eq!(up_links.lines().count(), 2, "{up_links}");
    let up_routes = ip(&["-n", net.uplink_name(), "route", "show"]);
    assert!(!up_routes.contains("default"), "{up_routes}");
    // The host's own namespace never held either end.
    assert_eq!(ip(&["-o", "link", "show"]), host_links);
    drop(net);
    assert!(mine().is_empty(), "left: {:?}", mine());
}

#[test]
fn the_namespaces_of_a_run_that_died_are_reaped() {
    // A pid that is certainly gone: a child that has been waited for.
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let id = format!("{dead}-1");
    std::mem::forget(TrialNetwork::create(&id, true).expect("the namespaces are made"));
    let name = format!("dindcheck-{id}");
    assert!(netns::own_namespaces().contains(&name));
    let reaped = netns::reap_stale(|pid| pid != dead as i32);
    assert_eq!(reaped, vec![name.clone(), format!("{name}-up")]);
    assert!(!netns::own_namespaces().contains(&name));
}

/// A real trial with sandbox networking, under the newest runsc (the inventory's runtimes
/// are oldest first): its sandbox ran in the trial's namespace, and nothing is left.
#[test]
fn a_sandbox_network_trial_leaves_no_namespace() {
    let Some((inv, runtime)) = common::newest_runsc_or_skip() else {
        return;
    };
    if let Some(why) = &runtime.sandbox_network {
        panic!("the newest runsc has no sandbox networking here: {why}");
    }
    let case = common::corpus_case("gvisor-tutorial");
    let trial = Trial::new(&case, &runtime, Launcher::Oci, &RunOptions::default());
    assert_eq!(trial.network, RunscNetwork::Sandbox);
    let mut session = Session::new(inventory::home(), inv.clone());
    session.no_probes = true;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let result = rt.block_on(session.run_trial(&trial)).unwrap();
    assert_eq!(
        result.outcome.verdict,
        Verdict::Ready,
        "{:?}",
        result.outcome.decisive
    );
    assert!(result.leaks.is_empty(), "left behind: {:?}", result.leaks);
    assert!(mine().is_empty(), "namespaces left: {:?}", mine());
}
