//! What doctor produces: one [`Check`] per question asked of the host, gathered in a
//! [`Diagnosis`]. Plain data: `render` shows it on a terminal, and the report carries it.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::trial::plan::{NotRun, Trial};

/// A check's verdict.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Works as cases need it.
    Ok,
    /// A limitation: some cases or options cannot be tested here, the others can.
    Warn,
    /// Does not work on this host.
    Fail,
}

impl Status {
    pub fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✔",
            Status::Warn => "⚠",
            Status::Fail => "✖",
        }
    }
}

/// What a check is about: lets callers (such as `dindcheck run`) find the checks that
/// matter to them without matching on names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "name")]
pub enum Topic {
    Inventory,
    Engine,
    Disk,
    RunscVersion,
    RunscFlags,
    SandboxStarts,
    Platform(String),
    Network,
    Cgroups,
    HostUds,
    Rootfs,
}

/// One question asked of the host, with what was run to answer it.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Check {
    /// What the check is about: `host`, `runsc-20240729`, `rootfs bookworm`.
    pub subject: String,
    pub topic: Topic,
    /// A short name for the table: `platform kvm`, `sandbox networking`.
    pub name: String,
    pub status: Status,
    /// One line: what was found.
    pub summary: String,
    /// The commands run and the lines they printed that led to the verdict.
    pub evidence: Vec<String>,
    /// One line: what to do about it (for a warning or a failure).
    pub remedy: Option<String>,
    pub elapsed_ms: u64,
}

impl Check {
    pub fn new(subject: &str, topic: Topic, name: &str) -> Check {
        Check {
            subject: subject.to_string(),
            topic,
            name: name.to_string(),
            status: Status::Ok,
            summary: String::new(),
            evidence: Vec::new(),
            remedy: None,
            elapsed_ms: 0,
        }
    }

    pub fn ok(mut self, summary: impl Into<String>) -> Check {
        self.status = Status::Ok;
        self.summary = summary.into();
        self
    }

    pub fn warn(mut self, summary: impl Into<String>, remedy: impl Into<String>) -> Check {
        self.status = Status::Warn;
        self.summary = summary.into();
        self.remedy = Some(remedy.into());
        self
    }

    pub fn fail(mut self, summary: impl Into<String>, remedy: impl Into<String>) -> Check {
        self.status = Status::Fail;
        self.summary = summary.into();
        self.remedy = Some(remedy.into());
        self
    }

    pub fn evidence(mut self, lines: impl IntoIterator<Item = String>) -> Check {
        self.evidence.extend(lines);
        self
    }
}

/// The version of `dindcheck doctor --json`'s format ([`DoctorReport`]).
pub const DOCTOR_SCHEMA_VERSION: u32 = 1;

/// Doctor's answer in one word.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum HostVerdict {
    /// Every check passed.
    Ready,
    /// Cases can run, with the limitations the checks that are not ✔ describe.
    Limited,
    /// Cases cannot run on this host.
    CannotRun,
}

/// `dindcheck doctor --json`: the schema version, the verdict, then the diagnosis.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct DoctorReport {
    pub schema: u32,
    pub verdict: HostVerdict,
    #[serde(flatten)]
    pub diagnosis: Diagnosis,
}

impl DoctorReport {
    pub fn new(diagnosis: Diagnosis) -> DoctorReport {
        let verdict = if !diagnosis.can_run_cases() {
            HostVerdict::CannotRun
        } else if diagnosis.checks.iter().all(|c| c.status == Status::Ok) {
            HostVerdict::Ready
        } else {
            HostVerdict::Limited
        };
        DoctorReport {
            schema: DOCTOR_SCHEMA_VERSION,
            verdict,
            diagnosis,
        }
    }
}

/// Everything doctor found on this host.
#[derive(Clone, Debug, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Diagnosis {
    /// The running kernel (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    pub home: PathBuf,
    /// Only the quick checks ran: platforms only where a run forces one.
    pub quick: bool,
    pub checks: Vec<Check>,
    /// Wall-clock time of the whole diagnosis, measured.
    pub elapsed_ms: u64,
}

impl Diagnosis {
    /// Whether cases can run at all: some runsc starts a sandbox whose unix sockets the host
    /// can reach (how the harness talks to dockerd), and some root filesystem is present.
    pub fn can_run_cases(&self) -> bool {
        let runsc_ok = self.subjects().iter().any(|s| {
            let ok = |t: &Topic| {
                self.checks
                    .iter()
                    .any(|c| &c.subject == s && &c.topic == t && c.status != Status::Fail)
            };
            ok(&Topic::SandboxStarts) && ok(&Topic::HostUds)
        });
        let rootfs_ok = self
            .checks
            .iter()
            .any(|c| c.topic == Topic::Rootfs && c.status != Status::Fail);
        let inventory_ok = !self
            .checks
            .iter()
            .any(|c| c.topic == Topic::Inventory && c.status == Status::Fail);
        inventory_ok && runsc_ok && rootfs_ok
    }

    /// Subjects in the order their first check appears.
    pub fn subjects(&self) -> Vec<String> {
        let mut v: Vec<String> = Vec::new();
        for c in &self.checks {
            if !v.contains(&c.subject) {
                v.push(c.subject.clone());
            }
        }
        v
    }

    /// The check of `topic` for `subject`, if it ran.
    pub fn find(&self, subject: &str, topic: &Topic) -> Option<&Check> {
        self.checks
            .iter()
            .find(|c| c.subject == subject && &c.topic == topic)
    }

