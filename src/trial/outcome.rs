//! What a trial observed. Plain data: produced by [`crate::trial::run`], read by the report and
//! the conformance gate.

use serde::{Deserialize, Serialize};

use crate::case::RunscNetwork;
use crate::trial::classify::{Catalogue, Kind, UNKNOWN};
use crate::trial::launch::Launcher;
pub use crate::trial::observe::DaemonInfo;
use crate::trial::probe::{ProbeResult, ProbeVerdict};

/// How far dockerd got.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// dockerd answered `info` on its socket.
    Ready,
    /// dockerd, the setup script or the sandbox stopped before dockerd was ready.
    Exited,
    /// Nothing stopped, and dockerd did not answer within the case's timeout.
    Timeout,
    /// runsc refused to create or start the sandbox.
    LaunchFailed,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ready => "ready",
            Verdict::Exited => "exited",
            Verdict::Timeout => "timeout",
            Verdict::LaunchFailed => "launch-failed",
        }
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything one trial observed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Outcome {
    /// `<case>::<launcher>::<runtime>`.
    pub trial: String,
    pub case: String,
    pub runtime: String,
    pub launcher: Launcher,
    /// The runsc network mode used, and whether the run substituted it for the case's own.
    pub network: RunscNetwork,
    pub network_substituted: bool,
    pub verdict: Verdict,
    /// Milliseconds from the launch to the first answered `info` (ready only).
    pub ready_ms: Option<u64>,
    /// The container's exit status (exited only).
    pub exit_code: Option<i32>,
    /// The one line that best explains a verdict other than ready (normalised).
    pub decisive: Option<String>,
    /// Every error line seen: dockerd's `level=error|fatal`, its `failed to start daemon`,
    /// the setup script's failure, runsc's own errors (normalised, in order, deduplicated).
    pub error_lines: Vec<String>,
    /// The last lines of output, for the report's details.
    pub log_tail: Vec<String>,
    #[serde(default)]
    pub daemon: Option<DaemonInfo>,
    /// The workload probes run after readiness ([`crate::trial::probe`]), in order.
    #[serde(default)]
    pub probes: Vec<ProbeResult>,
    /// The error catalogue's id for the verdict when it is not ready ([`crate::trial::classify`]);
    /// `unknown` when no known cause matched.
    #[serde(default)]
    pub diagnosis: Option<String>,
    /// The catalogue ids of every error line (decisive line, dockerd's and runsc's errors,
    /// failed probes), in order of first appearance; `unknown` last if a failure is unexplained.
    #[serde(default)]
    pub catalogue_ids: Vec<String>,
    /// What was still there after the trial's teardown: processes, its scratch directory
    /// (always empty unless the cleanup failed; not part of the baseline).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub leaks: Vec<String>,
    /// Where the trial's time went (not part of the baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
    /// The sha256 of what the outcome depends on (the case, runsc, the root filesystem, the
    /// kernel, the harness, the probes): a later run given these results (`--reuse`) takes
    /// the outcome as it is while the digest is the same (not part of the baseline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Set when this outcome was not measured by this run but taken from an earlier one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reused: Option<Reused>,
}

/// Where a reused outcome was measured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Reused {
    /// The results file it was read from, as given to `--reuse`.
    pub from: String,
    /// When the run that measured it finished (that run's `generated`).
    pub generated: String,
}

/// Where one trial's wall time went, and how late the harness saw dockerd's readiness.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Timing {
    /// Milliseconds from the trial's start (scratch directory made) to the end of its
    /// teardown.
    pub wall_ms: u64,
    /// From the trial's start to the launch: host checks, the scratch directory and its
    /// root filesystem view, what the launcher writes.
    #[serde(default)]
    pub prepare_ms: u64,
    /// When the wait for readiness ended (ready, exited or timed out), in milliseconds
    /// after the launch; none when the sandbox never ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waited_ms: Option<u64>,
    /// dockerd's own log timestamp of the moment it started serving its API ("API listen
    /// on"), in milliseconds after the launch; none when it never logged it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub served_ms: Option<u64>,
    /// `ready_ms − served_ms`: how long after dockerd began to serve the harness knew it (the
    /// detection overhead). Host and sandbox share one clock; a value a few ms below zero is
    /// the rounding of the log's timestamp against the launch instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection_ms: Option<i64>,
    /// The workload probes, wall time (they run concurrently after the image import).
    pub probes_ms: u64,
    /// Reading the output, ending the sandbox and removing the scratch directory.
    pub teardown_ms: u64,
}

