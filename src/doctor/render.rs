//! A [`Diagnosis`] for people: the terminal table of `dindcheck doctor`, the lines
//! `dindcheck run` prints before its cases, and the section of the report's header.

use std::fmt::Write as _;

use super::check::{Diagnosis, Status};

/// The table: one line per check, grouped by subject, the remedy under each warning or
/// failure, and with `verbose` the evidence too. Ends with the measured total time.
pub fn table(d: &Diagnosis, verbose: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dindcheck doctor: kernel {}, DINDCHECK_HOME {}{}\n",
        d.kernel,
        d.home.display(),
        if d.quick { " (quick checks)" } else { "" }
    );
    let width = d
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for subject in d.subjects() {
        let _ = writeln!(out, "{subject}");
        for c in d.checks.iter().filter(|c| c.subject == subject) {
            let _ = writeln!(
                out,
                "  {} {:width$}  {}",
                c.status.mark(),
                c.name,
                c.summary
            );
            let indent = " ".repeat(width + 6);
            if let Some(r) = &c.remedy {
                let _ = writeln!(out, "{indent}→ {r}");
            }
            if verbose {
                for e in &c.evidence {
                    let _ = writeln!(out, "{indent}  {e}");
                }
            }
        }
    }
    let (ok, warn, fail) = d.counts();
    let _ = writeln!(
        out,
        "\n{} checks: {ok} ✔, {warn} ⚠, {fail} ✖. {}",
        d.checks.len(),
        if d.can_run_cases() {
            "Cases can run on this host."
        } else {
            "Cases cannot run on this host."
        }
    );
    if !verbose && warn + fail > 0 {
        let _ = writeln!(
            out,
            "The evidence (commands run, lines seen): `dindcheck doctor --verbose` or `--json`."
        );
    }
    let _ = writeln!(out, "doctor took {:.1} s.", d.elapsed_ms as f64 / 1000.0);
    out
}

/// What `dindcheck run` prints before its cases: a heading, and the warnings and failures
/// ([`limitations`]).
pub fn before_run(d: &Diagnosis) -> (String, Vec<String>) {
    let secs = d.elapsed_ms as f64 / 1000.0;
    let gaps = limitations(d);
    let heading = if gaps.is_empty() {
        format!(
            "host checks passed ({} checks, {secs:.1} s)",
            d.checks.len()
        )
    } else {
        format!("host checks ({secs:.1} s) found:")
    };
    (heading, gaps)
}

/// The warnings and failures, one line each, for `dindcheck run` to print before its cases.
pub fn limitations(d: &Diagnosis) -> Vec<String> {
    d.checks
        .iter()
        .filter(|c| c.status != Status::Ok)
        .map(|c| {
            let mut line = format!(
                "{} {} {}: {}",
                c.status.mark(),
                c.subject,
                c.name,
                c.summary
            );
            if let Some(r) = &c.remedy {
                let _ = write!(line, " → {r}");
            }
            line
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::check::{Check, Topic};

    fn diagnosis() -> Diagnosis {
        Diagnosis {
            kernel: "6.18.44".into(),
            home: "/var/lib/dindcheck".into(),
            quick: false,
            checks: vec![
                Check::new("runsc-20240729", Topic::SandboxStarts, "trivial sandbox")
                    .ok("starts")
                    .evidence(["$ runsc run".to_string()]),
                Check::new("runsc-20240729", Topic::HostUds, "--host-uds=all").ok("answers"),
                Check::new(
                    "runsc-20240729",
                    Topic::Platform("kvm".into()),
                    "platform kvm",
                )
                .fail("hangs | stuck", "use systrap"),
                Check::new("rootfs bookworm", Topic::Rootfs, "root filesystem").ok("here"),
            ],
            elapsed_ms: 7_250,
        }
    }

    #[test]
    fn table_groups_by_subject_and_shows_remedies() {
        let t = table(&diagnosis(), false);
        assert!(t.contains("runsc-20240729\n  ✔ trivial sandbox"), "{t}");
        assert!(t.contains("✖ platform kvm"), "{t}");
        assert!(t.contains("→ use systrap"), "{t}");
        assert!(!t.contains("$ runsc run"), "{t}");
        assert!(t.contains("Cases can run on this host."), "{t}");
        assert!(t.trim_end().ends_with(" s."), "{t}");
        assert!(table(&diagnosis(), true).contains("$ runsc run"));
    }

    #[test]
    fn limitations_list_only_what_is_not_ok() {
        assert_eq!(limitations(&diagnosis()).len(), 1);
    }
}
