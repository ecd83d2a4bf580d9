//! The markdown report: the summary first (verdict counts, the gate's answer, the recipe to
//! use per runtime, the top root causes), the heat map, the matrix of short cells (one column
//! per runtime and launcher, side by side), then the tables that carry data. Each case's
//! details are its own page ([`super::case_page`]), and so is each long section
//! ([`super::pages`]), so that `REPORT.md` stays short whatever the logs, searches and probes
//! hold; timing figures stay out of the summary and the matrix, so that a rerun with
//! the same outcomes changes only the lines that carry them.

use std::fmt::Write as _;

use super::claims::claims;
use super::pages::pages;
use super::sections::{
    before_after, catalogue_gaps, changed_since_baseline, design_note, engine_figures, host_checks,
    teardown_leaks,
};
use super::summary::summary;
use super::table::{cell, header, not_run_cell, short_cell};
use crate::report::format::files::{CASES_DIR, HEATMAP_FILE};
use crate::report::format::view::View;
use crate::report::format::view::launchers;
use crate::report::results::{CaseInfo, Results};

/// More inputs than this are shown one row per host.
const MERGED_ROWS: usize = 8;

/// For merged results: each input's header figures, one row each.
fn merged_from(md: &mut String, r: &Results) {
    if r.merged_from.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "Merged from {} results (`dindcheck report --merge`):\n\n\
         | file | host | generated | dindcheck | kernel | trials | outer engine | host checks |\n\
         |---|---|---|---|---|---|---|---|",
        r.merged_from.len()
    );
    // A partitioned conformance run gives one input per trial: many inputs of one host
    // are one row (every input's figures stay in results.json's merged_from).
    if r.merged_from.len() > MERGED_ROWS {
        let mut groups: Vec<(&str, &str, &str, Vec<&crate::report::results::MergedInput>)> =
            Vec::new();
        for i in &r.merged_from {
            let key = (
                i.host.as_str(),
                i.dindcheck_version.as_str(),
                i.host_kernel.as_str(),
            );
            match groups.iter_mut().find(|g| (g.0, g.1, g.2) == key) {
                Some(g) => g.3.push(i),
                None => groups.push((key.0, key.1, key.2, vec![i])),
            }
        }
        for (host, version, kernel, inputs) in groups {
            let first = inputs
                .iter()
                .map(|i| i.generated.as_str())
                .min()
                .unwrap_or("");
            let last = inputs
                .iter()
                .map(|i| i.generated.as_str())
                .max()
                .unwrap_or("");
            let engines = inputs.iter().filter(|i| i.engine.is_some()).count();
            let _ = writeln!(
                md,
                "| {} files | {} | {} – {} | {} | {} | {} | {engines} started | – |",
                inputs.len(),
                cell(host),
                cell(first),
                cell(last),
                cell(version),
                cell(kernel),
                inputs.iter().map(|i| i.trials).sum::<usize>(),
            );
        }
        md.push('\n');
        return;
    }
    for i in &r.merged_from {
        let engine = i.engine.as_ref().map_or("–".to_string(), |e| {
            format!(
                "dockerd {}, started in {:.1} s",
                e.dockerd,
                e.start_ms as f64 / 1000.0
            )
        });
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {}{} | {} | {} |",
            cell(&i.file),
            cell(&i.host),
            cell(&i.generated),
            cell(&i.dindcheck_version),
            cell(&i.host_kernel),
            i.trials,
            if i.complete { "" } else { " (incomplete)" },
            cell(&engine),
            cell(i.host_checks.as_deref().unwrap_or("–"))
        );
    }
    md.push('\n');
}