impl Timing {
    /// What the trial spent around the thing it measures: wall − ready − probes (launch
    /// preparation, runsc create/start, teardown).
    pub fn overhead_ms(&self, ready_ms: Option<u64>) -> u64 {
        self.wall_ms
            .saturating_sub(ready_ms.unwrap_or(0))
            .saturating_sub(self.probes_ms)
    }
}

impl Outcome {
    /// The probes that could run here: all but the "not applicable" network probes of a
    /// sandbox without a network, which count neither as passed nor as failed.
    pub fn applicable_probes(&self) -> impl Iterator<Item = &ProbeResult> {
        self.probes
            .iter()
            .filter(|p| p.verdict != ProbeVerdict::NotApplicable)
    }

    /// Names every error line of this outcome with `catalogue`, and explains each of its failures (the verdict
    /// when not ready, each failed probe). The decisive line comes first: it is the one the
    /// runner judged most telling.
    pub fn classify(&mut self, catalogue: &Catalogue) {
        let outcome = self;
        let trial_lines: Vec<&str> = outcome
            .decisive
            .iter()
            .chain(outcome.error_lines.iter())
            .map(String::as_str)
            .collect();
        // The verdict by its decisive line, a failed probe by its own error; every other line
        // a signature names is only "also seen" (`catalogue_ids`).
        outcome.diagnosis = match outcome.verdict {
            Verdict::Ready => None,
            _ => Some(catalogue.diagnose(outcome.decisive.as_deref())),
        };
        // A probe that failed twice is diagnosed by its second error, unless that is a
        // transient cause and the first a lasting one: the retry then only met the nested
        // start's race (catalogue `transient`), not another reason for the failure.
        let transient = |id: &str| catalogue.get(id).is_some_and(|s| s.transient);
        for p in &mut outcome.probes {
            p.diagnosis = match (p.verdict, &p.detail) {
                (ProbeVerdict::Failed, Some(d)) => {
                    let last = catalogue.diagnose(Some(d.as_str()));
                    let first = p.retried.as_deref().map(|r| catalogue.diagnose(Some(r)));
                    match first {
                        Some(first)
                            if transient(&last) && first != UNKNOWN && !transient(&first) =>
                        {
                            Some(first)
                        }
                        _ => Some(last),
                    }
                }
                (ProbeVerdict::Failed, None) => Some(UNKNOWN.to_string()),
                _ => None,
            };
        }
        let probe_lines = outcome
            .probes
            .iter()
            .filter(|p| p.verdict == ProbeVerdict::Failed)
            .filter_map(|p| p.detail.as_deref());
        let mut ids: Vec<String> = Vec::new();
        for line in trial_lines.iter().copied().chain(probe_lines) {
            if let Some(s) = catalogue.match_line(line)
                && !ids.contains(&s.id)
            {
                ids.push(s.id.clone());
            }
        }
        let unknown = outcome.diagnosis.as_deref() == Some(UNKNOWN)
            || outcome
                .probes
                .iter()
                .any(|p| p.diagnosis.as_deref() == Some(UNKNOWN));
        if unknown {
            ids.push(UNKNOWN.to_string());
        }
        outcome.catalogue_ids = ids;
    }
    /// The part of an outcome that the conformance gate compares with its baseline: what
    /// should not change unless runsc, dockerd or the recipe did. Never timings.
    pub fn baseline(&self) -> String {
        let mut s = format!("verdict: {}\n", self.verdict);
        if let Some(code) = self.exit_code {
            s.push_str(&format!("exit code: {code}\n"));
        }
        if let Some(d) = &self.decisive {
            s.push_str(&format!("explained by: {d}\n"));
        }
        if let Some(d) = &self.diagnosis {
            s.push_str(&format!("diagnosis: {d}\n"));
        }
        // Causes only, sorted: symptoms (a closed fifo, dockerd's storage-driver probing) and
        // transient causes (a retried nested start) come and go with timing, and the order of
        // log lines is not part of an outcome. A failure they decide still shows them below.
        let catalogue = Catalogue::builtin();
        let mut ids: Vec<&str> = self
            .catalogue_ids
            .iter()
            .map(String::as_str)
            .filter(|id| {
                catalogue
                    .get(id)
                    .is_none_or(|s| s.kind == Kind::Cause && !s.transient)
            })
            .collect();
        ids.sort();
        if !ids.is_empty() {
            s.push_str(&format!("catalogue: {}\n", ids.join(", ")));
        }
        for p in &self.probes {
            s.push_str(&format!("probe {}: {}", p.probe, p.verdict.as_str()));
            if let Some(d) = &p.diagnosis {
                s.push_str(&format!(" ({d})"));
            }
            s.push('\n');
        }
        s
    }
}