    /// Why a trial cannot be tested on this host, if doctor found a reason: the runsc of
    /// runtime `runsc` (`runsc-20240729`, without a platform) with runsc network mode
    /// `network` and a forced `platform`. Such a trial would fail for a reason of the host,
    /// not of its case.
    pub fn untestable(&self, runsc: &str, network: &str, platform: Option<&str>) -> Option<String> {
        let subject = runsc.to_string();
        let failed = |t: &Topic| self.find(&subject, t).filter(|c| c.status == Status::Fail);
        if network == "sandbox" {
            if let Some(c) = failed(&Topic::Network) {
                return Some(format!(
                    "{subject}'s sandbox networking does not work on this host ({}); \
                     use `--runsc-network none`",
                    c.summary.split(':').next().unwrap_or_default()
                ));
            }
        }
        let p = platform?;
        failed(&Topic::Platform(p.to_string()))
            .map(|c| format!("{subject}'s platform {p} on this host: {}", c.summary))
    }

    /// Splits `trials` into those this host can test and those it cannot, with the reason.
    pub fn split_untestable(&self, trials: &[Trial]) -> (Vec<Trial>, Vec<NotRun>) {
        let mut run = Vec::new();
        let mut not_run = Vec::new();
        for t in trials {
            let why = self.untestable(
                t.runtime.name.split('@').next().unwrap_or_default(),
                t.network.as_str(),
                t.runtime.platform.as_deref(),
            );
            match why {
                Some(reason) => not_run.push(NotRun {
                    trial: t.name(),
                    reason,
                }),
                None => run.push(t.clone()),
            }
        }
        (run, not_run)
    }

    /// Counts of ok, warn and fail.
    pub fn counts(&self) -> (usize, usize, usize) {
        let n = |s| self.checks.iter().filter(|c| c.status == s).count();
        (n(Status::Ok), n(Status::Warn), n(Status::Fail))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(subject: &str, topic: Topic, status: Status) -> Check {
        let mut c = Check::new(subject, topic, "x");
        c.status = status;
        c
    }

    fn diagnosis(checks: Vec<Check>) -> Diagnosis {
        Diagnosis {
            kernel: "6.18".into(),
            home: "/h".into(),
            quick: false,
            checks,
            elapsed_ms: 0,
        }
    }

    #[test]
    fn cases_can_run_with_one_working_runsc_and_one_rootfs() {
        let d = diagnosis(vec![
            check("runsc-a", Topic::SandboxStarts, Status::Fail),
            check("runsc-a", Topic::HostUds, Status::Fail),
            check("runsc-b", Topic::SandboxStarts, Status::Ok),
            check("runsc-b", Topic::HostUds, Status::Ok),
            check("runsc-b", Topic::Network, Status::Fail),
            check("rootfs x", Topic::Rootfs, Status::Ok),
        ]);
        assert!(d.can_run_cases());
        assert_eq!(d.counts(), (3, 0, 3));
    }

    #[test]
    fn the_json_report_carries_a_schema_version_and_one_verdict() {
        let working = || {
            vec![
                check("runsc-b", Topic::SandboxStarts, Status::Ok),
                check("runsc-b", Topic::HostUds, Status::Ok),
                check("rootfs x", Topic::Rootfs, Status::Ok),
            ]
        };
        let verdict = |checks| DoctorReport::new(diagnosis(checks)).verdict;
        assert_eq!(verdict(working()), HostVerdict::Ready);
        let mut limited = working();
        limited.push(check("runsc-b", Topic::Network, Status::Fail));
        assert_eq!(verdict(limited), HostVerdict::Limited);
        assert_eq!(verdict(working()[..2].to_vec()), HostVerdict::CannotRun);
        let json = serde_json::to_value(DoctorReport::new(diagnosis(working()))).unwrap();
        assert_eq!(json["schema"], DOCTOR_SCHEMA_VERSION);
        assert_eq!(json["verdict"], "ready");
        assert!(
            json["checks"].is_array(),
            "the diagnosis is flattened: {json}"
        );
    }

    #[test]
    fn sandbox_networking_trials_are_untestable_where_networking_failed() {
        let mut net = check("runsc-20240729", Topic::Network, Status::Fail);
        net.summary = "unavailable: misdetection".into();
        let d = diagnosis(vec![
            net,
            check(
                "runsc-20240729",
                Topic::Platform("kvm".into()),
                Status::Fail,
            ),
            check(
                "runsc-20240729",
                Topic::Platform("ptrace".into()),
                Status::Ok,
            ),
        ]);
        let why = d.untestable("runsc-20240729", "sandbox", None).unwrap();
        assert!(why.contains("sandbox networking does not work"), "{why}");
        assert!(why.contains("--runsc-network none"), "{why}");
        assert_eq!(d.untestable("runsc-20240729", "none", None), None);
        assert_eq!(d.untestable("runsc-20221219", "sandbox", None), None);
        assert!(
            d.untestable("runsc-20240729", "none", Some("kvm"))
                .is_some()
        );
        assert_eq!(d.untestable("runsc-20240729", "none", Some("ptrace")), None);
    }

    #[test]
    fn cases_cannot_run_without_host_uds_or_rootfs() {
        let no_uds = diagnosis(vec![
            check("runsc-a", Topic::SandboxStarts, Status::Ok),
            check("runsc-a", Topic::HostUds, Status::Fail),
            check("rootfs x", Topic::Rootfs, Status::Ok),
        ]);
        assert!(!no_uds.can_run_cases());
        let no_rootfs = diagnosis(vec![
            check("runsc-a", Topic::SandboxStarts, Status::Ok),
            check("runsc-a", Topic::HostUds, Status::Ok),
            check("rootfs x", Topic::Rootfs, Status::Fail),
        ]);
        assert!(!no_rootfs.can_run_cases());
    }
}