/// Renders `REPORT.md` alone.
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
        "Generated {} by dindcheck {} on `{}`.\n",
        r.generated,
        r.dindcheck_version,
        cell(&r.host)
    );
    summary(&mut md, r);
    let _ = writeln!(
        md,
        "\n![Heat map: the verdict of every case × runtime × launcher]({HEATMAP_FILE})\n"
    );

    let view = View::of(r);
    let _ = writeln!(md, "## Matrix\n");
    let _ = writeln!(
        md,
        "✔ ready (with how many workload probes passed) · ✖ exited or launch-failed · \
         ⧗ timeout, with the catalogue entry that explains it. A case's page (its name) has \
         the full lines, the timings and the logs.\n"
    );
    let _ = writeln!(md, "{}", header(&view, "case | rootfs"));
    for c in &r.cases {
        let _ = write!(
            md,
            "| [{}]({CASES_DIR}/{}.md) | {} |",
            cell(&c.name),
            c.name,
            cell(&c.rootfs)
        );
        for (rt, l) in &view.columns {
            let text = match view.by_trial.get(&(c.name.as_str(), *l, *rt)) {
                Some(o) => short_cell(o),
                None => not_run_cell(r, &c.name, l, rt),
            };
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
    changed_since_baseline(&mut md, r);

    let _ = writeln!(md, "\n## Host\n");
    let _ = writeln!(
        md,
        "Launchers: {}. Host kernel `{}`.\n",
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
    super::sections::timing_figures(&mut md, &r.outcomes);
    merged_from(&mut md, r);
    // What the sandboxes themselves reported once a dockerd inside answered: gVisor's
    // kernel version and the cgroup version dockerd saw ("–" where no trial became ready).
    let _ = writeln!(
        md,
        "| runtime | runsc version | platform | network | kernel seen inside | cgroup inside |\n|---|---|---|---|---|---|"
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
            "| {} | {} | {} | {} | {} | {} |",
            cell(&rt.name),
            cell(&rt.version),
            cell(&rt.platform),
            cell(&runtime_network(r, rt)),
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
             own mode (`--runsc-network {net}`). Cases whose recipe used another mode show what \
             happens with `{net}`.\n"
        );
    } else if let Some(rt) = r.runtimes.iter().find(|rt| rt.sandbox_network.is_some()) {
        let _ = writeln!(
            md,
            "**Network substituted** for some runtimes (the table's network column): a case \
             that asks for runsc's sandbox network ran with `--network=none` under a runsc \
             whose sandbox networking cannot start here ({}). The other runtimes ran every \
             case in its own mode, sandbox networking real.\n",
            rt.sandbox_network.as_deref().unwrap_or_default()
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
                .map(|c| format!("[{}]({CASES_DIR}/{}.md)", cell(&c.name), c.name))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if let Some(d) = &r.host_checks {
        md.push_str(&host_checks(d));
    }

    claims(&mut md, r, &view);
    super::answers::fixes(&mut md, &r.answers);
    super::pages::list(&mut md, &pages(r));
    design_note(&mut md, r, &view);
    before_after(&mut md, r, &view);
    super::network::network_matrix(
        &mut md,
        r,
        CASES_DIR,
        Some(crate::report::format::files::NETWORKING_PAGE),
    );
    super::sections::stability(&mut md, &r.stability);
    super::reused::section(&mut md, &r.outcomes);
    teardown_leaks(&mut md, r);
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
    if !r.not_expressible.is_empty() {
        let _ = writeln!(md, "\n## Not expressible with this launcher\n");
        for n in &r.not_expressible {
            let _ = writeln!(md, "- `{}`: {}", cell(&n.trial), cell(&n.reason));
        }
    }
    if !r.disagreements.is_empty() {
        let _ = writeln!(
            md,
            "\n## Inputs that disagree\n\nThe merged results gave these trials different \
             outcomes; the matrix shows the first input's.\n"
        );
        for n in &r.disagreements {
            let _ = writeln!(md, "- `{}`: {}", cell(&n.trial), cell(&n.reason));
        }
    }
    if !r.not_run.is_empty() {
        let _ = writeln!(md, "\n## Not run\n");
        for n in &r.not_run {
            let _ = writeln!(md, "- `{}`: {}", cell(&n.trial), cell(&n.reason));
        }
    }
    catalogue_gaps(&mut md, r);
    md
}

/// What the runtime's trials ran with: each case's own mode (sandbox networking real), or
/// `none` in place of `sandbox` where it cannot start here, or the run's override.
fn runtime_network(r: &Results, rt: &crate::report::results::RuntimeInfo) -> String {
    match (&r.network_override, &rt.sandbox_network) {
        (Some(net), _) => format!("{net} (every case, `--runsc-network {net}`)"),
        (None, Some(_)) => "none in place of sandbox (cannot start here)".into(),
        (None, None) => "each case's own (sandbox real)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::claims::claim_cell;
    use super::super::table::cell;
    use super::*;
    use crate::case::Claimed;
    use crate::report::format::markdown::render;
    use crate::report::results::{CaseInfo, RuntimeInfo, SCHEMA_VERSION};
    use crate::trial::launch::Launcher;
    use crate::trial::outcome::{Outcome, Verdict};

    fn outcome(case: &str, launcher: Launcher, runtime: &str, verdict: Verdict) -> Outcome {
        let mut o = Outcome::fixture(&format!("{case}::{launcher}::{runtime}"), verdict);
        o.ready_ms = Some(1500);
        o.decisive = Some("why".into());
        o
    }

    /// One case, one runtime, both launchers: ready under oci, exited under engine.
    fn two_launchers() -> Results {
        let mut r: Results = serde_json::from_value(serde_json::json!({
            "schema": SCHEMA_VERSION, "generated": "now", "host": "h", "dindcheck_version": "0",
            "host_kernel": "k", "network_override": null, "runtimes": [], "rootfs": [],
            "cases": [], "outcomes": [], "not_run": [], "complete": true,
        }))
        .unwrap();
        r.runtimes = vec![RuntimeInfo {
            name: "runsc-1".into(),
            version: "1".into(),
            platform: "default".into(),
            sandbox_network: None,
        }];
        r.cases = vec![CaseInfo {
            name: "c".into(),
            description: String::new(),
            source: String::new(),
            claim: String::new(),
            rootfs: "bookworm".into(),
            extends: None,
            network: "none".into(),
            cgroup: None,
            claimed: None,
            claimed_probes: Default::default(),
            changes: Vec::new(),
            host_writes: Vec::new(),
        }];
        r.outcomes = vec![
            outcome("c", Launcher::Oci, "runsc-1", Verdict::Ready),
            outcome("c", Launcher::Engine, "runsc-1", Verdict::Exited),
        ];
        r.launchers = vec![Launcher::Oci, Launcher::Engine];
        r
    }

    #[test]
    fn launchers_stand_side_by_side_per_runtime() {
        let r = two_launchers();
        let md = markdown(&r);
        assert!(
            md.contains("| case | rootfs | runsc-1 oci | runsc-1 engine |"),
            "{md}"
        );
        // Short cells: no timing (a rerun changes no matrix line), no log line.
        assert!(md.contains("| ✔ ready | ✖ exited |"), "{md}");
    }

    #[test]
    fn a_case_that_writes_the_host_is_flagged() {
        let mut r = two_launchers();
        r.cases[0].host_writes = vec!["`cgroup = \"host-bind-rw\"`: writes".into()];
        let rendered = render(&r);
        let md = &rendered.markdown;
        assert!(
            md.contains("Cases that let the sandbox write the host") && md.contains("(cases/c.md)"),
            "{md}"
        );
        let page = &rendered.case_pages[0].1;
        assert!(page.contains("- **⚠ Writes the host**:"), "{page}");
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
            cgroup: None,
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