/// Outcomes for the unit tests of every stage that reads them.
#[cfg(test)]
impl Outcome {
    /// `trial` (`case::launcher::runtime`) ended with `verdict`: ready in 1 ms when ready,
    /// with no line, no probe and no figure.
    pub(crate) fn fixture(trial: &str, verdict: Verdict) -> Outcome {
        let mut parts = trial.splitn(3, "::");
        let (case, launcher, runtime) = (
            parts.next().unwrap_or_default(),
            parts.next().unwrap_or("oci"),
            parts.next().unwrap_or_default(),
        );
        serde_json::from_value(serde_json::json!({
            "trial": trial, "case": case, "runtime": runtime, "launcher": launcher,
            "network": "none", "network_substituted": false, "verdict": verdict,
            "ready_ms": (verdict == Verdict::Ready).then_some(1), "exit_code": null,
            "decisive": null, "error_lines": [], "log_tail": [],
        }))
        .expect("a fixture outcome deserialises")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready_with(ids: &[&str]) -> Outcome {
        let mut o: Outcome = serde_json::from_value(serde_json::json!({
            "trial": "c::oci::r", "case": "c", "runtime": "r", "launcher": "oci",
            "network": "none", "network_substituted": false, "verdict": "ready",
            "ready_ms": 900, "exit_code": null, "decisive": null,
            "error_lines": [], "log_tail": [],
        }))
        .unwrap();
        o.catalogue_ids = ids.iter().map(|s| s.to_string()).collect();
        o
    }

    /// The Stability section of a `--repeat 5` run: one of five executions of
    /// claim-userland-proxy-false::oci::runsc-20240729 had its exec probe diagnosed by the
    /// retry's "cannot start a stopped process", the other four by the setns error.
    #[test]
    fn a_retry_that_met_a_transient_cause_does_not_decide_the_probe() {
        let setns = "OCI runtime exec failed: exec failed: unable to start container process: \
                     error executing setns process: exit status 1: unknown";
        let stopped = "Error response from daemon: cannot start a stopped process: unknown";
        let probe = |detail: &str, retried: Option<&str>| {
            serde_json::json!({"probe": "exec", "verdict": "failed", "ms": 1,
                               "detail": detail, "retried": retried})
        };
        let mut o = ready_with(&[]);
        o.probes = serde_json::from_value(serde_json::json!([
            probe(stopped, Some(setns)),
            probe(setns, Some(stopped)),
            probe(stopped, Some(stopped)),
            probe(stopped, None),
        ]))
        .unwrap();
        o.classify(Catalogue::builtin());
        let got: Vec<_> = o
            .probes
            .iter()
            .map(|p| p.diagnosis.clone().unwrap())
            .collect();
        assert_eq!(
            got,
            [
                "nested-runc-exec-setns",
                "nested-runc-exec-setns",
                "nested-start-stopped-process",
                "nested-start-stopped-process"
            ]
        );
    }

    /// tests/flaky.toml's history: the exec probe's first start failed once in 490
    /// executions ("cannot start a stopped process"), the retry gave the baseline's result,
    /// and dockerd's log of the first attempt made the trial differ from its baseline.
    #[test]
    fn a_transient_cause_seen_only_in_passing_is_no_part_of_the_baseline() {
        let seen = ready_with(&["nested-runc-exec-setns", "nested-start-stopped-process"]);
        let usual = ready_with(&["nested-runc-exec-setns"]);
        assert_eq!(seen.baseline(), usual.baseline());
        assert!(
            Catalogue::builtin()
                .get("nested-start-stopped-process")
                .unwrap()
                .transient
        );
    }
}
