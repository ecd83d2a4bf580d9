//! The report's marks for outcomes a run reused (`dindcheck run --reuse`,
//! [`crate::session::reuse`]): which, and the run and date each was measured in.

use std::fmt::Write as _;

use super::table::cell;
use crate::trial::outcome::Outcome;

/// The outcomes this run took from an earlier one (`dindcheck run --reuse`), each with the
/// run and the date it was measured.
pub(super) fn section(md: &mut String, outcomes: &[Outcome]) {
    let reused: Vec<&Outcome> = outcomes.iter().filter(|o| o.reused.is_some()).collect();
    if reused.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "\n## Reused outcomes\n\n{} of {} outcomes were not measured by this run but taken \
         as they were from an earlier one (`--reuse`): their inputs (the case, runsc, the root \
         filesystem, the kernel, dindcheck, the probes) had not changed.\n",
        reused.len(),
        outcomes.len()
    );
    for o in reused {
        let r = o.reused.as_ref().expect("filtered");
        let _ = writeln!(
            md,
            "- ♻ `{}`: from {}, measured {}",
            cell(&o.trial),
            cell(&r.from),
            cell(&r.generated)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outcome(trial: &str, reused: Option<(&str, &str)>) -> Outcome {
        let mut o = serde_json::from_value::<Outcome>(serde_json::json!({
            "trial": trial, "case": "c", "runtime": "r", "launcher": "oci",
            "network": "none", "network_substituted": false, "verdict": "ready",
            "ready_ms": 1, "exit_code": null, "decisive": null,
            "error_lines": [], "log_tail": [],
        }))
        .unwrap();
        o.reused = reused.map(|(from, generated)| crate::trial::outcome::Reused {
            from: from.into(),
            generated: generated.into(),
        });
        o
    }

    #[test]
    fn each_reused_outcome_names_its_run_and_date_and_a_full_run_has_no_section() {
        let measured = outcome("a::oci::r", None);
        let mut md = String::new();
        section(&mut md, std::slice::from_ref(&measured));
        assert_eq!(md, "");
        let reused = outcome(
            "b::oci::r",
            Some(("old/results.json", "2026-12-06T03:00:00Z")),
        );
        section(&mut md, &[measured, reused]);
        assert!(md.contains("1 of 2 outcomes"), "{md}");
        assert!(
            md.contains("- ♻ `b::oci::r`: from old/results.json, measured 2026-12-06T03:00:00Z"),
            "{md}"
        );
        assert!(!md.contains("a::oci::r"), "{md}");
    }
}
