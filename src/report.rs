//! The report: a markdown comparison of every case across runtimes, and the same data as
//! JSON ([`Results`], versioned by [`SCHEMA_VERSION`]).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::case::Case;
use crate::inventory::{Rootfs, Runtime};
use crate::outcome::{Outcome, Verdict};

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

/// What the outer engine of a run took: measured, never asserted.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct EngineFigures {
    /// The outer dockerd's version.
    pub dockerd: String,
    /// From spawning dockerd to its first answer.
    pub start_ms: u64,
    /// From SIGTERM to its exit and the sweep of its exec-root.
    pub stop_ms: Option<u64>,
    pub imports: Vec<ImportFigure>,
    /// What a dead earlier run had left in the engine's slot (ended before this run).
    pub reaped: Vec<String>,
    /// Processes still under the engine's exec-root after it stopped (ended).
    pub leaked_at_stop: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportFigure {
    pub rootfs: String,
    pub image: String,
    /// `None`: the image was already there under the rootfs's current content key.
    pub import_ms: Option<u64>,
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
            format!("{} {}: {}", verdict_mark(v), v, cell(&why))
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
        let _ = writeln!(
            md,
            "Outer engine: dockerd {}, started in {:.1} s, stopped in {}.",
            cell(&e.dockerd),
            e.start_ms as f64 / 1000.0,
            e.stop_ms
                .map_or("?".to_string(), |ms| format!("{:.1} s", ms as f64 / 1000.0))
        );
        for i in &e.imports {
            let _ = writeln!(
                md,
                "Image `{}`: {}.",
                cell(&i.image),
                i.import_ms
                    .map_or("already imported".to_string(), |ms| format!(
                        "imported in {:.1} s",
                        ms as f64 / 1000.0
                    ))
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

    let by_trial: BTreeMap<(&str, &str, &str), &Outcome> = r
        .outcomes
        .iter()
        .map(|o| {
            (
                (o.case.as_str(), o.launcher.as_str(), o.runtime.as_str()),
                o,
            )
        })
        .collect();
    let launchers = launchers(r);
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
            let text = match by_trial.get(&(c.name.as_str(), *l, *rt)) {
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
        for (rt, l) in &columns {
            let Some(o) = by_trial.get(&(c.name.as_str(), *l, *rt)) else {
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
    md
}

fn not_run_cell(r: &Results, case: &str, launcher: &str, runtime: &str) -> String {
    let name = format!("{case}::{launcher}::{runtime}");
    if r.not_expressible.iter().any(|n| n.trial == name) {
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

/// GitHub's heading anchor for a case name (lowercase letters, digits, `-`, `_` stay).
fn anchor(name: &str) -> String {
    name.to_ascii_lowercase()
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
        }
    }

    #[test]
    fn launchers_stand_side_by_side_per_runtime() {
        let r = Results {
            schema: SCHEMA_VERSION,
            generated: "now".into(),
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
            }],
            outcomes: vec![
                outcome("c", "oci", "runsc-1", Verdict::Ready),
                outcome("c", "engine", "runsc-1", Verdict::Exited),
            ],
            not_run: Vec::new(),
            launchers: vec!["oci".into(), "engine".into()],
            not_expressible: Vec::new(),
            leaked: Vec::new(),
            engine: None,
            complete: true,
        };
        let md = markdown(&r);
        assert!(
            md.contains("| case | rootfs | runsc-1 oci | runsc-1 engine |"),
            "{md}"
        );
        assert!(md.contains("| ✔ ready in 1.5 s | ✖ exited: why |"), "{md}");
    }

    #[test]
    fn cells_cannot_break_a_table() {
        assert_eq!(cell("a|b `c` <d>\ne"), "a\\|b 'c' &lt;d&gt; e");
    }
}
