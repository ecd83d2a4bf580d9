//! The report: a markdown comparison of every case across runtimes, and the same data as
//! JSON ([`Results`], versioned by [`SCHEMA_VERSION`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::case::{Case, Claimed};
use crate::classify::{Catalogue, UNKNOWN};
use crate::gate::BaselineComparison;
use crate::inventory::{Rootfs, Runtime};
use crate::outcome::{Outcome, Verdict};
use crate::probe::{Probe, ProbeVerdict};

pub const SCHEMA_VERSION: u32 = 1;

/// Everything a run produced: what the markdown is rendered from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    pub generated: String,
    /// The machine the run was on (its host name).
    #[serde(default)]
    pub host: String,
    pub dindcheck_version: String,
    pub host_kernel: String,
    /// The network mode that replaced every case's own, if any.
    pub network_override: Option<String>,
    pub runtimes: Vec<RuntimeInfo>,
    pub rootfs: Vec<Rootfs>,
    pub cases: Vec<CaseInfo>,
    pub outcomes: Vec<Outcome>,
    /// Trials that could not be attempted, with the reason (a host problem, not an outcome).
    pub not_run: Vec<NotRun>,
    /// False when the run was interrupted before every trial finished.
    pub complete: bool,
    /// Each trial's outcome against its recorded baseline (empty when none were consulted).
    #[serde(default)]
    pub baselines: Vec<BaselineStatus>,
    /// The launchers of the run, in column order (`oci`, `engine`).
    #[serde(default)]
    pub launchers: Vec<String>,
    /// Trials whose launcher cannot express the case, with the reason.
    #[serde(default)]
    pub not_expressible: Vec<NotRun>,
    /// Engine trials whose sandbox the engine left running after the container was removed
    /// (what was found, and ended).
    #[serde(default)]
    pub leaked: Vec<NotRun>,
    /// The outer engine of the engine launcher, when it ran.
    #[serde(default)]
    pub engine: Option<EngineFigures>,
    /// What `dindcheck doctor`'s quick checks found before the cases ran (absent in results
    /// written before doctor existed, or with `--no-doctor`).
    #[serde(default)]
    pub host_checks: Option<crate::doctor::Diagnosis>,
}

