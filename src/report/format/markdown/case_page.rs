//! One page per case (`cases/<case>.md` beside the report): what the case is, each trial's
//! full outcome (dockerd's figures, the diagnosis, every probe), and the error lines and log
//! tails, each distinct block once with the trials that printed it. The bulk of what a run
//! saw lives here, so that `REPORT.md` stays short whatever the logs hold.

use std::fmt::Write as _;

use super::sections::trial_diagnosis;
use super::table::{cell, fenced, matrix_cell};
use crate::report::format::view::View;
use crate::report::results::{CaseInfo, Results};
use crate::trial::outcome::{Outcome, Verdict};

/// The markdown page of case `c`.
pub(super) fn case_page(r: &Results, c: &CaseInfo, view: &View) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# {}\n", c.name);
    // No generation time here: a rerun with the same outcomes changes only the lines that
    // carry timings (the report's header has it).
    let _ = writeln!(md, "[← the report](../REPORT.md)\n");
    if !c.description.is_empty() {
        let _ = writeln!(md, "{}\n", cell(&c.description));
    }
    for w in &c.host_writes {
        let _ = writeln!(md, "- **⚠ Writes the host**: {w}");
    }
    let _ = writeln!(md, "- **Source**: {}", cell(&c.source));
    let _ = writeln!(md, "- **Claim**: {}", cell(&c.claim));
    if let Some(p) = &c.extends {
        // An abstract base is not run and has no page of its own.
        if r.cases.iter().any(|x| &x.name == p) {
            let _ = writeln!(md, "- **Extends**: [{p}]({p}.md)");
        } else {
            let _ = writeln!(md, "- **Extends**: {} (abstract, not run)", cell(p));
        }
        for change in &c.changes {
            let _ = writeln!(md, "  - {}", cell(change));
        }
    }
    let _ = writeln!(md, "- **Rootfs**: {}", cell(&c.rootfs));
    let _ = writeln!(md, "- **runsc network in the recipe**: `{}`\n", c.network);

    let mut trials: Vec<(String, &Outcome)> = Vec::new();
    for col in &view.columns {
        let (rt, l) = *col;
        let Some(o) = view.get(&c.name, *col) else {
            continue;
        };
        trials.push((format!("{rt} {l}"), o));
        let _ = writeln!(md, "## {} {}\n", cell(rt), cell(l));
        let _ = writeln!(md, "{}\n", matrix_cell(o));
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
    }
    for n in r.not_run.iter().chain(&r.not_expressible) {
        if n.trial.split("::").next() == Some(c.name.as_str()) {
            let _ = writeln!(md, "- `{}` not run: {}", cell(&n.trial), cell(&n.reason));
        }
    }
    logs(&mut md, &trials);
    md
}

/// The error lines and log tails of the case's trials that failed or logged errors: each
/// distinct block once, headed by the trials that printed it; a line repeated in a row is
/// shown once with its count.
fn logs(md: &mut String, trials: &[(String, &Outcome)]) {
    let mut blocks: Vec<(Vec<&str>, &Outcome)> = Vec::new();
    for (column, o) in trials {
        if o.verdict == Verdict::Ready && o.error_lines.is_empty() {
            continue;
        }
        match blocks
            .iter_mut()
            .find(|(_, b)| b.error_lines == o.error_lines && b.log_tail == o.log_tail)
        {
            Some((columns, _)) => columns.push(column),
            None => blocks.push((vec![column.as_str()], o)),
        }
    }
    if blocks.is_empty() {
        return;
    }
    let _ = writeln!(md, "\n## Error lines and the last lines of output\n");
    for (columns, o) in blocks {
        let _ = writeln!(
            md,
            "<details><summary>{} ({} error lines)</summary>\n\n```text",
            cell(&columns.join(", ")),
            o.error_lines.len()
        );
        for l in collapse(&o.error_lines) {
            let _ = writeln!(md, "{}", fenced(&l));
        }
        let _ = writeln!(md, "--- last lines of output ---");
        for l in collapse(&o.log_tail) {
            let _ = writeln!(md, "{}", fenced(&l));
        }
        let _ = writeln!(md, "```\n\n</details>\n");
    }
}

/// Runs of the same line as one line with `(×N)`.
fn collapse(lines: &[String]) -> Vec<String> {
    let mut out: Vec<(String, usize)> = Vec::new();
    for l in lines {
        match out.last_mut() {
            Some((last, n)) if last == l => *n += 1,
            _ => out.push((l.clone(), 1)),
        }
    }
    out.into_iter()
        .map(|(l, n)| if n > 1 { format!("{l} (×{n})") } else { l })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::collapse;

    #[test]
    fn repeated_lines_are_shown_once_with_their_count() {
        let lines: Vec<String> = ["a", "a", "a", "b", "a"].map(String::from).to_vec();
        assert_eq!(collapse(&lines), ["a (×3)", "b", "a"]);
    }
}
