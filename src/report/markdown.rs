//! The markdown report: the header, the matrix (one column per runtime and launcher, side by
//! side), and each case's details. The other tables are [`super::sections`] and
//! [`super::claims`].

use std::fmt::Write as _;

use super::claims::claims;
use super::results::{CaseInfo, Results};
use super::sections::{
    before_after, catalogue_entries, catalogue_gaps, changed_since_baseline, design_note,
    engine_figures, host_checks, probe_matrix, teardown_leaks, trial_diagnosis,
};
use super::table::{ByTrial, View, anchor, cell, fenced, launchers, matrix_cell, not_run_cell};
use crate::outcome::Verdict;

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
            .map(|l| l.description())
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
    let writers: Vec<&CaseInfo> = r
        .cases
        .iter()
        .filter(|c| !c.host_writes.is_empty())
        .collect();
    if !writers.is_empty() {
        let _ = writeln!(
            md,
            "**⚠ Cases that let the sandbox write the host** (see docs/security.md): {}\n",
            writers
                .iter()
                .map(|c| format!("[{}](#{})", cell(&c.name), anchor(&c.name)))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(d) = &r.host_checks {
        md.push_str(&host_checks(d));
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
    super::sections::stability(&mut md, &r.stability);
    teardown_leaks(&mut md, r);
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
    super::answers_md::sections(&mut md, &r.answers);
    design_note(&mut md, r, &view);
    before_after(&mut md, r, &view);
    changed_since_baseline(&mut md, r);

    let _ = writeln!(md, "\n## Cases\n");
    for c in &r.cases {
        let _ = writeln!(md, "### {}\n", c.name);
        if !c.description.is_empty() {
            let _ = writeln!(md, "{}\n", cell(&c.description));
        }
        for w in &c.host_writes {
            let _ = writeln!(md, "- **⚠ Writes the host**: {w}");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Claimed;
    use crate::case::RunscNetwork;
    use crate::launch::Launcher;
    use crate::outcome::Outcome;
    use crate::report::claims::claim_cell;
    use crate::report::results::{CaseInfo, RuntimeInfo, SCHEMA_VERSION};
    use crate::report::table::cell;

    fn outcome(case: &str, launcher: Launcher, runtime: &str, verdict: Verdict) -> Outcome {
        Outcome {
            trial: format!("{case}::{launcher}::{runtime}"),
            case: case.into(),
            runtime: runtime.into(),
            launcher,
            network: RunscNetwork::None,
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
            leaks: Vec::new(),
        }
    }

    /// One case, one runtime, both launchers: ready under oci, exited under engine.
    fn two_launchers() -> Results {
        Results {
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
                host_writes: Vec::new(),
            }],
            outcomes: vec![
                outcome("c", Launcher::Oci, "runsc-1", Verdict::Ready),
                outcome("c", Launcher::Engine, "runsc-1", Verdict::Exited),
            ],
            not_run: Vec::new(),
            complete: true,
            baselines: Vec::new(),
            launchers: vec![Launcher::Oci, Launcher::Engine],
            not_expressible: Vec::new(),
            leaked: Vec::new(),
            engine: None,
            host_checks: None,
            stability: Vec::new(),
            answers: Default::default(),
            claims: Vec::new(),
        }
    }

    #[test]
    fn launchers_stand_side_by_side_per_runtime() {
        let r = two_launchers();
        let md = markdown(&r);
        assert!(
            md.contains("| case | rootfs | runsc-1 oci | runsc-1 engine |"),
            "{md}"
        );
        assert!(md.contains("| ✔ ready in 1.5 s | ✖ exited: why |"), "{md}");
    }

    #[test]
    fn a_case_that_writes_the_host_is_flagged() {
        let mut r = two_launchers();
        r.cases[0].host_writes = vec!["`cgroup = \"host-bind-rw\"`: writes".into()];
        let md = markdown(&r);
        assert!(
            md.contains("Cases that let the sandbox write the host"),
            "{md}"
        );
        assert!(md.contains("- **⚠ Writes the host**:"), "{md}");
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
            host_writes: Vec::new(),
        };
        let mut o = outcome("c", Launcher::Engine, "runsc-1", Verdict::LaunchFailed);
        o.diagnosis = Some("image-unavailable".into());
        assert_eq!(
            claim_cell(&case, Some(&o)),
            "– not tried (image-unavailable)"
        );
        o.diagnosis = Some("runsc-unknown-capability".into());
        assert!(claim_cell(&case, Some(&o)).starts_with("✖ refuted"));
    }

    #[test]
    fn leaks_after_the_teardown_reach_the_report() {
        let mut r = two_launchers();
        assert!(!markdown(&r).contains("## Left after the teardown"));
        r.outcomes[1].leaks = vec!["process 42 still running".into()];
        let md = markdown(&r);
        assert!(
            md.contains("## Left after the teardown")
                && md.contains("- `c::engine::runsc-1`: process 42 still running"),
            "{md}"
        );
    }

    #[test]
    fn claims_are_judged_in_the_data() {
        let mut r = two_launchers();
        r.cases[0].claimed = Some(Claimed::Works);
        let verdicts = crate::report::claims::judge_all(&r);
        let statuses: Vec<_> = verdicts
            .iter()
            .map(|v| (v.trial.as_str(), v.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("c::oci::runsc-1", crate::report::ClaimStatus::Holds),
                ("c::engine::runsc-1", crate::report::ClaimStatus::Refuted)
            ]
        );
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