/// What the outer engine of a run took: measured, never asserted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EngineFigures {
    /// The outer dockerd's version.
    pub dockerd: String,
    /// The address of an existing engine the run used (`--engine`), which it did not start.
    #[serde(default)]
    pub existing: Option<String>,
    /// From spawning dockerd to its first answer.
    pub start_ms: u64,
    /// From SIGTERM to its exit and the sweep of its exec-root.
    pub stop_ms: Option<u64>,
    pub imports: Vec<ImportFigure>,
    /// What a dead earlier run had left in the engine's slot (ended before this run).
    pub reaped: Vec<String>,
    /// Processes still under the engine's exec-root after it stopped (ended).
    pub leaked_at_stop: Vec<String>,
    /// Each reload (SIGHUP) that gave the running engine a runtime it lacked, in ms.
    #[serde(default)]
    pub reload_ms: Vec<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportFigure {
    /// The root filesystem imported; empty for an image a case names (pulled).
    pub rootfs: String,
    pub image: String,
    /// `None`: the image was already there under the rootfs's current content key.
    pub import_ms: Option<u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BaselineStatus {
    pub trial: String,
    pub baseline: String,
    #[serde(flatten)]
    pub comparison: BaselineComparison,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RuntimeInfo {
    pub name: String,
    pub version: String,
    pub platform: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CaseInfo {
    pub name: String,
    pub description: String,
    pub source: String,
    pub claim: String,
    pub rootfs: String,
    pub extends: Option<String>,
    pub network: String,
    #[serde(default)]
    pub claimed: Option<Claimed>,
    #[serde(default)]
    pub claimed_probes: BTreeMap<crate::probe::Probe, Claimed>,
    /// What this case changes relative to the case it extends.
    #[serde(default)]
    pub changes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NotRun {
    pub trial: String,
    pub reason: String,
}

impl CaseInfo {
    /// `parent`: the case `c` extends, if any, for the before/after view.
    pub fn from_case(c: &Case, parent: Option<&Case>) -> CaseInfo {
        CaseInfo {
            claimed: c.claimed,
            claimed_probes: c.claimed_probes.clone(),
            changes: parent
                .map(|p| crate::case::load::changes(p, c))
                .unwrap_or_default(),
            name: c.name.clone(),
            description: c.description.clone(),
            source: c.source.clone(),
            claim: c.claim.clone(),
            // What holds dockerd: the rootfs, or for a case that names one, the image.
            rootfs: match &c.image {
                Some(image) => format!("image {image}"),
                None => c.rootfs.clone(),
            },
            extends: c.extend.clone(),
            network: c.runsc.network.as_str().into(),
        }
    }
}

impl RuntimeInfo {
    pub fn from_runtime(r: &Runtime, version: &str) -> RuntimeInfo {
        RuntimeInfo {
            name: r.name.clone(),
            version: version.to_string(),
            platform: r.platform.clone().unwrap_or_else(|| "default".into()),
        }
    }
}

/// What a run had and did, gathered into [`Results`].
pub struct RunRecord<'a> {
    pub trials: &'a [crate::plan::Trial],
    pub corpus: &'a crate::case::Corpus,
    pub inventory: &'a crate::inventory::Inventory,
    pub outcomes: Vec<Outcome>,
    pub not_run: Vec<NotRun>,
    pub network_override: Option<String>,
    pub complete: bool,
    /// The baseline directory to compare outcomes with, if any.
    pub baseline_dir: Option<&'a Path>,
}

impl Results {
    pub fn from_run(run: RunRecord) -> Results {
        let mut runtimes: Vec<RuntimeInfo> = Vec::new();
        let mut cases: Vec<CaseInfo> = Vec::new();
        let mut launchers: Vec<String> = Vec::new();
        for t in run.trials {
            if !launchers.iter().any(|l| l == t.launcher.as_str()) {
                launchers.push(t.launcher.as_str().to_string());
            }
            if !runtimes.iter().any(|r| r.name == t.runtime.name) {
                let version = run
                    .inventory
                    .runsc
                    .iter()
                    .find(|b| b.release == t.runtime.release)
                    .map_or("?", |b| b.package_version.as_str());
                runtimes.push(RuntimeInfo::from_runtime(&t.runtime, version));
            }
            if !cases.iter().any(|c| c.name == t.case.name) {
                let parent = t.case.extend.as_deref().and_then(|p| run.corpus.get(p));
                cases.push(CaseInfo::from_case(&t.case, parent));
            }
        }
        let baselines = match run.baseline_dir {
            Some(dir) if dir.is_dir() => run
                .trials
                .iter()
                .filter_map(|t| {
                    let o = run.outcomes.iter().find(|o| o.trial == t.name())?;
                    let name = crate::gate::trial_baseline_name(t, run.inventory)?;
                    Some(BaselineStatus {
                        trial: t.name(),
                        comparison: crate::gate::compare(dir, &name, o),
                        baseline: name,
                    })
                })
                .collect(),
            _ => Vec::new(),
        };
        Results {
            schema: SCHEMA_VERSION,
            generated: chrono::Utc::now().format("%Y-%m-%d %H:%M UTC").to_string(),
            host: std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            dindcheck_version: env!("CARGO_PKG_VERSION").into(),
            host_kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            network_override: run.network_override,
            runtimes,
            rootfs: run.inventory.rootfs.clone(),
            cases,
            outcomes: run.outcomes,
            not_run: run.not_run,
            complete: run.complete,
            baselines,
            launchers,
            not_expressible: Vec::new(),
            leaked: Vec::new(),
            engine: None,
            host_checks: None,
        }
    }
}

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
    Ok(merged)
}

/// A table cell: no `|`, no newline, no HTML, no backtick that could open a code span, and no
/// link or image to anywhere but an anchor of the report itself (lines come from sandbox
/// output, which a case controls: `![x](https://…)` or `[x](javascript:…)` must stay text).
pub fn cell(text: &str) -> String {
    let s = text
        .replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ");
    // `](` opens a link's destination: keep only `](#anchor)`, escape every other one.
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.find("](") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 2..];
        out.push_str(if after.starts_with('#') { "](" } else { "]\\(" });
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Text for inside a fenced block in a `<details>`: the fence must not be closable by it.
fn fenced(text: &str) -> String {
    text.replace("```", "'''")
}

fn verdict_mark(v: Verdict) -> &'static str {
    match v {
        Verdict::Ready => "✔",
        Verdict::Exited | Verdict::LaunchFailed => "✖",
        Verdict::Timeout => "⧗",
    }
}

/// The compact form of an outcome in the matrix.
pub fn matrix_cell(o: &Outcome) -> String {
    cell(&summary_line(o))
}

/// One line of plain text that sums up an outcome (the matrix cell, unescaped): for the
/// terminal.
pub fn summary_line(o: &Outcome) -> String {
    match o.verdict {
        Verdict::Ready => format!(
            "✔ ready in {:.1} s",
            o.ready_ms.unwrap_or(0) as f64 / 1000.0
        ),
        v => {
            let id = o
                .diagnosis
                .as_deref()
                .map(|d| format!(" [{d}]"))
                .unwrap_or_default();
            match o.decisive.as_deref() {
                Some(why) => format!("{} {}{}: {}", verdict_mark(v), v, id, short(why)),
                None => format!("{} {}{}", verdict_mark(v), v, id),
            }
        }
    }
}

/// A long error line shortened for a table cell.
fn short(line: &str) -> String {
    const MAX: usize = 110;
    if line.chars().count() <= MAX {
        line.to_string()
    } else {
        let s: String = line.chars().take(MAX).collect();
        format!("{s}…")
    }
}

/// Renders the markdown report.
pub fn markdown(r: &Results) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# dindcheck report\n");
    if !r.complete {
        let _ = writeln!(
            md,
            "> **Incomplete**: the run was interrupted; only the trials below finished.\n"
        );
    }
    let _ = writeln!(
        md,
        "Generated {} by dindcheck {} (launchers: {}). Host kernel `{}`.\n",
        r.generated,
        r.dindcheck_version,
        launchers(r)
            .iter()
            .map(|l| match l.as_str() {
                "oci" => "`oci`, an OCI bundle under `runsc run`",
                "engine" => "`engine`, `docker run --runtime=runsc` through an outer dockerd",
                _ => "?",
            })
            .collect::<Vec<_>>()
            .join("; "),
        cell(&r.host_kernel)
    );
    if let Some(e) = &r.engine {
        engine_figures(&mut md, e);
    }
    // What the sandboxes themselves reported once a dockerd inside answered: gVisor's
    // kernel version and the cgroup version dockerd saw ("–" where no trial became ready).
    let _ = writeln!(
        md,
        "| runtime | runsc version | platform | kernel seen inside | cgroup inside |\n|---|---|---|---|---|"
    );
    for rt in &r.runtimes {
        let inside = r
            .outcomes
            .iter()
            .filter(|o| o.runtime == rt.name)
            .find_map(|o| o.daemon.as_ref());
        let kernel = inside
            .and_then(|d| d.kernel_version.as_deref())
            .unwrap_or("–");
        let cgroup = inside
            .and_then(|d| d.cgroup_version.as_deref())
            .map_or("–".to_string(), |v| format!("v{v}"));
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} |",
            cell(&rt.name),
            cell(&rt.version),
            cell(&rt.platform),
            cell(kernel),
            cell(&cgroup)
        );
    }
    let _ = writeln!(
        md,
        "\n| rootfs | docker.io | containerd | runc |\n|---|---|---|---|"
    );
    for fs in &r.rootfs {
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} |",
            cell(&fs.name),
            cell(&fs.docker),
            cell(&fs.containerd),
            cell(&fs.runc)
        );
    }
    md.push('\n');
    if let Some(net) = &r.network_override {
        let _ = writeln!(
            md,
            "**Network substituted**: every case ran with runsc `--network={net}` instead of its \
             own mode (`--runsc-network {net}`), because runsc's sandbox networking cannot start \
             on this host. Cases whose recipe used another mode show what happens with `{net}`.\n"
        );
    }
    if let Some(d) = &r.host_checks {
        md.push_str(&crate::doctor::render::markdown(d));
    }

    let launchers = launchers(r);
    // The claims, the design note's table and before/after read one launcher's outcomes:
    // the OCI launcher's when it ran (it expresses every case), else the first one's.
    let by_launcher: ByTrial = r
        .outcomes
        .iter()
        .map(|o| {
            (
                (o.case.as_str(), o.launcher.as_str(), o.runtime.as_str()),
                o,
            )
        })
        .collect();
    // Side by side: each runtime's launchers next to each other, so that a difference
    // between them stands out.
    let columns: Vec<(&str, &str)> = r
        .runtimes
        .iter()
        .flat_map(|rt| {
            launchers
                .iter()
                .map(move |l| (rt.name.as_str(), l.as_str()))
        })
        .collect();

    let _ = writeln!(md, "## Matrix\n");
    let _ = writeln!(
        md,
        "✔ ready (time from launch to the first answered `docker info`) · ✖ exited or \
         launch-failed, with the line that explains it · ⧗ timeout\n"
    );
    let mut header = String::from("| case | rootfs |");
    let mut rule = String::from("|---|---|");
    for (rt, l) in &columns {
        let _ = write!(header, " {} {} |", cell(rt), cell(l));
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for c in &r.cases {
        let _ = write!(
            md,
            "| [{}](#{}) | {} |",
            cell(&c.name),
            anchor(&c.name),
            cell(&c.rootfs)
        );
        for (rt, l) in &columns {
            let text = match by_launcher.get(&(c.name.as_str(), *l, *rt)) {
                Some(o) => matrix_cell(o),
                None => not_run_cell(r, &c.name, l, rt),
            };
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }

    if !r.not_expressible.is_empty() {
        let _ = writeln!(md, "\n## Not expressible with this launcher\n");
        for n in &r.not_expressible {
            let _ = writeln!(md, "- `{}`: {}", cell(&n.trial), cell(&n.reason));
        }
    }

    if !r.leaked.is_empty() {
        let _ = writeln!(
            md,
            "\n## Sandboxes the engine leaked\n\nAfter these trials' containers were removed, \
             their runsc sandbox, gofer or shim was still running; dindcheck ended them.\n"
        );
        for n in &r.leaked {
            let _ = writeln!(md, "- `{}`: {}", cell(&n.trial), cell(&n.reason));
        }
    }
    probe_matrix(&mut md, r);
    catalogue_gaps(&mut md, r);

    if !r.not_run.is_empty() {
        let _ = writeln!(md, "\n## Not run\n");
        for n in &r.not_run {
            let _ = writeln!(md, "- `{}`: {}", cell(&n.trial), cell(&n.reason));
        }
    }

    let view = View {
        by_trial: &by_launcher,
        columns: &columns,
    };
    claims(&mut md, r, &view);
    design_note(&mut md, r, &view);
    before_after(&mut md, r, &view);
    changed_since_baseline(&mut md, r);

    let _ = writeln!(md, "\n## Cases\n");
    for c in &r.cases {
        let _ = writeln!(md, "### {}\n", c.name);
        if !c.description.is_empty() {
            let _ = writeln!(md, "{}\n", cell(&c.description));
        }
        let _ = writeln!(md, "- **Source**: {}", cell(&c.source));
        let _ = writeln!(md, "- **Claim**: {}", cell(&c.claim));
        if let Some(p) = &c.extends {
            let _ = writeln!(md, "- **Extends**: {}", cell(p));
        }
        let _ = writeln!(md, "- **runsc network in the recipe**: `{}`\n", c.network);
        for (rt, l) in &columns {
            let Some(o) = by_launcher.get(&(c.name.as_str(), *l, *rt)) else {
                continue;
            };
            let _ = writeln!(md, "**{} {}**: {}\n", cell(rt), cell(l), matrix_cell(o));
            if let Some(d) = &o.daemon {
                let _ = writeln!(
                    md,
                    "dockerd {} (API {}), storage driver {}, cgroup {} v{}, kernel seen inside `{}`\n",
                    cell(d.server_version.as_deref().unwrap_or("?")),
                    cell(d.api_version.as_deref().unwrap_or("?")),
                    cell(d.storage_driver.as_deref().unwrap_or("?")),
                    cell(d.cgroup_driver.as_deref().unwrap_or("?")),
                    cell(d.cgroup_version.as_deref().unwrap_or("?")),
                    cell(d.kernel_version.as_deref().unwrap_or("?")),
                );
            }
            trial_diagnosis(&mut md, o);
            if o.verdict != Verdict::Ready || !o.error_lines.is_empty() {
                let _ = writeln!(
                    md,
                    "<details><summary>error lines ({}) and the last lines of output</summary>\n\n```text",
                    o.error_lines.len()
                );
                for l in &o.error_lines {
                    let _ = writeln!(md, "{}", fenced(l));
                }
                let _ = writeln!(md, "--- last lines of output ---");
                for l in &o.log_tail {
                    let _ = writeln!(md, "{}", fenced(l));
                }
                let _ = writeln!(md, "```\n\n</details>\n");
            }
        }
    }
    catalogue_entries(&mut md, r);
    md
}

/// Outcomes by (case, launcher, runtime).
type ByTrial<'a> = BTreeMap<(&'a str, &'a str, &'a str), &'a Outcome>;

