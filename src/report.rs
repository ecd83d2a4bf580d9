//! The report: a markdown comparison of every case across runtimes, and the same data as
//! JSON ([`Results`], versioned by [`SCHEMA_VERSION`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::classify::{Catalogue, UNKNOWN};
use crate::inventory::{Rootfs, Runtime};
use crate::outcome::{Outcome, Verdict};
use crate::probe::{Probe, ProbeVerdict};

pub const SCHEMA_VERSION: u32 = 1;

/// Everything a run produced: what the markdown is rendered from.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Results {
    pub schema: u32,
    pub generated: String,
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
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NotRun {
    pub trial: String,
    pub reason: String,
}

impl CaseInfo {
    pub fn from_case(c: &Case) -> CaseInfo {
        CaseInfo {
            name: c.name.clone(),
            description: c.description.clone(),
            source: c.source.clone(),
            claim: c.claim.clone(),
            rootfs: c.rootfs.clone(),
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

/// A table cell: no `|`, no newline, no HTML, no backtick that could open a code span.
pub fn cell(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('|', "\\|")
        .replace('`', "'")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace(['\n', '\r'], " ")
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
    match o.verdict {
        Verdict::Ready => format!(
            "✔ ready in {:.1} s",
            o.ready_ms.unwrap_or(0) as f64 / 1000.0
        ),
        v => {
            let why = o.decisive.as_deref().map(short).unwrap_or_default();
            let id = o
                .diagnosis
                .as_deref()
                .map(|d| format!(" [{d}]"))
                .unwrap_or_default();
            format!("{} {}{}: {}", verdict_mark(v), v, id, cell(&why))
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
        "Generated {} by dindcheck {} (launcher: OCI bundle, `runsc run`). Host kernel `{}`.\n",
        r.generated,
        r.dindcheck_version,
        cell(&r.host_kernel)
    );
    let _ = writeln!(md, "| runtime | runsc version | platform |\n|---|---|---|");
    for rt in &r.runtimes {
        let _ = writeln!(
            md,
            "| {} | {} | {} |",
            cell(&rt.name),
            cell(&rt.version),
            cell(&rt.platform)
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

    let by_trial: BTreeMap<(&str, &str), &Outcome> = r
        .outcomes
        .iter()
        .map(|o| ((o.case.as_str(), o.runtime.as_str()), o))
        .collect();

    let _ = writeln!(md, "## Matrix\n");
    let _ = writeln!(
        md,
        "✔ ready (time from launch to the first answered `docker info`) · ✖ exited or \
         launch-failed, with the line that explains it · ⧗ timeout\n"
    );
    let mut header = String::from("| case | rootfs |");
    let mut rule = String::from("|---|---|");
    for rt in &r.runtimes {
        let _ = write!(header, " {} |", cell(&rt.name));
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
        for rt in &r.runtimes {
            let text = match by_trial.get(&(c.name.as_str(), rt.name.as_str())) {
                Some(o) => matrix_cell(o),
                None => not_run_cell(r, &c.name, &rt.name),
            };
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }

    probe_matrix(&mut md, r);
    catalogue_gaps(&mut md, r);

    if !r.not_run.is_empty() {
        let _ = writeln!(md, "\n## Not run\n");
        for n in &r.not_run {
            let _ = writeln!(md, "- `{}`: {}", cell(&n.trial), cell(&n.reason));
        }
    }

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
        for rt in &r.runtimes {
            let Some(o) = by_trial.get(&(c.name.as_str(), rt.name.as_str())) else {
                continue;
            };
            let _ = writeln!(md, "**{}**: {}\n", cell(&rt.name), matrix_cell(o));
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

fn not_run_cell(r: &Results, case: &str, runtime: &str) -> String {
    let name = format!("{case}::{runtime}");
    match r.not_run.iter().find(|n| n.trial == name) {
        Some(_) => "not run (see below)".into(),
        None => "–".into(),
    }
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
        let _ = write!(md, "| {} | {} |", cell(&o.case), cell(&o.runtime));
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

/// Writes `contents` to `path` atomically: a reader sees the old file or the new, never half.
pub fn write_atomic(path: &Path, contents: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cannot_break_a_table() {
        assert_eq!(cell("a|b `c` <d>\ne"), "a\\|b 'c' &lt;d&gt; e");
    }
}
