//! How a trial is timed, run for real (docs/host-facts.md, "Readiness, event-driven" and
//! "Teardown"): a ready trial records when dockerd's own log says it began to serve and how
//! long after that the harness knew; an exited trial's status comes from the boot log; the
//! teardown leaves nothing. What the figures are is the benchmark's business
//! (`scripts/bench`, reports/BENCH.md), never an assertion here.
//!
//! Without an inventory the tests fail, unless `DINDCHECK_ALLOW_SKIP=1`, with which they
//! pass with a note on stderr.

mod common;

use dindcheck::case::{Case, RunscNetwork};
use dindcheck::inventory::{self, Inventory, Runtime};
use dindcheck::trial::launch::Launcher;
use dindcheck::trial::launch::scratch;
use dindcheck::trial::outcome::{Outcome, Verdict};
use dindcheck::trial::plan::{RunOptions, Trial};

/// Runs `case` once under the OCI launcher, with probes or without.
fn run(case: &Case, inv: &Inventory, runtime: &Runtime, no_probes: bool) -> Outcome {
    let options = RunOptions {
        network_override: Some(RunscNetwork::None),
        launchers: vec![Launcher::Oci],
    };
    let trial = Trial::new(case, runtime, Launcher::Oci, &options);
    let result = common::run_once(&trial, inv, no_probes);
    let root = inventory::home().join("runs");
    let running = scratch::processes_mentioning(&root.to_string_lossy());
    assert!(
        running.iter().all(|pid| !mentions_this_process(*pid)),
        "processes of this trial still run: {running:?}"
    );
    // A SIGKILLed sandbox can stay in its cgroups a moment after its pidfd said it ended:
    // the teardown waits for them to empty (once a ready trial's were left every other run).
    let cgroups = common::cgroups_named(&format!("dindcheck-{}-", std::process::id()));
    assert!(
        cgroups.is_empty(),
        "cgroups of this trial left: {cgroups:?}"
    );
    result.outcome
}

/// Whether `pid` names a scratch directory of this test process (`<home>/runs/<pid>-<n>`):
/// other test binaries may be running trials at the same time.
fn mentions_this_process(pid: u32) -> bool {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let needle = format!("/runs/{}-", std::process::id());
    String::from_utf8_lossy(&cmdline).contains(&needle)
}

#[test]
fn a_ready_trial_records_when_dockerd_began_to_serve_and_when_it_was_seen() {
    // merged-o-latest passes --TESTONLY-allow-packet-endpoint-write, which only Debian's
    // runsc know (the catalogue's runsc-unknown-flag).
    let Some((inv, runtime)) = common::newest_debian_runsc_or_skip() else {
        return;
    };
    let outcome = run(
        &common::corpus_case("merged-o-latest"),
        &inv,
        &runtime,
        true,
    );
    assert_eq!(outcome.verdict, Verdict::Ready, "{outcome:#?}");
    assert!(outcome.probes.is_empty(), "--no-probes runs none");
    let timing = outcome.timing.expect("every trial that ran is timed");
    let ready = outcome.ready_ms.unwrap();
    let served = timing
        .served_ms
        .expect("dockerd logs `API listen on` with its timestamp");
    // The same instant seen twice: the detection overhead is their difference, whatever
    // its size.
    assert_eq!(timing.detection_ms, Some(ready as i64 - served as i64));
    assert!(timing.waited_ms.unwrap() >= ready);
    assert!(timing.wall_ms >= timing.waited_ms.unwrap());
}

#[test]
fn an_exited_trial_takes_its_status_from_the_boot_log() {
    let Some((inv, runtime)) = common::newest_runsc_or_skip() else {
        return;
    };
    // dockerd stops at once: no devices cgroup (cases/history-d-plain-dockerd.toml).
    let outcome = run(
        &common::corpus_case("history-d-plain-dockerd"),
        &inv,
        &runtime,
        false,
    );
    assert_eq!(outcome.verdict, Verdict::Exited, "{outcome:#?}");
    assert_eq!(outcome.exit_code, Some(1), "{outcome:#?}");
    let timing = outcome.timing.expect("timed");
    assert_eq!(timing.served_ms, None, "dockerd never served");
    assert_eq!(timing.detection_ms, None);
    assert_eq!(timing.probes_ms, 0);
}