/// The outcomes, and the columns (runtime, launcher) that every per-case table shows side
/// by side, as the matrix does.
struct View<'a> {
    by_trial: &'a ByTrial<'a>,
    columns: &'a [(&'a str, &'a str)],
}

impl View<'_> {
    fn get<'k>(&'k self, case: &'k str, column: (&'k str, &'k str)) -> Option<&'k Outcome> {
        // The map is covariant in its keys: it can be asked with shorter-lived ones.
        let map: &BTreeMap<(&'k str, &'k str, &'k str), &'k Outcome> = self.by_trial;
        map.get(&(case, column.1, column.0)).copied()
    }

    /// A table's header: the leading `first` columns (`a | b`), then one per column.
    fn header(&self, first: &str) -> String {
        let mut header = format!("| {first} |");
        let mut rule = String::from("|---|");
        for _ in first.matches(" | ") {
            rule.push_str("---|");
        }
        for (rt, l) in self.columns {
            let _ = write!(header, " {} {} |", cell(rt), cell(l));
            rule.push_str("---|");
        }
        format!("{header}\n{rule}")
    }
}

/// Whether an outcome bears out what the case's author claimed.
fn claim_cell(c: &CaseInfo, o: Option<&Outcome>) -> String {
    let (Some(claimed), Some(o)) = (c.claimed, o) else {
        return "–".into();
    };
    // A failure before the recipe was tried (its image could not be had) is no evidence.
    if let Some(id) = &o.diagnosis
        && Catalogue::builtin().get(id).is_some_and(|s| s.untested)
    {
        return format!("– not tried ({id})");
    }
    let ready = o.verdict == Verdict::Ready;
    let mut holds = match claimed {
        Claimed::Works => ready,
        Claimed::Fails => !ready,
    };
    let mut evidence = match (o.verdict, o.decisive.as_deref()) {
        (Verdict::Ready, _) => "dockerd ready".to_string(),
        (v, Some(why)) => format!("{v}: {}", short(why)),
        (v, None) => v.to_string(),
    };
    // Probes only run on a ready dockerd; a claim about them needs one.
    if ready {
        for (probe, want) in &c.claimed_probes {
            let got = o.probes.iter().find(|p| p.probe == *probe);
            let seen = match got.map(|p| p.verdict) {
                Some(crate::probe::ProbeVerdict::Ok) => Some(Claimed::Works),
                Some(crate::probe::ProbeVerdict::Failed) => Some(Claimed::Fails),
                _ => None,
            };
            let word = |k: Claimed| {
                if k == Claimed::Works {
                    "works"
                } else {
                    "fails"
                }
            };
            match seen {
                Some(k) => {
                    holds &= k == *want;
                    evidence.push_str(&format!("; {} {}", probe.as_str(), word(k)));
                }
                None => {
                    return format!(
                        "– ({}: probe {} did not run)",
                        cell(&evidence),
                        probe.as_str()
                    );
                }
            }
        }
    }
    format!(
        "{} ({})",
        if holds { "✔ holds" } else { "✖ refuted" },
        cell(&evidence)
    )
}

