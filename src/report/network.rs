//! The report's "Networking" section: the network probes (docs/networking.md, "Network
//! probes") of every trial that ran them.

use std::fmt::Write as _;

use super::results::Results;
use super::table::{catalogue_link, cell};
use crate::classify::UNKNOWN;
use crate::outcome::Outcome;
use crate::probe::{Probe, ProbeVerdict};

/// The network probes of every trial that ran them (sandbox networking under the OCI
/// launcher): one row per case × runtime, each cell the probe's time (and `bulk`'s rate) or
/// its failure's catalogue entry.
pub(super) fn network_matrix(md: &mut String, r: &Results) {
    let ran = |o: &&Outcome| {
        o.probes
            .iter()
            .any(|p| p.probe.is_network() && p.verdict != ProbeVerdict::NotApplicable)
    };
    let mut rows: Vec<&Outcome> = r.outcomes.iter().filter(ran).collect();
    if rows.is_empty() {
        return;
    }
    rows.sort_by(|a, b| (&a.runtime, &a.case).cmp(&(&b.runtime, &b.case)));
    let _ = writeln!(md, "\n## Networking\n");
    let _ = writeln!(
        md,
        "The network probes (docs/networking.md, \"Network probes\") of every ready trial whose \
         sandbox has a network the harness reaches: runsc's sandbox networking under the OCI \
         launcher. Elsewhere they are not applicable (runsc's network substituted by `none`, \
         and the engine launcher's `--network=none`). ✔ with the probe's time (`bulk`: the \
         download's rate) · ✖ with the catalogue entry that explains the failure.\n"
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
        let _ = write!(md, "| {} | {} |", cell(&o.case), cell(&column));
        for p in Probe::NETWORK {
            let text = match o.probes.iter().find(|r| r.probe == p) {
                None => "".to_string(),
                Some(r) => match (r.verdict, &r.transfer) {
                    (ProbeVerdict::Ok, Some(t)) => format!("✔ {:.1} MiB/s", t.mib_per_s()),
                    (ProbeVerdict::Ok, None) => format!("✔ {:.1} s", r.ms as f64 / 1000.0),
                    (ProbeVerdict::Failed, _) => {
                        let id = r.diagnosis.as_deref().unwrap_or(UNKNOWN);
                        catalogue_link(&format!("✖ {id}"), id)
                    }
                    (ProbeVerdict::Skipped, _) => "– skipped".to_string(),
                    (ProbeVerdict::NotApplicable, _) => "n/a".to_string(),
                },
            };
            let _ = write!(md, " {text} |");
        }
        md.push('\n');
    }
}
