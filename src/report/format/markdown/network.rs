//! The report's "Networking" section: the network probes (docs/networking.md, "Network
//! probes") of every trial that ran them.

use std::fmt::Write as _;

use super::table::{cell, probe_cell};
use crate::report::results::Results;
use crate::trial::outcome::Outcome;
use crate::trial::probe::{Probe, ProbeVerdict};

/// The network probes of every trial that ran them (sandbox networking under the OCI
/// launcher): one row per case × runtime, each cell the probe's time (and `bulk`'s rate) or
/// its failure's catalogue entry.
///
/// `REPORT.md` shows gVisor's own recipes (`gvisor-*` cases: the tutorial's and the start
/// script's) and links the page with every trial (`page`: its file); the page itself has
/// every trial (`page` is `None`). Case names link to `cases_dir`.
pub(super) fn network_matrix(md: &mut String, r: &Results, cases_dir: &str, page: Option<&str>) {
    let all = page.is_none();
    let ran = |o: &&Outcome| {
        (all || o.case.starts_with("gvisor-"))
            && o.probes
                .iter()
                .any(|p| p.probe.is_network() && p.verdict != ProbeVerdict::NotApplicable)
    };
    let mut rows: Vec<&Outcome> = r.outcomes.iter().filter(ran).collect();
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| (&a.runtime, &a.case).cmp(&(&b.runtime, &b.case)));
    let title = if all {
        "Networking"
    } else {
        "Networking of gVisor's recipes"
    };
    let _ = writeln!(md, "\n## {title}\n");
    if let Some(page) = page {
        let _ = writeln!(
            md,
            "gVisor's own recipes (the tutorial's and its start script's); every other trial's \
             are on [{page}]({page}).\n"
        );
    }
    let _ = writeln!(
        md,
        "The network probes (docs/networking.md, \"Network probes\") of every ready trial whose \
         sandbox has a network the harness reaches: runsc's sandbox networking under the OCI \
         launcher. Elsewhere they are not applicable (runsc's network substituted by `none`, \
         and the engine launcher's `--network=none`). ✔ passed (its time, and `bulk`'s \
         download rate, are on the case's page, linked) · ✖ with the catalogue entry that \
         explains the failure.\n"
    );
    let mut header = String::from("| case | runtime |");
    let mut rule = String::from("|---|---|");
    for p in Probe::NETWORK {
        let _ = write!(header, " {p} |");
        rule.push_str("---|");
    }
    let _ = writeln!(md, "{header}\n{rule}");
    for o in rows {
        let column = format!("{} {}", o.runtime, o.launcher);
        let _ = write!(
            md,
            "| [{}]({cases_dir}/{}.md) | {} |",
            cell(&o.case),
            o.case,
            cell(&column)
        );
        for p in Probe::NETWORK {
            // No times: they vary from run to run, and are on the case pages, so that this
            // table changes only when an outcome does.
            let text = probe_cell(o.probes.iter().find(|r| r.probe == p));
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
}
