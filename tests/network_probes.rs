//! The network probes against real runsc (docs/networking.md, "Network probes"): each one
//! passes with a recipe known to make it work and fails, with its catalogued cause, with one
//! known to break it; without a sandbox network they are "not applicable". Every trial's
//! namespaces, links and endpoint go with it.
//!
//! The recipes and what they do on runsc 20260905 are in docs/networking.md, "What the
//! probes found". Without an inventory, or without a runsc whose sandbox networking is real
//! here, the tests fail, unless `DINDCHECK_ALLOW_SKIP=1`, with which they pass with a note.

mod common;

use dindcheck::case::RunscNetwork;
use dindcheck::inventory::{Inventory, Runtime};
use dindcheck::trial::launch::{Launcher, netns};
use dindcheck::trial::outcome::{Outcome, Verdict};
use dindcheck::trial::plan::{RunOptions, Trial};
use dindcheck::trial::probe::{Probe, ProbeResult, ProbeVerdict};

/// The newest runsc whose sandbox networking is real here (or the one named `name`), or a
/// skip.
fn networked_runsc_or_skip(name: Option<&str>) -> Option<(Inventory, Runtime)> {
    let inv = common::inventory_or_skip()?;
    let runtime = common::or_skip(
        inv.runtimes()
            .into_iter()
            .filter(|r| r.sandbox_network.is_none())
            .rfind(|r| name.is_none_or(|n| r.name == n))
            .ok_or_else(|| {
                format!(
                    "no runsc {} with sandbox networking here: rerun scripts/setup-host",
                    name.unwrap_or("")
                )
            }),
    )?;
    Some((inv, runtime))
}

/// Runs the corpus's `case` once under the OCI launcher, in its own network mode unless
/// `network` replaces it, and checks that it left nothing behind. Only the network probes
/// run: they are what these tests assert, and each probe's verdict is its own (the case's
/// other probes are the conformance gate's, on the same cases).
fn run(case: &str, network: Option<RunscNetwork>) -> Option<Outcome> {
    run_on(case, network, None)
}

/// [`run`] on the runsc named `runtime`.
fn run_on(case: &str, network: Option<RunscNetwork>, runtime: Option<&str>) -> Option<Outcome> {
    let (inv, runtime) = networked_runsc_or_skip(runtime)?;
    let mut case = common::corpus_case(case);
    case.probes = Some(Probe::NETWORK.to_vec());
    let options = RunOptions {
        network_override: network,
        launchers: vec![Launcher::Oci],
    };
    let trial = Trial::new(&case, &runtime, Launcher::Oci, &options);
    let result = common::run_once(&trial, &inv, false);
    let mine = format!("{}{}-", netns::PREFIX, std::process::id());
    let left: Vec<String> = netns::own_namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&mine))
        .collect();
    assert!(left.is_empty(), "namespaces left: {left:?}");
    assert_eq!(
        result.outcome.verdict,
        Verdict::Ready,
        "{:#?}",
        result.outcome
    );
    Some(result.outcome)
}

fn probe(o: &Outcome, p: Probe) -> &ProbeResult {
    o.probes
        .iter()
        .find(|r| r.probe == p)
        .unwrap_or_else(|| panic!("no {p} result: {:#?}", o.probes))
}

fn assert_ok(o: &Outcome, p: Probe) {
    let r = probe(o, p);
    assert_eq!(r.verdict, ProbeVerdict::Ok, "{p}: {r:#?}");
}

fn assert_fails_with(o: &Outcome, p: Probe, cause: &str) {
    let r = probe(o, p);
    assert_eq!(r.verdict, ProbeVerdict::Failed, "{p}: {r:#?}");
    assert_eq!(r.diagnosis.as_deref(), Some(cause), "{p}: {r:#?}");
}

#[test]
fn the_start_script_with_iptables_legacy_passes_egress_publish_and_names() {
    let Some(o) = run("gvisor-start-script-iptables-legacy", None) else {
        return;
    };
    for p in [Probe::Egress, Probe::EgressHost, Probe::Publish, Probe::Dns] {
        assert_ok(&o, p);
    }
    // Through the bridge, the uplink's coalesced frames are dropped (gVisor issue 14011).
    assert_fails_with(
        &o,
        Probe::Bulk,
        "netstack-forwarding-drops-coalesced-frames",
    );
    assert!(
        probe(&o, Probe::Bulk).retried.is_none(),
        "a stall is not retried"
    );
}

#[test]
fn without_coalesced_frames_the_bulk_download_completes() {
    let Some(o) = run("gvisor-start-script-no-offload", None) else {
        return;
    };
    assert_ok(&o, Probe::Bulk);
    let t = probe(&o, Probe::Bulk)
        .transfer
        .expect("bulk records its transfer");
    assert_eq!(t.bytes, 16 * 1024 * 1024);
    assert!(t.ms > 0);
}

#[test]
fn the_tutorial_recipe_has_no_egress_from_the_bridge_and_no_names() {
    let Some(o) = run("gvisor-tutorial-dockerd28-packet-write", None) else {
        return;
    };
    assert_ok(&o, Probe::EgressHost);
    assert_fails_with(&o, Probe::Egress, "nested-bridge-no-nat");
    assert_fails_with(&o, Probe::Dns, "nested-dns-needs-iptables-legacy");
    assert_fails_with(&o, Probe::Bulk, "nested-bridge-no-nat");
    // A failure with a lasting cause is not tried twice.
    assert!(probe(&o, Probe::Egress).retried.is_none());
}

#[test]
fn with_bridge_none_a_published_port_is_bound_to_nothing() {
    let Some(o) = run("merged-m-no-ip-forward", None) else {
        return;
    };
    assert_ok(&o, Probe::EgressHost);
    assert_fails_with(&o, Probe::Publish, "nested-no-default-bridge");
    assert_fails_with(&o, Probe::Egress, "nested-no-default-bridge");
}

#[test]
fn where_no_nested_container_starts_even_host_egress_fails() {
    // runsc 20251215 gives a tmpfs no nr_blocks, which Docker 28.5's runc asks for: every
    // nested container fails to start there, `--network=host` ones included.
    let runtime = Some("runsc-20251215");
    let Some(o) = run_on("gvisor-start-script-iptables-legacy", None, runtime) else {
        return;
    };
    for p in Probe::NETWORK {
        assert_fails_with(&o, p, "nested-runc-tmpfs-nr-blocks");
    }
}

#[test]
fn without_a_sandbox_network_the_network_probes_are_not_applicable() {
    let Some(o) = run(
        "gvisor-tutorial-dockerd28-packet-write",
        Some(RunscNetwork::None),
    ) else {
        return;
    };
    for p in Probe::NETWORK {
        let r = probe(&o, p);
        assert_eq!(r.verdict, ProbeVerdict::NotApplicable, "{p}: {r:#?}");
        assert!(
            r.detail
                .as_deref()
                .is_some_and(|d| d.contains("--network=none")),
            "{r:#?}"
        );
    }
}
