//! The claims table: each case's claim against what each trial measured
//! ([`crate::report::claims`] judges them).

use std::fmt::Write as _;

use super::table::{cell, header};
use crate::report::claims::{judge, word};
use crate::report::format::view::{View, is_not_expressible};
use crate::report::results::{CaseInfo, ClaimStatus, Results};
use crate::trial::outcome::{Outcome, Verdict};

/// The claims table's cell for a case's claim against one trial (`None`: it did not run).
pub(super) fn claim_cell(c: &CaseInfo, o: Option<&Outcome>) -> String {
    let Some(v) = o.and_then(|o| judge(c, o)) else {
        return "–".into();
    };
    // A failed trial's evidence is its decisive line, which the case's page shows: the
    // table names the verdict and its catalogue id instead.
    let evidence = match o {
        Some(o) if o.verdict != Verdict::Ready => match &o.diagnosis {
            Some(id) => format!("{}: {id}", o.verdict),
            None => o.verdict.to_string(),
        },
        _ => v.evidence.clone(),
    };
    match v.status {
        ClaimStatus::NotTried => format!("– not tried ({})", v.evidence),
        ClaimStatus::NotCheckable => format!("– ({})", cell(&v.evidence)),
        ClaimStatus::Holds => format!("✔ holds ({})", cell(&evidence)),
        ClaimStatus::Refuted => format!("✖ refuted ({})", cell(&evidence)),
    }
}

pub(super) fn claims(md: &mut String, r: &Results, view: &View) {
    let _ = writeln!(md, "\n## Claims\n");
    let _ = writeln!(
        md,
        "Each case's claim against what was measured: ✔ holds, ✖ refuted, – not checkable \
         (the case states no `claimed` outcome, the trial did not run, or it failed before \
         the recipe was tried). \"works\" means dockerd became ready.\n"
    );
    let _ = writeln!(md, "{}", header(view, "case | claim | claimed"));
    for c in &r.cases {
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
        for col in &view.columns {
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