fn claims(md: &mut String, r: &Results, view: &View) {
    let _ = writeln!(md, "\n## Claims\n");
    let _ = writeln!(
        md,
        "Each case's claim against what was measured: ✔ holds, ✖ refuted, – not checkable \
         (the case states no `claimed` outcome, the trial did not run, or it failed before \
         the recipe was tried). \"works\" means dockerd became ready.\n"
    );
    let _ = writeln!(md, "{}", view.header("case | claim | claimed"));
    for c in &r.cases {
        let word = |k: Claimed| match k {
            Claimed::Works => "works",
            Claimed::Fails => "fails",
        };
        let mut claimed = c.claimed.map_or("–".to_string(), |k| word(k).to_string());
        for (probe, k) in &c.claimed_probes {
            claimed.push_str(&format!("; {} {}", probe.as_str(), word(*k)));
        }
        let _ = write!(
            md,
            "| {} | {} | {} |",
            cell(&c.name),
            cell(&c.claim),
            claimed
        );
        for col in view.columns {
            let text = match view.get(&c.name, *col) {
                None if is_not_expressible(r, &c.name, col.1, col.0) => {
                    "– not expressible".to_string()
                }
                o => claim_cell(c, o),
            };
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
}

/// The design note's comparison table, with the measured outcome beside its verdicts.
fn design_note(md: &mut String, r: &Results, view: &View) {
    let rows: Vec<&CaseInfo> = r
        .cases
        .iter()
        .filter(|c| c.source.starts_with("design note"))
        .collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## The design note's table, measured\n");
    let _ = writeln!(
        md,
        "{}",
        view.header("approach (case) | the note's verdict")
    );
    for c in rows {
        let _ = write!(md, "| {} | {} |", cell(&c.name), cell(&c.claim));
        for col in view.columns {
            let text = view
                .get(&c.name, *col)
                .map_or_else(|| "–".into(), matrix_cell);
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
}

/// For each case that extends another: what it changes, and how the outcome changed.
fn before_after(md: &mut String, r: &Results, view: &View) {
    let rows: Vec<&CaseInfo> = r.cases.iter().filter(|c| c.extends.is_some()).collect();
    if rows.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Before and after\n");
    let _ = writeln!(
        md,
        "What each case changes relative to the case it extends, and the outcome before → \
         after (– where the base is abstract and not run itself).\n"
    );
    let _ = writeln!(md, "{}", view.header("case | extends | changes"));
    for c in rows {
        let parent = c.extends.as_deref().unwrap_or_default();
        let changes = if c.changes.is_empty() {
            "(nothing but its description)".to_string()
        } else {
            c.changes
                .iter()
                .map(|l| cell(l))
                .collect::<Vec<_>>()
                .join("<br>")
        };
        let _ = write!(md, "| {} | {} | {} |", cell(&c.name), cell(parent), changes);
        for col in view.columns {
            let short_verdict = |name: &str| match view.get(name, *col) {
                Some(o) => o.verdict.to_string(),
                None if is_not_expressible(r, name, col.1, col.0) => "not expressible".into(),
                None => "–".into(),
            };
            let _ = write!(
                md,
                " {} → {} |",
                short_verdict(parent),
                short_verdict(&c.name)
            );
        }
        md.push('\n');
    }
}

fn changed_since_baseline(md: &mut String, r: &Results) {
    let changed: Vec<&BaselineStatus> = r
        .baselines
        .iter()
        .filter(|b| b.comparison != BaselineComparison::Same)
        .collect();
    if r.baselines.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Changed since baseline\n");
    if changed.is_empty() {
        let _ = writeln!(
            md,
            "Every outcome matches its recorded baseline ({} trials).",
            r.baselines.len()
        );
        return;
    }
    for b in changed {
        match &b.comparison {
            BaselineComparison::New => {
                let _ = writeln!(md, "- `{}`: no baseline recorded yet", cell(&b.trial));
            }
            BaselineComparison::Changed { expected } => {
                let was = expected.lines().collect::<Vec<_>>().join("; ");
                let _ = writeln!(md, "- `{}`: was {}", cell(&b.trial), cell(&was));
            }
            BaselineComparison::Same => {}
        }
    }
}

fn is_not_expressible(r: &Results, case: &str, launcher: &str, runtime: &str) -> bool {
    let name = format!("{case}::{launcher}::{runtime}");
    r.not_expressible.iter().any(|n| n.trial == name)
}

fn not_run_cell(r: &Results, case: &str, launcher: &str, runtime: &str) -> String {
    let name = format!("{case}::{launcher}::{runtime}");
    if is_not_expressible(r, case, launcher, runtime) {
        "– not expressible (see below)".into()
    } else if r.not_run.iter().any(|n| n.trial == name) {
        "not run (see below)".into()
    } else {
        "–".into()
    }
}

/// The run's launchers; results written before launchers existed were all `oci`.
fn launchers(r: &Results) -> Vec<String> {
    if r.launchers.is_empty() {
        vec!["oci".to_string()]
    } else {
        r.launchers.clone()
    }
}

fn engine_figures(md: &mut String, e: &EngineFigures) {
    if let Some(address) = &e.existing {
        let _ = writeln!(
            md,
            "Outer engine: the existing dockerd {} at `{}` (not started or stopped by dindcheck).",
            cell(&e.dockerd),
            cell(address)
        );
    } else {
        let _ = writeln!(
            md,
            "Outer engine: dockerd {}, started in {:.1} s, stopped in {}.",
            cell(&e.dockerd),
            e.start_ms as f64 / 1000.0,
            e.stop_ms
                .map_or("?".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
        );
    }
    if !e.reload_ms.is_empty() {
        let each: Vec<String> = e
            .reload_ms
            .iter()
            .map(|ms| format!("{:.1} s", *ms as f64 / 1000.0))
            .collect();
        let _ = writeln!(
            md,
            "Reloaded (SIGHUP) for runtimes it lacked: {} time(s), in {}.",
            e.reload_ms.len(),
            each.join(", ")
        );
    }
    for i in &e.imports {
        let _ = writeln!(
            md,
            "Image `{}`: {}.",
            cell(&i.image),
            match (i.rootfs.is_empty(), i.import_ms) {
                (false, None) => "already imported".to_string(),
                (false, Some(ms)) => format!("imported in {:.1} s", ms as f64 / 1000.0),
                (true, None) => "already in the engine".to_string(),
                (true, Some(ms)) => format!("pulled in {:.1} s", ms as f64 / 1000.0),
            }
        );
    }
    if !e.reaped.is_empty() || !e.leaked_at_stop.is_empty() {
        let _ = writeln!(
            md,
            "Ended at the engine's start (left by a dead run): {}; after it stopped: {}.",
            cell(&e.reaped.join(", ")),
            cell(&e.leaked_at_stop.join(", "))
        );
    }
    md.push('\n');
}

/// GitHub's heading anchor for a case name (lowercase letters, digits, `-`, `_` stay).
fn anchor(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// The workload probes of every trial that reached readiness: one row per case × runtime,
/// one column per probe.
fn probe_matrix(md: &mut String, r: &Results) {
    let ready: Vec<&Outcome> = r.outcomes.iter().filter(|o| !o.probes.is_empty()).collect();
    if ready.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Workload probes\n");
    let _ = writeln!(
        md,
        "Run against each ready dockerd before the teardown: ✔ ok (duration) · ✖ failed \
         [catalogue id] · – skipped (see the case's details)\n"
    );
    let mut header = String::from("| case | runtime |");
    let mut rule = String::from("|---|---|");
    for p in Probe::ALL {
        let _ = write!(header, " {p} |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for o in ready {
        let column = format!("{} {}", o.runtime, o.launcher);
        let _ = write!(md, "| {} | {} |", cell(&o.case), cell(&column));
        for p in Probe::ALL {
            let text = match o.probes.iter().find(|r| r.probe == p) {
                None => "".to_string(),
                Some(r) => match r.verdict {
                    ProbeVerdict::Ok => format!("✔ {:.1} s", r.ms as f64 / 1000.0),
                    ProbeVerdict::Failed => {
                        format!("✖ [{}]", r.diagnosis.as_deref().unwrap_or(UNKNOWN))
                    }
                    ProbeVerdict::Skipped => "– skipped".to_string(),
                },
            };
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
}

/// Failures that no entry of the error catalogue explains.
fn catalogue_gaps(md: &mut String, r: &Results) {
    let mut gaps = Vec::new();
    for o in &r.outcomes {
        if o.diagnosis.as_deref() == Some(UNKNOWN) {
            let line = o.decisive.as_deref().unwrap_or("(no line)");
            gaps.push(format!(
                "`{}` {}: {}",
                cell(&o.trial),
                o.verdict,
                cell(line)
            ));
        }
        for p in &o.probes {
            if p.diagnosis.as_deref() == Some(UNKNOWN) {
                let line = p.detail.as_deref().unwrap_or("(no error)");
                gaps.push(format!(
                    "`{}` probe {}: {}",
                    cell(&o.trial),
                    p.probe,
                    cell(line)
                ));
            }
        }
    }
    let _ = writeln!(md, "\n## Catalogue gaps\n");
    if gaps.is_empty() {
        let _ = writeln!(
            md,
            "None: every failure is explained by an entry of `catalogue/errors.toml`."
        );
        return;
    }
    let _ = writeln!(
        md,
        "Failures that no entry of `catalogue/errors.toml` explains (add a signature):\n"
    );
    for g in gaps {
        let _ = writeln!(md, "- {g}");
    }
}

/// One catalogue id as the report shows it for a failure: the id, the layer at fault, the
/// explanation and the remedy.
fn explain(id: &str) -> String {
    match Catalogue::builtin().get(id) {
        Some(s) => format!(
            "`{}` ({}): {} **Remedy**: {}",
            s.id,
            s.layer.as_str(),
            cell(&s.explanation),
            cell(&s.remedy)
        ),
        None if id == UNKNOWN => {
            "`unknown`: no entry of the error catalogue explains it (see Catalogue gaps)."
                .to_string()
        }
        None => format!("`{}` (not in this build's catalogue)", cell(id)),
    }
}

/// The diagnosis of a trial's verdict and each of its probes, in its details.
fn trial_diagnosis(md: &mut String, o: &Outcome) {
    if let Some(d) = &o.diagnosis {
        let _ = writeln!(md, "- **Diagnosis**: {}", explain(d));
    }
    for p in &o.probes {
        let ms = p.ms as f64 / 1000.0;
        let line = match p.verdict {
            ProbeVerdict::Ok => format!("- probe `{}`: ✔ ok in {ms:.1} s", p.probe),
            ProbeVerdict::Skipped => format!(
                "- probe `{}`: – skipped: {}",
                p.probe,
                cell(p.detail.as_deref().unwrap_or(""))
            ),
            ProbeVerdict::Failed => format!(
                "- probe `{}`: ✖ failed after {ms:.1} s: {}\n  - **Diagnosis**: {}",
                p.probe,
                cell(p.detail.as_deref().unwrap_or("")),
                explain(p.diagnosis.as_deref().unwrap_or(UNKNOWN))
            ),
        };
        let _ = writeln!(md, "{line}");
    }
    if o.diagnosis.is_some() || !o.probes.is_empty() {
        md.push('\n');
    }
}

/// Every catalogue entry that this run's outcomes named, with its references.
fn catalogue_entries(md: &mut String, r: &Results) {
    let mut ids: Vec<&str> = Vec::new();
    for o in &r.outcomes {
        for id in &o.catalogue_ids {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
    }
    let catalogue = Catalogue::builtin();
    let entries: Vec<_> = catalogue
        .signatures
        .iter()
        .filter(|s| ids.contains(&s.id.as_str()))
        .collect();
    if entries.is_empty() {
        return;
    }
    let _ = writeln!(md, "## Error catalogue entries seen in this run\n");
    for s in entries {
        let _ = writeln!(md, "### `{}`\n", s.id);
        let _ = writeln!(md, "- **Layer**: {}", s.layer.as_str());
        let _ = writeln!(md, "- **Explanation**: {}", cell(&s.explanation));
        let _ = writeln!(md, "- **Remedy**: {}", cell(&s.remedy));
        if !s.references.is_empty() {
            let _ = writeln!(md, "- **References**: {}", s.references.join(" · "));
        }
        md.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(case: &str, launcher: &str, runtime: &str, verdict: Verdict) -> Outcome {
        Outcome {
            trial: format!("{case}::{launcher}::{runtime}"),
            case: case.into(),
            runtime: runtime.into(),
            launcher: launcher.into(),
            network: "none".into(),
            network_substituted: false,
            verdict,
            ready_ms: Some(1500),
            exit_code: None,
            decisive: Some("why".into()),
            error_lines: Vec::new(),
            log_tail: Vec::new(),
            daemon: None,
            probes: Vec::new(),
            diagnosis: None,
            catalogue_ids: Vec::new(),
        }
    }

    #[test]
    fn launchers_stand_side_by_side_per_runtime() {
        let r = Results {
            schema: SCHEMA_VERSION,
            generated: "now".into(),
            host: "h".into(),
            dindcheck_version: "0".into(),
            host_kernel: "k".into(),
            network_override: None,
            runtimes: vec![RuntimeInfo {
                name: "runsc-1".into(),
                version: "1".into(),
                platform: "default".into(),
            }],
            rootfs: Vec::new(),
            cases: vec![CaseInfo {
                name: "c".into(),
                description: String::new(),
                source: String::new(),
                claim: String::new(),
                rootfs: "bookworm".into(),
                extends: None,
                network: "none".into(),
                claimed: None,
                claimed_probes: Default::default(),
                changes: Vec::new(),
            }],
            outcomes: vec![
                outcome("c", "oci", "runsc-1", Verdict::Ready),
                outcome("c", "engine", "runsc-1", Verdict::Exited),
            ],
            not_run: Vec::new(),
            complete: true,
            baselines: Vec::new(),
            launchers: vec!["oci".into(), "engine".into()],
            not_expressible: Vec::new(),
            leaked: Vec::new(),
            engine: None,
            host_checks: None,
        };
        let md = markdown(&r);
        assert!(
            md.contains("| case | rootfs | runsc-1 oci | runsc-1 engine |"),
            "{md}"
        );
        assert!(md.contains("| ✔ ready in 1.5 s | ✖ exited: why |"), "{md}");
    }

    #[test]
    fn a_claim_is_not_judged_by_a_failure_before_the_recipe_ran() {
        let case = CaseInfo {
            name: "c".into(),
            description: String::new(),
            source: String::new(),
            claim: String::new(),
            rootfs: "image x".into(),
            extends: None,
            network: "none".into(),
            claimed: Some(Claimed::Works),
            claimed_probes: Default::default(),
            changes: Vec::new(),
        };
        let mut o = outcome("c", "engine", "runsc-1", Verdict::LaunchFailed);
        o.diagnosis = Some("image-unavailable".into());
        assert_eq!(
            claim_cell(&case, Some(&o)),
            "– not tried (image-unavailable)"
        );
        o.diagnosis = Some("runsc-unknown-capability".into());
        assert!(claim_cell(&case, Some(&o)).starts_with("✖ refuted"));
    }

    #[test]
    fn sandbox_output_cannot_make_links_or_images() {
        let c = cell("![x](https://example.invalid/a.png) [y](javascript:alert(1)) <img src=x>");
        assert!(!c.contains("]("), "{c}");
        assert_eq!(cell("[base](#base)"), "[base](#base)");
        assert!(!c.contains('<'), "{c}");
    }

    #[test]
    fn cells_cannot_break_a_table() {
        assert_eq!(cell("a|b `c` <d>\ne"), "a\\|b 'c' &lt;d&gt; e");
    }
}
